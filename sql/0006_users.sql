-- People who use the dashboard: users with a password (scrypt), their organizations and roles,
-- their sign-in sessions, and the one-time link that creates the first admin.

create table ratchet.users (
  id uuid primary key default gen_random_uuid(),
  email text not null unique check (email = lower(email) and length(email) between 3 and 320),
  name text not null default '' check (length(name) <= 200),
  -- scrypt$N$r$p$salt$hash (base64url)
  password_hash text not null,
  created_at timestamptz not null default now()
);

create table ratchet.organization_members (
  organization_id uuid not null references ratchet.organizations (id) on delete cascade,
  user_id uuid not null references ratchet.users (id) on delete cascade,
  role text not null check (role in ('admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (organization_id, user_id)
);

create table ratchet.sessions (
  -- sha256 of the cookie's value: the cookie itself is never stored.
  token_hash bytea primary key check (length(token_hash) = 32),
  user_id uuid not null references ratchet.users (id) on delete cascade,
  created_at timestamptz not null,
  expires_at timestamptz not null
);

create index sessions_user_idx on ratchet.sessions (user_id);
create index sessions_expiry_idx on ratchet.sessions (expires_at);

create table ratchet.setup_tokens (
  token_hash bytea primary key check (length(token_hash) = 32),
  created_at timestamptz not null,
  expires_at timestamptz not null,
  used_at timestamptz
);
