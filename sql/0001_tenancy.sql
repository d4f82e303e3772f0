-- Tenancy: organizations own projects; a project has one environment of each type; every API key
-- belongs to one environment and is stored only as a SHA-256 hash.

create table ratchet.organizations (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null check (length(name) between 1 and 200),
  created_at timestamptz not null default now()
);

create table ratchet.projects (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references ratchet.organizations (id) on delete cascade,
  ref text not null unique check (ref ~ '^proj_[a-z0-9]{20}$'),
  slug text not null check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null check (length(name) between 1 and 200),
  created_at timestamptz not null default now(),
  unique (organization_id, slug)
);

create table ratchet.environments (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references ratchet.projects (id) on delete cascade,
  type text not null check (type in ('dev', 'staging', 'prod', 'preview')),
  slug text not null,
  -- How many runs of this environment may execute at once, across all its queues.
  concurrency_limit integer not null default 100 check (concurrency_limit >= 0),
  paused boolean not null default false,
  created_at timestamptz not null default now(),
  unique (project_id, type)
);

create table ratchet.api_keys (
  id uuid primary key default gen_random_uuid(),
  -- What people see and type to revoke a key: key_ followed by 16 lowercase letters and digits.
  public_id text not null unique check (public_id ~ '^key_[a-z0-9]{16}$'),
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  key_hash bytea not null unique check (length(key_hash) = 32),
  -- The first characters of the key, enough to recognise it in a list, never enough to use it.
  key_hint text not null,
  name text not null default '' check (length(name) <= 200),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

create index api_keys_environment_idx on ratchet.api_keys (environment_id);
