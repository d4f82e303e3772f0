-- Runs and the engine's tables.
--
-- runs            the record of every run: what was asked, what happened. Never in the hot path.
-- queue_entries   HOT: one row per run that may be dequeued (QUEUED). Deleted when dequeued.
-- executions      HOT: one row per run holding a concurrency slot (DEQUEUED or EXECUTING), with its
--                 lease. Counting these rows under the environment's row lock is what makes
--                 concurrency limits exact.
-- queues          per-environment queues with their limits, pause flag and round-robin position.
-- worker_versions + tasks   what registered workers can run.
-- attempts        one row per attempt, for history.
--
-- Run states (public names, as Trigger.dev's API):
--   PENDING_VERSION ─┐
--   DELAYED ─────────┼─> QUEUED ─> DEQUEUED ─> EXECUTING ─> COMPLETED | FAILED | CRASHED | TIMED_OUT
--                    │      ^                      │                 | SYSTEM_FAILURE
--                    │      └────── retry ─────────┘
--   any non-final ─> CANCELED;   QUEUED/DELAYED past TTL ─> EXPIRED

create table ratchet.worker_versions (
  id uuid primary key default gen_random_uuid(),
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  version text not null,
  sdk_version text,
  created_at timestamptz not null default now(),
  unique (environment_id, version)
);

create table ratchet.tasks (
  id uuid primary key default gen_random_uuid(),
  worker_version_id uuid not null references ratchet.worker_versions (id) on delete cascade,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  slug text not null,
  queue_name text not null,
  retry jsonb,
  max_duration_s integer,
  machine text,
  ttl text,
  trigger_source text not null default 'STANDARD' check (trigger_source in ('STANDARD', 'SCHEDULED')),
  file_path text,
  export_name text,
  unique (worker_version_id, slug)
);

create index tasks_environment_slug_idx on ratchet.tasks (environment_id, slug);

create table ratchet.queues (
  id uuid primary key default gen_random_uuid(),
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  name text not null check (length(name) between 1 and 256),
  type text not null check (type in ('task', 'custom')),
  -- From code; null means "no limit of its own" (the environment's limit applies).
  concurrency_limit integer check (concurrency_limit between 0 and 100000),
  -- Set from the API or dashboard; wins over the limit from code until reset.
  concurrency_override integer check (concurrency_override between 0 and 100000),
  overridden_at timestamptz,
  paused boolean not null default false,
  -- Round-robin position: the queue served longest ago is offered work first.
  last_served_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (environment_id, name)
);

create table ratchet.batches (
  id uuid primary key,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  status text not null default 'PENDING'
    check (status in ('PENDING', 'PROCESSING', 'COMPLETED', 'PARTIAL_FAILED', 'ABORTED')),
  run_count integer not null check (run_count between 0 and 1000),
  items_accepted integer not null default 0,
  sealed boolean not null default false,
  idempotency_key text,
  parent_run_id uuid,
  resume_parent_on_completion boolean not null default false,
  errors jsonb not null default '[]',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create unique index batches_idempotency_idx on ratchet.batches (environment_id, idempotency_key)
  where idempotency_key is not null;

create table ratchet.runs (
  -- UUIDv7, so ordering by id is ordering by creation time. Shown as run_<base32>.
  id uuid primary key,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  task_identifier text not null check (length(task_identifier) between 1 and 256),
  queue_name text not null,
  concurrency_key text,
  status text not null check (status in (
    'PENDING_VERSION', 'DELAYED', 'QUEUED', 'DEQUEUED', 'EXECUTING', 'WAITING',
    'COMPLETED', 'CANCELED', 'FAILED', 'CRASHED', 'SYSTEM_FAILURE', 'EXPIRED', 'TIMED_OUT')),
  -- Stored as sent (json keeps the text), returned as sent with its type.
  payload json,
  payload_type text not null default 'application/json',
  metadata json,
  metadata_type text not null default 'application/json',
  tags text[] not null default '{}',
  idempotency_key text,
  idempotency_key_expires_at timestamptz,
  max_attempts integer check (max_attempts between 1 and 250),
  attempt_count integer not null default 0,
  max_duration_s integer check (max_duration_s >= 5),
  machine text,
  priority_ms integer not null default 0,
  ttl text,
  ttl_expires_at timestamptz,
  delay_until timestamptz,
  queued_at timestamptz,
  lock_to_version text,
  worker_version text,
  -- The retry policy in force, fixed at the first dequeue from the task's manifest.
  retry jsonb,
  output json,
  output_type text,
  error jsonb,
  parent_run_id uuid,
  root_run_id uuid,
  depth integer not null default 0,
  batch_id uuid,
  batch_index integer,
  is_test boolean not null default false,
  debounce_key text,
  debounce_max_until timestamptz,
  cancel_requested_at timestamptz,
  replayed_from_id uuid,
  trigger_function text not null default 'trigger',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  started_at timestamptz,
  finished_at timestamptz,
  expired_at timestamptz
);

create index runs_environment_idx on ratchet.runs (environment_id, id desc);
create index runs_environment_status_idx on ratchet.runs (environment_id, status, id desc);
create index runs_environment_task_idx on ratchet.runs (environment_id, task_identifier, id desc);
create index runs_tags_idx on ratchet.runs using gin (tags);
create index runs_batch_idx on ratchet.runs (batch_id, batch_index) where batch_id is not null;
create unique index runs_batch_item_idx on ratchet.runs (batch_id, batch_index) where batch_id is not null;
create index runs_parent_idx on ratchet.runs (parent_run_id) where parent_run_id is not null;
create unique index runs_idempotency_idx on ratchet.runs (environment_id, task_identifier, idempotency_key)
  where idempotency_key is not null;
create unique index runs_debounce_idx on ratchet.runs (environment_id, task_identifier, debounce_key)
  where debounce_key is not null and status = 'DELAYED';
create index runs_delayed_idx on ratchet.runs (delay_until) where status = 'DELAYED';
create index runs_ttl_idx on ratchet.runs (ttl_expires_at) where status in ('QUEUED', 'PENDING_VERSION') and ttl_expires_at is not null;
create index runs_pending_version_idx on ratchet.runs (environment_id, task_identifier) where status = 'PENDING_VERSION';

create table ratchet.queue_entries (
  run_id uuid primary key,
  environment_id uuid not null,
  queue_id uuid not null,
  -- '' for runs without a concurrency key: each key is its own slot group with the queue's limit.
  concurrency_key text not null default '',
  -- When the run joined the queue, less its priority; resumed runs keep their original time.
  sort_key timestamptz not null,
  -- Not before: retry backoff.
  available_at timestamptz not null
) with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 100);

create index queue_entries_dequeue_idx on ratchet.queue_entries (queue_id, sort_key, run_id);

create table ratchet.executions (
  run_id uuid primary key,
  environment_id uuid not null,
  queue_id uuid not null,
  concurrency_key text not null default '',
  attempt_number integer not null,
  worker_id text not null,
  lease_expires_at timestamptz not null,
  -- maxDuration backstop: the worker aborts at the limit; the server fails the attempt a little later.
  deadline_at timestamptz,
  started_at timestamptz
) with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 100);

create index executions_queue_idx on ratchet.executions (queue_id, concurrency_key);
create index executions_environment_idx on ratchet.executions (environment_id);
create index executions_lease_idx on ratchet.executions (lease_expires_at);
create index executions_deadline_idx on ratchet.executions (deadline_at) where deadline_at is not null;

create table ratchet.attempts (
  run_id uuid not null references ratchet.runs (id) on delete cascade,
  number integer not null,
  status text not null check (status in ('EXECUTING', 'COMPLETED', 'FAILED', 'CANCELED')),
  worker_id text not null,
  created_at timestamptz not null,
  started_at timestamptz,
  finished_at timestamptz,
  error jsonb,
  primary key (run_id, number)
);

-- Dequeue: claims up to p_max runnable runs of one environment for a worker, honouring the
-- environment's limit, each queue's limit and each concurrency key's limit, exactly.
--
-- The environment row is locked first (FOR UPDATE), so dequeuers of one environment take turns
-- across every server process. Each later statement of this function takes a fresh snapshot (READ
-- COMMITTED), so the executions it counts include everything committed by the previous lock holder:
-- the counts are exact and limits are never exceeded. Completions delete executions without the
-- lock; that can only lower a count, never raise it.
--
-- Queues are offered work least-recently-served first (round-robin), so a queue with a huge backlog
-- cannot starve the others; within a queue, entries go in sort_key order.
create function ratchet.dequeue_runs(
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
      set status = 'DEQUEUED', attempt_count = r.attempt_count + 1, updated_at = p_now
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
    )
    select l.run_id, l.attempt_number from leased l order by array_position(v_ids, l.run_id);

    v_remaining := v_remaining - v_taken;
    v_env_running := v_env_running + v_taken;
  end loop;
end;
$$;

-- Milliseconds in a duration written as Trigger.dev writes them ("30s", "10m", "1h30m", "2d", "1w",
-- or plain seconds); null when the text is not one.
create function ratchet.duration_ms(p_text text) returns bigint
language sql immutable as $$
  select case
    when p_text is null then null
    when p_text ~ '^\d+(\.\d+)?$' then round(p_text::numeric * 1000)::bigint
    when p_text ~ '^(\d+[wdhms])+$' then (
      select sum(m[1]::bigint * case m[2] when 'w' then 604800000 when 'd' then 86400000 when 'h' then 3600000
        when 'm' then 60000 else 1000 end)::bigint
      from regexp_matches(p_text, '(\d+)([wdhms])', 'g') as m)
    else null
  end
$$;
