-- The public SQL surface: versioned views in schema ratchet_api, queried through POST /api/v1/query
-- as the NOLOGIN role ratchet_query. The views are owned by a second NOLOGIN role,
-- ratchet_query_views, for which row-level security on the internal tables keeps only the rows of
-- the environments in the current query's scope. The server (the owner of the tables) is not
-- subject to these policies. docs/sql.md explains the design and its limits.

create schema ratchet_api;

-- The scope of the query running in this transaction. The server inserts one row before it drops
-- to ratchet_query, and always rolls the transaction back, so a row never commits and only the
-- transaction that wrote it can see it. Users cannot write it: they have no privilege on it, and
-- their transaction is read-only by then.
create table ratchet.query_scopes (
  xid xid8 primary key,
  environment_ids uuid[] not null,
  time_from timestamptz,
  time_to timestamptz
);

create function ratchet.query_scope_environment_ids() returns uuid[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce((select s.environment_ids from ratchet.query_scopes s where s.xid = pg_current_xact_id_if_assigned()), '{}'::uuid[])
$$;

create function ratchet.query_scope_time_from() returns timestamptz
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce((select s.time_from from ratchet.query_scopes s where s.xid = pg_current_xact_id_if_assigned()), '-infinity'::timestamptz)
$$;

create function ratchet.query_scope_time_to() returns timestamptz
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce((select s.time_to from ratchet.query_scopes s where s.xid = pg_current_xact_id_if_assigned()), 'infinity'::timestamptz)
$$;

revoke all on function ratchet.query_scope_environment_ids() from public;
revoke all on function ratchet.query_scope_time_from() from public;
revoke all on function ratchet.query_scope_time_to() from public;

-- The public id the API shows (`run_…`, `batch_…`): the prefix and the UUID in Crockford base32.
create function ratchet_api.public_id(p_prefix text, p_id uuid) returns text
language sql immutable parallel safe set search_path = pg_catalog, pg_temp as $$
  select case when p_id is null then null else p_prefix || '_' || (
    select string_agg(substr('0123456789abcdefghjkmnpqrstvwxyz', substring(b.bits from i * 5 + 1 for 5)::int + 1, 1), '' order by i)
    from (select B'00' || ('x' || replace(p_id::text, '-', ''))::bit(128) as bits) b, generate_series(0, 25) i
  ) end
$$;

-- Trigger.dev's friendly status names, as its query schema shows them.
create function ratchet_api.run_status_title(p_status text) returns text
language sql immutable parallel safe set search_path = pg_catalog, pg_temp as $$
  select case p_status
    when 'PENDING_VERSION' then 'Pending version' when 'DELAYED' then 'Delayed' when 'QUEUED' then 'Queued'
    when 'DEQUEUED' then 'Dequeued' when 'EXECUTING' then 'Executing' when 'WAITING' then 'Waiting'
    when 'COMPLETED' then 'Completed' when 'CANCELED' then 'Canceled' when 'FAILED' then 'Failed'
    when 'CRASHED' then 'Crashed' when 'SYSTEM_FAILURE' then 'System failure' when 'EXPIRED' then 'Expired'
    when 'TIMED_OUT' then 'Timed out' else p_status end
$$;

create view ratchet_api.runs with (security_barrier) as
select
  ratchet_api.public_id('run', r.id) as run_id,
  e.slug as environment,
  p.ref as project,
  upper(case e.type when 'prod' then 'production' when 'dev' then 'development' else e.type end) as environment_type,
  r.attempt_count,
  ratchet_api.run_status_title(r.status) as status,
  r.status in ('COMPLETED', 'CANCELED', 'FAILED', 'CRASHED', 'SYSTEM_FAILURE', 'EXPIRED', 'TIMED_OUT') as is_finished,
  r.task_identifier,
  r.queue_name as queue,
  ratchet_api.public_id('batch', r.batch_id) as batch_id,
  ratchet_api.public_id('run', r.root_run_id) as root_run_id,
  ratchet_api.public_id('run', r.parent_run_id) as parent_run_id,
  r.depth,
  r.depth = 0 as is_root_run,
  r.depth > 0 as is_child_run,
  r.idempotency_key,
  r.created_at as triggered_at,
  r.queued_at,
  r.started_at as executed_at,
  r.finished_at as completed_at,
  r.delay_until,
  r.delay_until is not null as has_delay,
  r.expired_at,
  r.ttl,
  (extract(epoch from r.finished_at - r.started_at) * 1000)::bigint as execution_duration,
  (extract(epoch from r.finished_at - r.created_at) * 1000)::bigint as total_duration,
  (extract(epoch from r.started_at - r.queued_at) * 1000)::bigint as queued_duration,
  r.output,
  r.error,
  r.tags,
  r.worker_version as task_version,
  r.machine,
  r.is_test,
  r.concurrency_key,
  r.max_duration_s as max_duration,
  ratchet_api.public_id('sched', r.schedule_id) as schedule_id,
  ratchet_api.public_id('run', r.replayed_from_id) as replayed_from_run_id,
  r.updated_at
from ratchet.runs r
join ratchet.environments e on e.id = r.environment_id
join ratchet.projects p on p.id = e.project_id
where r.created_at >= ratchet.query_scope_time_from() and r.created_at < ratchet.query_scope_time_to();

create view ratchet_api.attempts with (security_barrier) as
select
  ratchet_api.public_id('run', a.run_id) as run_id,
  e.slug as environment,
  p.ref as project,
  r.task_identifier,
  a.number as attempt_number,
  a.status,
  a.worker_id,
  a.created_at,
  a.started_at,
  a.finished_at as completed_at,
  (extract(epoch from a.finished_at - a.started_at) * 1000)::bigint as duration,
  a.error
from ratchet.attempts a
join ratchet.runs r on r.id = a.run_id
join ratchet.environments e on e.id = r.environment_id
join ratchet.projects p on p.id = e.project_id;

create view ratchet_api.events with (security_barrier) as
select
  ratchet_api.public_id('run', v.run_id) as run_id,
  e.slug as environment,
  p.ref as project,
  v.attempt_number,
  v.seq,
  v.time,
  v.kind,
  v.level,
  v.message,
  v.attributes,
  v.span_id,
  v.parent_span_id,
  v.duration_ms
from ratchet.events v
join ratchet.environments e on e.id = v.environment_id
join ratchet.projects p on p.id = e.project_id
where v.time >= ratchet.query_scope_time_from() and v.time < ratchet.query_scope_time_to();

create view ratchet_api.batches with (security_barrier) as
select
  ratchet_api.public_id('batch', b.id) as batch_id,
  e.slug as environment,
  p.ref as project,
  b.status,
  b.run_count,
  b.items_accepted,
  b.sealed,
  b.idempotency_key,
  ratchet_api.public_id('run', b.parent_run_id) as parent_run_id,
  b.created_at,
  b.updated_at
from ratchet.batches b
join ratchet.environments e on e.id = b.environment_id
join ratchet.projects p on p.id = e.project_id;

create view ratchet_api.waitpoints with (security_barrier) as
select
  ratchet_api.public_id('wp', w.id) as waitpoint_id,
  e.slug as environment,
  p.ref as project,
  w.type,
  w.status,
  w.completed_after,
  w.idempotency_key,
  w.tags,
  w.output,
  w.output_is_error,
  ratchet_api.public_id('run', w.completed_by_run_id) as completed_by_run_id,
  ratchet_api.public_id('batch', w.completed_by_batch_id) as completed_by_batch_id,
  w.created_at,
  w.completed_at
from ratchet.waitpoints w
join ratchet.environments e on e.id = w.environment_id
join ratchet.projects p on p.id = e.project_id;

create view ratchet_api.schedules with (security_barrier) as
select
  ratchet_api.public_id('sched', s.id) as schedule_id,
  e.slug as environment,
  p.ref as project,
  s.type,
  s.task_identifier,
  s.cron,
  s.timezone,
  s.deduplication_key,
  s.external_id,
  s.active,
  s.next_run_at,
  s.last_run_at,
  s.created_at,
  s.updated_at
from ratchet.schedules s
join ratchet.environments e on e.id = s.environment_id
join ratchet.projects p on p.id = e.project_id;

create view ratchet_api.queues with (security_barrier) as
select
  q.id as queue_id,
  q.name,
  e.slug as environment,
  p.ref as project,
  q.type,
  q.concurrency_limit,
  q.concurrency_override,
  q.paused,
  q.created_at,
  q.updated_at
from ratchet.queues q
join ratchet.environments e on e.id = q.environment_id
join ratchet.projects p on p.id = e.project_id;

create view ratchet_api.tasks with (security_barrier) as
select
  t.slug as task_identifier,
  e.slug as environment,
  p.ref as project,
  v.version,
  v.sdk_version,
  t.queue_name as queue,
  t.trigger_source,
  t.file_path,
  t.export_name,
  t.machine,
  t.max_duration_s as max_duration,
  t.ttl,
  t.retry,
  v.created_at
from ratchet.tasks t
join ratchet.worker_versions v on v.id = t.worker_version_id
join ratchet.environments e on e.id = t.environment_id
join ratchet.projects p on p.id = e.project_id;

-- Row-level security: a permissive policy for everyone (so a server that connects as a role other
-- than the tables' owner keeps seeing everything), and restrictive ones (made with the roles, below)
-- that only the views' owner is subject to. Owners of the tables bypass both.
do $$
declare
  t text;
begin
  foreach t in array array['runs', 'attempts', 'events', 'batches', 'waitpoints', 'schedules', 'queues', 'tasks', 'worker_versions', 'environments', 'projects'] loop
    execute format('alter table ratchet.%I enable row level security', t);
    execute format('create policy everyone on ratchet.%I as permissive for all to public using (true) with check (true)', t);
  end loop;
end
$$;

-- The roles. Roles belong to the whole cluster while everything else here belongs to this database,
-- so another database of the cluster may have made them already (or be making them right now).
-- Without the right to create roles, the migration still succeeds and POST /api/v1/query answers
-- 503 until an administrator runs `select ratchet.query_roles_setup()` (docs/sql.md).
create function ratchet.query_roles_setup() returns boolean
language plpgsql as $$
declare
  role_name text;
  table_name text;
begin
  foreach role_name in array array['ratchet_query', 'ratchet_query_views'] loop
    if not exists (select 1 from pg_roles where rolname = role_name) then
      begin
        execute format('create role %I nologin noinherit', role_name);
      exception when duplicate_object or unique_violation then
        null; -- made meanwhile by a migration of another database
      end;
    end if;
    if not pg_has_role(current_user, role_name, 'member') then
      -- The server may SET ROLE to it but must not inherit it: the policies below apply to members.
      begin
        execute format('grant %I to %I with inherit false, set true', role_name, current_user);
      exception when syntax_error then
        execute format('grant %I to %I', role_name, current_user); -- Postgres 15
      end;
    end if;
  end loop;
  foreach table_name in array array['runs', 'events', 'batches', 'waitpoints', 'schedules', 'queues', 'tasks', 'worker_versions'] loop
    execute format('drop policy if exists query_scope on ratchet.%I', table_name);
    execute format('create policy query_scope on ratchet.%I as restrictive for select to ratchet_query_views
      using (environment_id = any ((select ratchet.query_scope_environment_ids())::uuid[]))', table_name);
  end loop;
  drop policy if exists query_scope on ratchet.attempts;
  create policy query_scope on ratchet.attempts as restrictive for select to ratchet_query_views
    using (run_id in (select r.id from ratchet.runs r));
  drop policy if exists query_scope on ratchet.environments;
  create policy query_scope on ratchet.environments as restrictive for select to ratchet_query_views
    using (id = any ((select ratchet.query_scope_environment_ids())::uuid[]));
  drop policy if exists query_scope on ratchet.projects;
  create policy query_scope on ratchet.projects as restrictive for select to ratchet_query_views
    using (id in (select e.project_id from ratchet.environments e));
  grant usage on schema ratchet to ratchet_query_views;
  grant usage, create on schema ratchet_api to ratchet_query_views;
  grant select on ratchet.runs, ratchet.attempts, ratchet.events, ratchet.batches, ratchet.waitpoints, ratchet.schedules,
    ratchet.queues, ratchet.tasks, ratchet.worker_versions, ratchet.environments, ratchet.projects to ratchet_query_views;
  -- Functions in views and policies are called with the querying role's rights: both need them.
  -- They only tell the caller its own scope.
  grant execute on function ratchet.query_scope_environment_ids(), ratchet.query_scope_time_from(), ratchet.query_scope_time_to()
    to ratchet_query_views, ratchet_query;
  if not exists (select 1 from pg_views where schemaname = 'ratchet_api' and viewowner <> 'ratchet_query_views') then
    return true; -- set up already
  end if;
  -- Granted while the views are still ours; the grants pass to the new owner with them.
  grant usage on schema ratchet_api to ratchet_query;
  grant select on all tables in schema ratchet_api to ratchet_query;
  grant execute on all functions in schema ratchet_api to ratchet_query;
  alter view ratchet_api.runs owner to ratchet_query_views;
  alter view ratchet_api.attempts owner to ratchet_query_views;
  alter view ratchet_api.events owner to ratchet_query_views;
  alter view ratchet_api.batches owner to ratchet_query_views;
  alter view ratchet_api.waitpoints owner to ratchet_query_views;
  alter view ratchet_api.schedules owner to ratchet_query_views;
  alter view ratchet_api.queues owner to ratchet_query_views;
  alter view ratchet_api.tasks owner to ratchet_query_views;
  return true;
end
$$;

do $$
begin
  perform ratchet.query_roles_setup();
exception when insufficient_privilege then
  raise warning 'SQL queries stay disabled: this database user may not create or grant roles (%). See docs/sql.md.', sqlerrm;
end
$$;

-- Bulk actions (POST /api/v1/bulk-actions): cancel or replay every run matching a filter, or a list
-- of runs, in the background in chunks. `cursor_id` is the last run handled (runs are taken in id
-- order); runs triggered after the action was created are not part of it (`created_at` bounds them).
create table ratchet.bulk_actions (
  id uuid primary key,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  name text check (length(name) <= 255),
  type text not null check (type in ('CANCEL', 'REPLAY')),
  status text not null default 'PENDING' check (status in ('PENDING', 'COMPLETED', 'ABORTED')),
  filter jsonb,
  run_ids uuid[],
  total integer not null default 0,
  success integer not null default 0,
  failure integer not null default 0,
  cursor_id uuid,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  completed_at timestamptz,
  check ((filter is null) <> (run_ids is null))
);

create index bulk_actions_environment_idx on ratchet.bulk_actions (environment_id, id desc);
create index bulk_actions_pending_idx on ratchet.bulk_actions (id) where status = 'PENDING';
