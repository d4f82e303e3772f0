-- Personal access tokens: how the CLI (`ratchet login`, `whoami`, `keys`) acts as a dashboard user
-- against a running server. Like secret keys, only a SHA-256 hash of the random token is stored.

create table ratchet.personal_access_tokens (
  id uuid primary key default gen_random_uuid(),
  public_id text not null unique,
  user_id uuid not null references ratchet.users (id) on delete cascade,
  token_hash bytea not null unique check (length(token_hash) = 32),
  token_hint text not null,
  name text not null default '' check (length(name) <= 200),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

create index personal_access_tokens_user_idx on ratchet.personal_access_tokens (user_id);
