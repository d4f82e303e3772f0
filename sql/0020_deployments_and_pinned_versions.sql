-- Deployments, and runs pinned to the version they were triggered on.
--
-- deployments          one row per version of an environment's tasks: how it was built (a bundle kept
--                      here, and with Docker an image), and whether it is ready. A worker registering a
--                      version that has no deployment yet creates one, DEPLOYED.
-- current_deployments  the promoted deployment of each environment: new runs are pinned to its version.
--
-- Deployment states (the names of Trigger.dev's API):
--   BUILDING ─> DEPLOYED ─(promote)─> current
--       └─────> FAILED
--
-- Pinning: in staging, prod and preview a run's lock_to_version is set when it is triggered (the
-- caller's lockToVersion, else the current deployment's version), and every queue entry of the run
-- carries that version, so the run, its retries and its resumes after waits are dequeued only by a
-- worker that serves that version. In dev a run is unpinned (version '' in the queue) unless the caller
-- names lockToVersion: a dev worker serves the code it registered last, waits resume on new code.

create table ratchet.deployments (
  id uuid primary key default gen_random_uuid(),
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  version text not null check (length(version) between 1 and 64),
  short_code text not null check (short_code ~ '^[a-z0-9]{8}$'),
  status text not null check (status in ('BUILDING', 'DEPLOYED', 'FAILED')),
  -- The image the Docker runner starts for this version (null for a bundle run by the process runner).
  image_reference text check (length(image_reference) <= 512),
  -- The task bundle (an ES module with its manifest), kept when deployed without an image registry.
  bundle bytea check (octet_length(bundle) <= 64 * 1024 * 1024),
  content_hash text check (length(content_hash) <= 128),
  error jsonb,
  created_at timestamptz not null,
  deployed_at timestamptz,
  failed_at timestamptz,
  unique (environment_id, version)
);

create index deployments_environment_idx on ratchet.deployments (environment_id, created_at desc, id desc);

create table ratchet.current_deployments (
  environment_id uuid primary key references ratchet.environments (id) on delete cascade,
  deployment_id uuid not null references ratchet.deployments (id) on delete cascade,
  promoted_at timestamptz not null
);

-- Every registered version so far becomes a deployment, the newest the current one, so that runs
-- triggered after this migration are pinned to the code that served them before it.
insert into ratchet.deployments (environment_id, version, short_code, status, created_at, deployed_at)
select v.environment_id, v.version, substr(md5(v.id::text), 1, 8), 'DEPLOYED', v.created_at, v.created_at
from ratchet.worker_versions v
on conflict (environment_id, version) do nothing;

insert into ratchet.current_deployments (environment_id, deployment_id, promoted_at)
select distinct on (d.environment_id) d.environment_id, d.id, d.created_at
from ratchet.deployments d
order by d.environment_id, d.created_at desc, d.id desc;

-- The version a queued run is pinned to; '' = unpinned (any worker of the environment may take it).
-- No default: every statement that queues a run names its version (its run's lock_to_version), so
-- one that forgets fails instead of letting any worker take a pinned run.
alter table ratchet.queue_entries add column version text not null default '';
alter table ratchet.queue_entries alter column version drop default;

-- The dequeue index now leads with the version inside each queue, so that a worker walks only the
-- entries of the versions it serves, in order.
drop index ratchet.queue_entries_dequeue_idx;
create index queue_entries_dequeue_idx on ratchet.queue_entries (queue_id, version, sort_key, run_id);

-- The versions a dequeue serves, each once, and '' (unpinned runs): those the worker names, or the
-- environment's current version when it names none.
create function ratchet.served_versions(p_environment_id uuid, p_versions text[]) returns text[]
language sql stable as $$
  select array(select distinct v from unnest(array_append(coalesce(p_versions, (
    select array_agg(d.version) from ratchet.current_deployments c join ratchet.deployments d on d.id = c.deployment_id
    where c.environment_id = p_environment_id), '{}'), '')) as v)
$$;

drop function ratchet.dequeue_runs(uuid, text, integer, integer, timestamptz, boolean, integer);

-- dequeue_runs, as in 0008, taking only entries of the versions the worker serves (p_versions, or the
-- current version when null) and unpinned ones. Limits are counted over every version, as before: a
-- slot is a slot whichever code fills it. The task settings fixed at the first dequeue come from the
-- run's pinned version when it has one.
create function ratchet.dequeue_runs(
  p_environment_id uuid,
  p_worker_id text,
  p_max integer,
  p_lease_seconds integer,
  p_now timestamptz,
  p_start boolean,
  p_deadline_grace_seconds integer,
  p_versions text[] default null
) returns table (run_id uuid, attempt_number integer)
language plpgsql as $$
#variable_conflict use_column
declare
  v_env_limit integer;
  v_env_paused boolean;
  v_env_running integer;
  v_remaining integer := p_max;
  v_versions text[];
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
  v_versions := ratchet.served_versions(p_environment_id, p_versions);

  select count(*)::integer into v_env_running from ratchet.executions x where x.environment_id = p_environment_id;

  for v_queue in
    select q.id, coalesce(q.concurrency_override, q.concurrency_limit) as queue_limit
    from ratchet.queues q
    -- A lateral probe per served version, in dequeue index order: a short index scan each.
    cross join lateral (
      select 1 from unnest(v_versions) as sv(version)
      cross join lateral (
        select 1 from ratchet.queue_entries qe
        where qe.queue_id = q.id and qe.version = sv.version and qe.available_at <= p_now
        order by qe.queue_id, qe.version, qe.sort_key
        limit 1) as entry
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
      -- The head of each served version's line in this queue, merged by place in line below.
      select e.run_id, e.concurrency_key, e.sort_key
      from unnest(v_versions) as sv(version)
      cross join lateral (
        select qe.run_id, qe.concurrency_key, qe.sort_key
        from ratchet.queue_entries qe
        where qe.queue_id = v_queue.id and qe.version = sv.version and qe.available_at <= p_now
          and qe.concurrency_key not in (select r.concurrency_key from running r where r.n >= v_limit)
        order by qe.sort_key, qe.run_id
        limit v_take * 4
        for update skip locked) as e
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
      -- The task as the run's pinned version declares it, else as the newest registered version does.
      select r.id, r.resuming, t.retry, t.max_duration_s, t.machine, t.version
      from ratchet.runs r
      left join lateral (
        select t.retry, t.max_duration_s, t.machine, v.version
        from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
        where t.environment_id = p_environment_id and t.slug = r.task_identifier
          and (r.lock_to_version is null or v.version = r.lock_to_version)
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
