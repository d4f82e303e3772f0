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
