-- Run events: the logs and spans workers report while they execute runs (what Trigger.dev keeps in
-- ClickHouse). Append-only and high-volume, so the table is partitioned by day and old days are
-- dropped whole (a DROP TABLE per day, no DELETE, no vacuum debt). See docs/events.md.
--
-- events              partitioned by range of `time`, one partition per UTC day named events_YYYYMMDD.
--                     No foreign keys: events age out by retention, not with their runs, and inserts
--                     stay cheap. The routes check that the run belongs to the caller's environment.
--
-- There is deliberately no DEFAULT partition. Postgres refuses to create a day's partition while a
-- default partition holds rows of that day, so one stray row would block maintenance until someone
-- moved it by hand; rows in a default partition would also escape retention. Instead partitions are
-- created ahead of time (hourly, server/engine/events-maintenance.ts) and, should an insert still
-- meet a missing day, the insert creates that day's partition and retries (server/storage/events.ts).
--
-- Partition DDL (create and drop) is serialised by one advisory lock, key 7245110202, which
-- server/storage/events.ts names eventsPartitionLockKey.

create table ratchet.events (
  id uuid not null default gen_random_uuid(),
  environment_id uuid not null,
  run_id uuid not null,
  attempt_number integer not null check (attempt_number >= 1),
  -- The worker's sequence number within the attempt: a stable order for events of the same time.
  seq integer not null check (seq >= 0),
  time timestamptz not null,
  kind text not null check (kind in ('log', 'span')),
  level text not null check (level in ('trace', 'debug', 'log', 'info', 'warn', 'error')),
  message text not null check (octet_length(message) <= 65536),
  attributes jsonb,
  span_id text,
  parent_span_id text,
  -- Spans: how long the span lasted.
  duration_ms double precision check (duration_ms >= 0),
  -- Partitioned tables need the partition key in every unique constraint. This key is also the
  -- index that reads one run's events in order; a retried batch conflicts on it and is stored once.
  primary key (run_id, time, attempt_number, seq)
) partition by range (time);

-- Creates the partitions of p_days UTC days starting at p_from (events_YYYYMMDD, each holding
-- [day 00:00 UTC, next day 00:00 UTC)) unless they exist. Returns how many it created. Safe to call
-- from several sessions at once: they take turns on the advisory lock.
create function ratchet.events_ensure_partitions(p_from date, p_days integer) returns integer
language plpgsql as $$
declare
  v_day date;
  v_name text;
  v_attached boolean;
  v_created integer := 0;
begin
  if p_from is null or p_days is null or p_days < 1 then
    return 0;
  end if;
  if p_days > 3660 then
    raise exception 'events_ensure_partitions: % days is more than ten years of partitions', p_days;
  end if;
  perform pg_advisory_xact_lock(7245110202);
  for v_offset in 0 .. p_days - 1 loop
    v_day := p_from + v_offset;
    v_name := 'events_' || to_char(v_day, 'YYYYMMDD');
    -- A catalog query rather than to_regclass: it reads a fresh snapshot, so a partition that another
    -- session committed while this one waited for the lock is seen.
    select exists (select 1 from pg_inherits inh where inh.inhrelid = c.oid and inh.inhparent = 'ratchet.events'::regclass)
    into v_attached
    from pg_class c
    where c.relnamespace = 'ratchet'::regnamespace and c.relname = v_name;
    if found then
      if not v_attached then
        raise exception 'ratchet.% exists but is not a partition of ratchet.events', v_name
          using hint = 'Attach it (ALTER TABLE ratchet.events ATTACH PARTITION …) or rename it.';
      end if;
      continue;
    end if;
    execute format(
      'create table if not exists ratchet.%I partition of ratchet.events for values from (%L) to (%L)',
      v_name,
      to_char(v_day, 'YYYY-MM-DD') || ' 00:00:00+00',
      to_char(v_day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
    v_created := v_created + 1;
  end loop;
  return v_created;
end;
$$;

-- Drops the day partitions of ratchet.events for days before p_before; returns how many it dropped.
-- Only tables named events_YYYYMMDD that are attached to ratchet.events are touched.
create function ratchet.events_drop_partitions_before(p_before date) returns integer
language plpgsql as $$
declare
  v_name text;
  v_dropped integer := 0;
begin
  if p_before is null then
    return 0;
  end if;
  perform pg_advisory_xact_lock(7245110202);
  for v_name in
    select c.relname
    from pg_inherits inh join pg_class c on c.oid = inh.inhrelid
    where inh.inhparent = 'ratchet.events'::regclass
      and c.relnamespace = 'ratchet'::regnamespace
      and c.relname ~ '^events_[0-9]{8}$'
      -- Fixed-width YYYYMMDD names compare as their dates do.
      and c.relname < 'events_' || to_char(p_before, 'YYYYMMDD')
    order by c.relname
  loop
    execute format('drop table ratchet.%I', v_name);
    v_dropped := v_dropped + 1;
  end loop;
  return v_dropped;
end;
$$;

-- A fresh install can record events at once: today (UTC) and the next seven days.
select ratchet.events_ensure_partitions((now() at time zone 'UTC')::date, 8);
