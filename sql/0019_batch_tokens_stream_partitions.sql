-- A batch triggered with a public access token (auth.createBatchTriggerPublicToken) remembers the
-- SHA-256 of that token: its items (the second phase, POST /api/v3/batches/{id}/items) are accepted
-- only with the same token, so a token spent on creating one batch cannot fill another. See
-- docs/realtime.md.
alter table ratchet.batches add column public_token_hash bytea;

-- Stream chunks, partitioned by day like ratchet.events, so that retention drops whole days instead
-- of deleting rows one by one. The partition key is the UTC day the *stream* started (run_streams.
-- created_at), not the chunk's own time: every chunk of a stream lands in one partition, so the
-- primary key still deduplicates a resent chunk, and retention never leaves a stream with a hole in
-- the middle. Partitions are stream_chunks_YYYYMMDD; as for events there is no DEFAULT partition
-- (server/storage/stream-chunks.ts creates a missing day and retries). See docs/realtime.md.
alter table ratchet.stream_chunks rename to stream_chunks_unpartitioned;
alter table ratchet.stream_chunks_unpartitioned rename constraint stream_chunks_pkey to stream_chunks_unpartitioned_pkey;

create table ratchet.stream_chunks (
  run_id uuid not null,
  stream_key text not null,
  seq bigint not null,
  data text not null,
  created_at timestamptz not null,
  day date not null,
  primary key (run_id, stream_key, seq, day),
  foreign key (run_id, stream_key) references ratchet.run_streams (run_id, stream_key) on delete cascade
) partition by range (day);

-- Creates the partitions of p_days UTC days starting at p_from unless they exist; returns how many it
-- created. Sessions take turns on the advisory lock, so several replicas may call it at once.
create function ratchet.stream_chunks_ensure_partitions(p_from date, p_days integer) returns integer
language plpgsql as $$
declare
  v_day date;
  v_name text;
  v_created integer := 0;
begin
  if p_from is null or p_days is null or p_days < 1 then
    return 0;
  end if;
  if p_days > 3660 then
    raise exception 'stream_chunks_ensure_partitions: % days is more than ten years of partitions', p_days;
  end if;
  perform pg_advisory_xact_lock(7245110218);
  for v_offset in 0 .. p_days - 1 loop
    v_day := p_from + v_offset;
    v_name := 'stream_chunks_' || to_char(v_day, 'YYYYMMDD');
    -- A catalog query (a fresh snapshot) sees a partition another session committed meanwhile.
    if exists (select 1 from pg_class c where c.relnamespace = 'ratchet'::regnamespace and c.relname = v_name) then
      continue;
    end if;
    execute format('create table ratchet.%I partition of ratchet.stream_chunks for values from (%L) to (%L)', v_name, v_day, v_day + 1);
    v_created := v_created + 1;
  end loop;
  return v_created;
end;
$$;

-- Drops the day partitions of days before p_before; returns how many it dropped.
create function ratchet.stream_chunks_drop_partitions_before(p_before date) returns integer
language plpgsql as $$
declare
  v_name text;
  v_dropped integer := 0;
begin
  if p_before is null then
    return 0;
  end if;
  perform pg_advisory_xact_lock(7245110218);
  for v_name in
    select c.relname
    from pg_inherits inh join pg_class c on c.oid = inh.inhrelid
    where inh.inhparent = 'ratchet.stream_chunks'::regclass
      and c.relnamespace = 'ratchet'::regnamespace
      and c.relname ~ '^stream_chunks_[0-9]{8}$'
      and c.relname < 'stream_chunks_' || to_char(p_before, 'YYYYMMDD')
    order by c.relname
  loop
    execute format('drop table ratchet.%I', v_name);
    v_dropped := v_dropped + 1;
  end loop;
  return v_dropped;
end;
$$;

-- The days existing streams started on (at most ten years back), today and the next seven days.
select ratchet.stream_chunks_ensure_partitions(d, 1)
from (
  select distinct (s.created_at at time zone 'UTC')::date as d
  from ratchet.run_streams s
  where s.created_at > now() - interval '3650 days'
  union
  select (now() at time zone 'UTC')::date + n from generate_series(0, 7) n
) days;

insert into ratchet.stream_chunks (run_id, stream_key, seq, data, created_at, day)
select c.run_id, c.stream_key, c.seq, c.data, c.created_at, (s.created_at at time zone 'UTC')::date
from ratchet.stream_chunks_unpartitioned c
join ratchet.run_streams s on s.run_id = c.run_id and s.stream_key = c.stream_key
where s.created_at > now() - interval '3650 days';

drop table ratchet.stream_chunks_unpartitioned;
