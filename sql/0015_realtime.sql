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

-- The change feed behind run subscriptions (GET /realtime/v1/runs…, docs/realtime.md). Every insert
-- of a run and every change of what a subscriber sees (status, metadata, tags, output, error,
-- timestamps) appends a row here, in the transaction that made the change, with that
-- transaction's id. A subscriber's offset is the snapshot it last read: the next read delivers the
-- changes visible now that were not visible then, so none is lost or repeated whatever order
-- concurrent transactions commit in, and any server process can answer it.
create table ratchet.run_changes (
  -- Feed order within a run (and a batch); no index of its own, the run and batch indexes end with it.
  id bigint generated always as identity,
  environment_id uuid not null,
  run_id uuid not null,
  batch_id uuid,
  tags text[] not null,
  xid xid8 not null default pg_current_xact_id(),
  changed_at timestamptz not null default now(),
  -- What changed, as it was after the change (payload and output are read from the run).
  state jsonb not null
);

create index run_changes_run_idx on ratchet.run_changes (run_id, id);
create index run_changes_batch_idx on ratchet.run_changes (batch_id, id) where batch_id is not null;
-- Tag shapes read an environment's changes of tagged runs after a snapshot's xmin.
create index run_changes_tagged_idx on ratchet.run_changes (environment_id, xid) where tags <> '{}';
-- Rows are appended in time order: a BRIN index serves the retention delete for next to nothing.
create index run_changes_changed_at_idx on ratchet.run_changes using brin (changed_at);

-- A stored payload, output or metadata as the SDK's shapes carry it: the text of the packet (a JSON
-- document for application/json, else the string that was sent: superjson, a packet path, text).
create function ratchet.packet_text(value json, type text) returns text language sql immutable as $$
  select case when value is null then null
    when type = 'application/json' or json_typeof(value) <> 'string' then value::text
    else value #>> '{}' end
$$;

-- Statement-level triggers with transition tables: one set-based insert per statement, so a batch
-- of a thousand runs (or a bulk load) costs one INSERT … SELECT, not a thousand trigger calls.
create function ratchet.run_changes_record_inserted() returns trigger language plpgsql as $$
begin
  insert into ratchet.run_changes (environment_id, run_id, batch_id, tags, state)
  select n.environment_id, n.id, n.batch_id, n.tags, jsonb_build_object(
      'status', n.status,
      'metadata', ratchet.packet_text(n.metadata, n.metadata_type),
      'metadataType', n.metadata_type,
      'tags', to_jsonb(n.tags),
      'outputType', n.output_type,
      'error', n.error,
      'attemptCount', n.attempt_count,
      'updatedAt', n.updated_at,
      'startedAt', n.started_at,
      'finishedAt', n.finished_at,
      'delayUntil', n.delay_until,
      'queuedAt', n.queued_at,
      'expiredAt', n.expired_at,
      'idempotencyKey', n.idempotency_key)
  from new_rows n;
  return null;
end $$;

create function ratchet.run_changes_record_updated() returns trigger language plpgsql as $$
begin
  insert into ratchet.run_changes (environment_id, run_id, batch_id, tags, state)
  select n.environment_id, n.id, n.batch_id, n.tags, jsonb_build_object(
      'status', n.status,
      'metadata', ratchet.packet_text(n.metadata, n.metadata_type),
      'metadataType', n.metadata_type,
      'tags', to_jsonb(n.tags),
      'outputType', n.output_type,
      'error', n.error,
      'attemptCount', n.attempt_count,
      'updatedAt', n.updated_at,
      'startedAt', n.started_at,
      'finishedAt', n.finished_at,
      'delayUntil', n.delay_until,
      'queuedAt', n.queued_at,
      'expiredAt', n.expired_at,
      'idempotencyKey', n.idempotency_key)
  from new_rows n join old_rows o on o.id = n.id
  where o.status is distinct from n.status
    or o.metadata::text is distinct from n.metadata::text
    or o.tags is distinct from n.tags
    or o.output_type is distinct from n.output_type
    or o.error is distinct from n.error
    or o.started_at is distinct from n.started_at
    or o.finished_at is distinct from n.finished_at
    or o.delay_until is distinct from n.delay_until
  order by n.id;
  return null;
end $$;

create trigger runs_record_insert after insert on ratchet.runs
  referencing new table as new_rows
  for each statement execute function ratchet.run_changes_record_inserted();

create trigger runs_record_change after update on ratchet.runs
  referencing old table as old_rows new table as new_rows
  for each statement execute function ratchet.run_changes_record_updated();

-- Realtime streams (streams.pipe / append / read): chunks in order per (run, stream key), read as
-- server-sent events resumable by sequence number. Deleted with their run.
create table ratchet.run_streams (
  run_id uuid not null references ratchet.runs (id) on delete cascade,
  environment_id uuid not null,
  stream_key text not null check (length(stream_key) between 1 and 256),
  -- Set when a writer's pipe ended cleanly: readers end once they have every chunk.
  completed_at timestamptz,
  created_at timestamptz not null,
  primary key (run_id, stream_key)
);

create table ratchet.stream_chunks (
  run_id uuid not null,
  stream_key text not null,
  seq bigint not null,
  data text not null,
  created_at timestamptz not null,
  primary key (run_id, stream_key, seq),
  foreign key (run_id, stream_key) references ratchet.run_streams (run_id, stream_key) on delete cascade
);
