-- dequeue_runs, as in 0004, now also doing what followed it in separate statements, so that a
-- dequeue is one statement (one round trip, atomic without an explicit transaction):
-- - the run's retry policy, maxDuration, machine and version are fixed from the task the worker
--   registered (done at the first dequeue, as before);
-- - with p_start, the claimed attempts are started at once (EXECUTING, started_at, the maxDuration
--   deadline plus p_deadline_grace_seconds), sparing the worker a start call per run.
drop function ratchet.dequeue_runs(uuid, text, integer, integer, timestamptz);

-- Whether the execution continues an attempt begun before a wait (a resumed run): handing such a run
-- back must keep that attempt, not undo it as if it had just begun.
alter table ratchet.executions add column resumed boolean not null default false;

create function ratchet.dequeue_runs(
  p_environment_id uuid,
  p_worker_id text,
  p_max integer,
  p_lease_seconds integer,
  p_now timestamptz,
  p_start boolean,
  p_deadline_grace_seconds integer
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
    with task_settings as (
      -- The newest registered version of each claimed run's task.
      select r.id, r.resuming, t.retry, t.max_duration_s, t.machine, t.version
      from ratchet.runs r
      left join lateral (
        select t.retry, t.max_duration_s, t.machine, v.version
        from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
        where t.environment_id = p_environment_id and t.slug = r.task_identifier
        order by v.created_at desc, v.id desc
        limit 1) t on true
      where r.id = any (v_ids)
    ), claimed as (
      update ratchet.runs r
      set status = case when p_start then 'EXECUTING' else 'DEQUEUED' end,
        attempt_count = r.attempt_count + case when r.resuming then 0 else 1 end,
        resuming = false,
        started_at = case when p_start then coalesce(r.started_at, p_now) else r.started_at end,
        retry = coalesce(r.retry, ts.retry),
        max_duration_s = coalesce(r.max_duration_s, ts.max_duration_s),
        machine = coalesce(r.machine, ts.machine),
        worker_version = coalesce(r.worker_version, ts.version),
        updated_at = p_now
      from task_settings ts
      where r.id = ts.id and r.status = 'QUEUED'
      returning r.id, r.attempt_count, r.max_duration_s, ts.resuming
    ), leased as (
      insert into ratchet.executions
        (run_id, environment_id, queue_id, concurrency_key, attempt_number, worker_id, lease_expires_at, started_at, deadline_at,
         resumed)
      select c.id, p_environment_id, v_queue.id, k.concurrency_key, c.attempt_count, p_worker_id,
        p_now + make_interval(secs => p_lease_seconds),
        case when p_start then p_now end,
        case when p_start and c.max_duration_s is not null
          then p_now + make_interval(secs => c.max_duration_s + p_deadline_grace_seconds) end,
        c.resuming
      from claimed c join unnest(v_ids, v_keys) as k(run_id, concurrency_key) on k.run_id = c.id
      returning ratchet.executions.run_id, ratchet.executions.attempt_number
    ), attempted as (
      insert into ratchet.attempts (run_id, number, status, worker_id, created_at, started_at)
      select l.run_id, l.attempt_number, 'EXECUTING', p_worker_id, p_now, case when p_start then p_now end from leased l
      on conflict (run_id, number) do update set status = 'EXECUTING', worker_id = excluded.worker_id,
        started_at = coalesce(ratchet.attempts.started_at, excluded.started_at)
    )
    select l.run_id, l.attempt_number from leased l order by array_position(v_ids, l.run_id);

    v_remaining := v_remaining - v_taken;
    v_env_running := v_env_running + v_taken;
  end loop;
end;
$$;
