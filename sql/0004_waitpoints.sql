-- Durable execution: waitpoints block runs, and a journal records every wait, child trigger and step
-- of a run so that a resumed or retried attempt answers them at once instead of doing them again.
--
-- waitpoints       something a run can wait for: a date (DATETIME), a token completed by a person or a
--                  webhook (MANUAL), another run (RUN) or a batch (BATCH). WAITING until completed.
-- run_waitpoints   which runs a waitpoint blocks. A WAITING run is queued again once none of its
--                  waitpoints is WAITING.
-- journal          per run, by position: the operations the task performed, with their results.

create table ratchet.waitpoints (
  id uuid primary key,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  type text not null check (type in ('DATETIME', 'MANUAL', 'RUN', 'BATCH')),
  status text not null default 'WAITING' check (status in ('WAITING', 'COMPLETED', 'TIMED_OUT')),
  -- DATETIME: when it completes. MANUAL: when it times out.
  completed_after timestamptz,
  idempotency_key text,
  idempotency_key_expires_at timestamptz,
  tags text[] not null default '{}',
  output json,
  output_type text,
  output_is_error boolean not null default false,
  completed_by_run_id uuid,
  completed_by_batch_id uuid,
  created_at timestamptz not null,
  completed_at timestamptz
);

create index waitpoints_environment_idx on ratchet.waitpoints (environment_id, type, id desc);
create unique index waitpoints_idempotency_idx on ratchet.waitpoints (environment_id, idempotency_key)
  where idempotency_key is not null;
create index waitpoints_due_idx on ratchet.waitpoints (completed_after)
  where status = 'WAITING' and completed_after is not null;
create index waitpoints_run_idx on ratchet.waitpoints (completed_by_run_id) where completed_by_run_id is not null;
create index waitpoints_batch_idx on ratchet.waitpoints (completed_by_batch_id) where completed_by_batch_id is not null;

create table ratchet.run_waitpoints (
  run_id uuid not null references ratchet.runs (id) on delete cascade,
  waitpoint_id uuid not null references ratchet.waitpoints (id) on delete cascade,
  created_at timestamptz not null,
  primary key (run_id, waitpoint_id)
);

create index run_waitpoints_waitpoint_idx on ratchet.run_waitpoints (waitpoint_id);

create table ratchet.journal (
  run_id uuid not null references ratchet.runs (id) on delete cascade,
  position integer not null check (position between 0 and 9999),
  kind text not null check (kind in ('wait', 'token', 'step', 'trigger', 'batch')),
  -- What the task asked for at this position ("wait.for", "step:charge-card", "triggerAndWait:send"):
  -- a replay that asks for something else at the same position is refused.
  name text not null check (length(name) between 1 and 300),
  status text not null check (status in ('PENDING', 'COMPLETED')),
  waitpoint_id uuid references ratchet.waitpoints (id) on delete set null,
  output json,
  output_type text,
  is_error boolean not null default false,
  created_at timestamptz not null,
  completed_at timestamptz,
  primary key (run_id, position)
);

create index journal_waitpoint_idx on ratchet.journal (waitpoint_id) where waitpoint_id is not null;

-- One row: this installation's secret for signing token callback URLs (HMAC of the token id), so a
-- URL can be handed out again without storing it.
create table ratchet.instance (
  id integer primary key check (id = 1),
  callback_secret bytea not null
);
insert into ratchet.instance (id, callback_secret)
values (1, sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));

-- A run queued again after waiting continues its attempt instead of starting a new one.
alter table ratchet.runs add column resuming boolean not null default false;

-- dequeue_runs, as in 0002, but a resuming run keeps its attempt number.
create or replace function ratchet.dequeue_runs(
  p_environment_id uuid,
  p_worker_id text,
  p_max integer,
  p_lease_seconds integer,
  p_now timestamptz
) returns table (run_id uuid, attempt_number integer)
language plpgsql as $$
#variable_conflict use_column
declare
  v_env_limit integer;
  v_env_paused boolean;
  v_env_running integer;
  v_remaining integer := p_max;
  v_queue record;
  v_limit integer;
  v_take integer;
  v_ids uuid[];
  v_keys text[];
  v_taken integer;
begin
  select e.concurrency_limit, e.paused into v_env_limit, v_env_paused
  from ratchet.environments e where e.id = p_environment_id for update;
  if not found or v_env_paused then
    return;
  end if;

  select count(*)::integer into v_env_running from ratchet.executions x where x.environment_id = p_environment_id;

  for v_queue in
    select q.id, coalesce(q.concurrency_override, q.concurrency_limit) as queue_limit
    from ratchet.queues q
    -- A lateral probe rather than EXISTS: the planner turns EXISTS into a hash semi-join that reads
    -- every queue entry. Ordered by the dequeue index, the probe is a short index scan per queue.
    cross join lateral (
      select 1 from ratchet.queue_entries qe
      where qe.queue_id = q.id and qe.available_at <= p_now
      order by qe.queue_id, qe.sort_key
      limit 1) as has_work
    where q.environment_id = p_environment_id and not q.paused
    order by q.last_served_at nulls first, q.id
    limit 200
  loop
    exit when v_remaining <= 0 or v_env_running >= v_env_limit;
    v_limit := least(coalesce(v_queue.queue_limit, v_env_limit), v_env_limit);
    v_take := least(v_remaining, v_env_limit - v_env_running);
    continue when v_limit <= 0;

    with running as (
      select x.concurrency_key, count(*)::integer as n
      from ratchet.executions x where x.queue_id = v_queue.id
      group by x.concurrency_key
    ), candidates as materialized (
      select qe.run_id, qe.concurrency_key, qe.sort_key
      from ratchet.queue_entries qe
      where qe.queue_id = v_queue.id and qe.available_at <= p_now
        and qe.concurrency_key not in (select r.concurrency_key from running r where r.n >= v_limit)
      order by qe.sort_key, qe.run_id
      limit v_take * 4
      for update skip locked
    ), ranked as (
      select c.run_id, c.concurrency_key, c.sort_key,
        row_number() over (partition by c.concurrency_key order by c.sort_key, c.run_id) as rank
      from candidates c
    ), chosen as (
      select r.run_id, r.concurrency_key
      from ranked r left join running ru on ru.concurrency_key = r.concurrency_key
      where r.rank <= v_limit - coalesce(ru.n, 0)
      order by r.sort_key, r.run_id
      limit v_take
    ), removed as (
      delete from ratchet.queue_entries qe using chosen c where qe.run_id = c.run_id
      returning qe.run_id, qe.concurrency_key, qe.sort_key
    )
    select array_agg(removed.run_id order by removed.sort_key, removed.run_id),
      array_agg(removed.concurrency_key order by removed.sort_key, removed.run_id)
    into v_ids, v_keys from removed;

    update ratchet.queues set last_served_at = p_now where id = v_queue.id;
    continue when v_ids is null;
    v_taken := cardinality(v_ids);

    return query
    with claimed as (
      update ratchet.runs r
      set status = 'DEQUEUED',
        attempt_count = r.attempt_count + case when r.resuming then 0 else 1 end,
        resuming = false,
        updated_at = p_now
      where r.id = any (v_ids) and r.status = 'QUEUED'
      returning r.id, r.attempt_count, r.max_duration_s
    ), leased as (
      insert into ratchet.executions
        (run_id, environment_id, queue_id, concurrency_key, attempt_number, worker_id, lease_expires_at, deadline_at)
      select c.id, p_environment_id, v_queue.id, k.concurrency_key, c.attempt_count, p_worker_id,
        p_now + make_interval(secs => p_lease_seconds), null
      from claimed c join unnest(v_ids, v_keys) as k(run_id, concurrency_key) on k.run_id = c.id
      returning ratchet.executions.run_id, ratchet.executions.attempt_number
    ), attempted as (
      insert into ratchet.attempts (run_id, number, status, worker_id, created_at)
      select l.run_id, l.attempt_number, 'EXECUTING', p_worker_id, p_now from leased l
      on conflict (run_id, number) do update set status = 'EXECUTING', worker_id = excluded.worker_id
    )
    select l.run_id, l.attempt_number from leased l order by array_position(v_ids, l.run_id);

    v_remaining := v_remaining - v_taken;
    v_env_running := v_env_running + v_taken;
  end loop;
end;
$$;
