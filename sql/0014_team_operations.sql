-- Environment variables and secrets: one row per variable of an environment. Values are encrypted
-- with AES-256-GCM under a master key the database never sees (RATCHET_ENCRYPTION_KEY); `key_id`
-- names that key (a fingerprint), so rotation can find the rows still sealed under an older one.
-- The variable's name is authenticated with its value (GCM's additional data), so a value cannot be
-- moved to another variable or environment without failing to decrypt.

create table ratchet.environment_variables (
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  name text not null check (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,255}$'),
  -- 12-byte IV, 16-byte GCM tag, then the ciphertext.
  value_sealed bytea not null check (length(value_sealed) >= 28),
  key_id text not null check (key_id ~ '^k[0-9a-f]{16}$'),
  is_secret boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (environment_id, name)
);

create index environment_variables_key_idx on ratchet.environment_variables (key_id);

-- Bumped in the same transaction as every change to an environment's variables: workers ask "still
-- version N?" before each attempt (an ETag) and the server's redaction cache knows when to reload.
create table ratchet.environment_variable_versions (
  environment_id uuid primary key references ratchet.environments (id) on delete cascade,
  version bigint not null default 0
);

-- Alerts. A run that ends FAILED, CRASHED, TIMED_OUT or SYSTEM_FAILURE in an environment with an
-- alert channel leaves a row in alert_run_failures, written by a trigger in the same transaction as
-- the status change: whichever path ended the run (a worker's completion, a lost lease, maxDuration),
-- the alert is as durable as the run's own status. The dispatcher (engine/alerts.ts) turns those rows
-- into alert_deliveries, one per channel, digesting storms per task, and delivers them with retries
-- and backoff. alert_deliveries is the history the dashboard shows.

create table ratchet.alert_channels (
  id uuid primary key default gen_random_uuid(),
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  type text not null check (type in ('webhook', 'email', 'slack')),
  name text not null default '' check (length(name) <= 200),
  -- webhook and slack: the URL; email: the addresses, comma-separated.
  target text not null check (length(target) between 1 and 2000),
  -- webhook only: the HMAC signing secret, sealed like an environment variable.
  secret_sealed bytea,
  secret_key_id text,
  -- Only runs of these tasks; null means every task.
  task_identifiers text[],
  -- Also alert when a queue has runs that became runnable this many minutes ago and still wait.
  backlog_minutes integer check (backlog_minutes between 1 and 10080),
  enabled boolean not null default true,
  created_at timestamptz not null default now()
);

create index alert_channels_environment_idx on ratchet.alert_channels (environment_id);

create table ratchet.alert_run_failures (
  id bigint generated always as identity primary key,
  environment_id uuid not null,
  run_id uuid not null,
  task_identifier text not null,
  status text not null,
  error jsonb,
  failed_at timestamptz not null
);

create table ratchet.alert_deliveries (
  id uuid primary key default gen_random_uuid(),
  channel_id uuid not null references ratchet.alert_channels (id) on delete cascade,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  -- The task of run_failed and digest, the queue of queue_backlog.
  task_identifier text not null,
  -- run_failed: one run, sent at once; digest: the runs that failed while alerts were held back;
  -- queue_backlog: a queue whose runs wait too long (details says how many, since when).
  kind text not null check (kind in ('run_failed', 'digest', 'queue_backlog')),
  details jsonb,
  runs jsonb not null default '[]',
  run_count integer not null default 0,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  last_error text,
  created_at timestamptz not null,
  delivered_at timestamptz
);

create index alert_deliveries_due_idx on ratchet.alert_deliveries (next_attempt_at) where status = 'pending';
create index alert_deliveries_channel_task_idx on ratchet.alert_deliveries (channel_id, task_identifier, created_at desc);

create function ratchet.record_run_failure_for_alerts() returns trigger language plpgsql as $$
begin
  if exists (select 1 from ratchet.alert_channels c where c.environment_id = new.environment_id and c.enabled) then
    insert into ratchet.alert_run_failures (environment_id, run_id, task_identifier, status, error, failed_at)
    values (new.environment_id, new.id, new.task_identifier, new.status, new.error, coalesce(new.finished_at, new.updated_at));
  end if;
  return null;
end $$;

-- The WHEN clause is checked without calling the function, so other updates of runs cost nothing.
create trigger runs_failed_alert after update of status on ratchet.runs
  for each row when (new.status is distinct from old.status and new.status in ('FAILED', 'CRASHED', 'TIMED_OUT', 'SYSTEM_FAILURE'))
  execute function ratchet.record_run_failure_for_alerts();

-- Members and projects. Organization admins see and manage every project of their organization;
-- members see only the projects they were given, and prod's keys and variables only with
-- prod_access. Invitations and password resets are one-time links (only their hash is stored).

create table ratchet.project_members (
  project_id uuid not null references ratchet.projects (id) on delete cascade,
  user_id uuid not null references ratchet.users (id) on delete cascade,
  prod_access boolean not null default false,
  created_at timestamptz not null default now(),
  primary key (project_id, user_id)
);

create index project_members_user_idx on ratchet.project_members (user_id);

-- Members from before project membership keep seeing what they saw: every project of their organization.
insert into ratchet.project_members (project_id, user_id)
  select p.id, m.user_id from ratchet.organization_members m join ratchet.projects p on p.organization_id = m.organization_id
  where m.role = 'member';

create table ratchet.invitations (
  token_hash bytea primary key check (length(token_hash) = 32),
  organization_id uuid not null references ratchet.organizations (id) on delete cascade,
  -- The address it was sent to (when sent by email), shown on the page; whoever holds the link may use it.
  email text check (email is null or length(email) between 3 and 320),
  role text not null check (role in ('admin', 'member')),
  project_ids uuid[] not null default '{}',
  prod_access boolean not null default false,
  created_by uuid references ratchet.users (id) on delete set null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  used_at timestamptz
);

create index invitations_organization_idx on ratchet.invitations (organization_id);

create table ratchet.password_resets (
  token_hash bytea primary key check (length(token_hash) = 32),
  user_id uuid not null references ratchet.users (id) on delete cascade,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  used_at timestamptz
);
