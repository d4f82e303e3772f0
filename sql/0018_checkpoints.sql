-- Checkpoints: a suspended container's CRIU image, packed (tar + gzip) and kept as a Postgres large
-- object, so a run waiting a long time holds no container and no concurrency slot and resumes on any
-- runner host exactly where it stopped (docs/checkpoints.md).
--
-- One row per checkpoint. The row goes with its run (on delete cascade, like the journal); the large
-- object is not a row, so the trigger below unlinks it whenever a row goes, by whatever path (the
-- run resumed, finished, was deleted by retention, or its environment went). The orphan sweeper
-- (checkpointsSweepOrphans) collects objects whose row never committed, e.g. a server that died
-- while streaming one in.
create table ratchet.checkpoints (
  id uuid primary key,
  run_id uuid not null references ratchet.runs (id) on delete cascade,
  environment_id uuid not null references ratchet.environments (id) on delete cascade,
  attempt integer not null check (attempt >= 1),
  worker_version text,
  image text not null check (length(image) between 1 and 1024),
  -- The container's mounts and settings to recreate it with, as the runner passes them (JSON).
  container_config jsonb not null default '{}'::jsonb,
  size_raw bigint not null check (size_raw >= 0),
  size_stored bigint not null check (size_stored >= 0),
  lo_oid oid not null unique,
  created_at timestamptz not null default now()
);

create index checkpoints_run_idx on ratchet.checkpoints (run_id, created_at desc);
create index checkpoints_environment_idx on ratchet.checkpoints (environment_id);

create function ratchet.checkpoints_unlink_object() returns trigger language plpgsql as $$
begin
  -- An object already unlinked (by hand, or by a sweeper) is not an error.
  if exists (select 1 from pg_catalog.pg_largeobject_metadata where oid = old.lo_oid) then
    perform pg_catalog.lo_unlink(old.lo_oid);
  end if;
  return old;
end
$$;

create trigger checkpoints_unlink_object after delete on ratchet.checkpoints
  for each row execute function ratchet.checkpoints_unlink_object();
