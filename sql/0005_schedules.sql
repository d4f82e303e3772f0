-- Schedules: cron expressions in IANA time zones that trigger a task. DECLARATIVE ones come from
-- task code (schedules.task) and follow the registered versions; IMPERATIVE ones are created
-- through the API. next_run_at is the tick to fire; the sweeper fires it exactly once (row lock,
-- SKIP LOCKED) and moves it to the next tick after now, so downtime yields one catch-up run.

create table ratchet.schedules (
  id uuid primary key,
  project_id uuid not null references ratchet.projects (id) on delete cascade,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  type text not null check (type in ('DECLARATIVE', 'IMPERATIVE')),
  task_identifier text not null,
  cron text not null check (length(cron) between 1 and 200),
  timezone text not null default 'UTC',
  deduplication_key text check (length(deduplication_key) <= 256),
  external_id text check (length(external_id) <= 256),
  active boolean not null default true,
  next_run_at timestamptz,
  last_run_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

create unique index schedules_deduplication_idx on ratchet.schedules (project_id, deduplication_key)
  where deduplication_key is not null;
create unique index schedules_declarative_idx on ratchet.schedules (environment_id, task_identifier)
  where type = 'DECLARATIVE';
create index schedules_due_idx on ratchet.schedules (next_run_at) where active;
create index schedules_environment_idx on ratchet.schedules (environment_id, id);

alter table ratchet.runs add column schedule_id uuid;
create index runs_schedule_idx on ratchet.runs (schedule_id, id desc) where schedule_id is not null;

-- When a worker last asked this environment for work: dev schedules fire only while one is connected.
alter table ratchet.environments add column worker_seen_at timestamptz;
