-- Realtime for apps: large payloads and outputs (packets), signing secrets for presigned packet URLs
-- and public access tokens, the run change feed behind subscriptions, and stream chunks.

-- Payloads and outputs of 128 KB and more, uploaded by the SDK through a presigned URL and referred
-- to from the run by their path (payload_type / output_type 'application/store'). A bytea column:
-- a packet is read and written whole (the SDK sends and fetches it in one request), below a cap of
-- 32 MB, and a row is deleted with its run by the foreign key, which large objects would not do.
create table ratchet.packets (
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  path text not null check (length(path) between 1 and 512),
  -- Set once a run refers to the packet (by the triggers below); packets no run refers to are
  -- deleted a day after their upload.
  run_id uuid references ratchet.runs (id) on delete cascade,
  content_type text not null,
  data bytea not null,
  created_at timestamptz not null,
  primary key (environment_id, path)
);

create index packets_run_idx on ratchet.packets (run_id) where run_id is not null;
create index packets_unattached_idx on ratchet.packets (created_at) where run_id is null;

-- A run that refers to a packet owns it from then on, in the same transaction that stored the
-- reference, whichever route or engine path wrote it.
create function ratchet.packets_attach_to_run() returns trigger language plpgsql as $$
begin
  if new.payload_type = 'application/store' and json_typeof(new.payload) = 'string' then
    update ratchet.packets set run_id = new.id
    where environment_id = new.environment_id and path = new.payload #>> '{}' and run_id is null;
  end if;
  if new.output_type = 'application/store' and json_typeof(new.output) = 'string' then
    update ratchet.packets set run_id = new.id
    where environment_id = new.environment_id and path = new.output #>> '{}' and run_id is null;
  end if;
  return null;
end $$;

create trigger runs_attach_packets after insert or update of payload, payload_type, output, output_type on ratchet.runs
  for each row when (new.payload_type = 'application/store' or new.output_type = 'application/store')
  execute function ratchet.packets_attach_to_run();

-- A random secret per environment that only the server knows: it signs presigned packet URLs and
-- the public access tokens the server mints. Created on first use.
create table ratchet.environment_secrets (
  environment_id uuid primary key references ratchet.environments (id) on delete cascade,
  signing_secret bytea not null check (length(signing_secret) = 32),
  created_at timestamptz not null default now()
);

-- Public access tokens that the SDK signs itself (auth.createPublicToken with a secret key) are
-- HS256 JWTs keyed with the secret key, which Ratchet otherwise keeps only as a hash. A key that
-- asks for token claims (POST /api/v1/auth/jwt/claims) leaves a sealed copy here (AES-256-GCM under
-- a key derived from the environment's signing secret) so the server can verify what it signs;
-- the copy goes when the key is deleted, and a revoked key's copy is never used.
create table ratchet.api_key_signing_copies (
  api_key_id uuid primary key references ratchet.api_keys (id) on delete cascade,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  sealed bytea not null,
  created_at timestamptz not null default now()
);

create index api_key_signing_copies_environment_idx on ratchet.api_key_signing_copies (environment_id);

-- One-time-use public tokens (auth.createTriggerPublicToken's default) are spent here, by the
-- SHA-256 of the token, until they expire.
create table ratchet.spent_public_tokens (
  token_hash bytea primary key check (length(token_hash) = 32),
  expires_at timestamptz not null
);

create index spent_public_tokens_expiry_idx on ratchet.spent_public_tokens (expires_at);
