// Named queries for realtime streams (sql/0015_realtime.sql): chunks numbered per (run, key), in
// day partitions by the stream's first day (sql/0018).
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

/** The stream keys each run has, for the run shapes' realtimeStreams column. */
export async function streamKeysOfRuns(sql: Sql, runIds: string[]): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  if (runIds.length === 0) return keys;
  const rows = await sql<{ runId: string; streamKey: string }[]>`
    select run_id as "runId", stream_key as "streamKey" from ratchet.run_streams
    where run_id = any(${runIds}::uuid[]) order by created_at, stream_key`;
  for (const row of rows) keys.set(row.runId, [...(keys.get(row.runId) ?? []), row.streamKey]);
  return keys;
}

export async function runStreamsEnsure(sql: Sql, runId: string, environmentId: string, key: string, now: Date): Promise<void> {
  await sql`
    insert into ratchet.run_streams (run_id, environment_id, stream_key, created_at)
    values (${runId}, ${environmentId}, ${key}, ${now})
    on conflict (run_id, stream_key) do nothing`;
}

// The chunk's partition is the UTC day its stream started (sql/0018): every chunk of a stream is in one.
const streamDay = (sql: Queryable, runId: string, key: string) =>
  sql`(select (s.created_at at time zone 'UTC')::date from ratchet.run_streams s where s.run_id = ${runId} and s.stream_key = ${key})`;

/** Postgres's error for a row whose partition does not exist: a check violation naming no constraint. */
function isMissingPartition(error: unknown): boolean {
  const fields = error as { code?: string; constraint_name?: string; table_name?: string };
  return fields.code === "23514" && !fields.constraint_name && fields.table_name === "stream_chunks";
}

/**
 * Runs a write; when the stream's day has no partition (maintenance creates them a week ahead, so
 * only after a long outage), creates it and writes again. Takes the pool: the failed first try
 * would abort a transaction.
 */
async function withPartition(sql: Sql, runId: string, key: string, write: () => Promise<void>): Promise<void> {
  try {
    return await write();
  } catch (error) {
    if (!isMissingPartition(error)) throw error;
  }
  await sql`select ratchet.stream_chunks_ensure_partitions(${streamDay(sql, runId, key)}, 1)`;
  await write();
}

/** Stores chunks at their sequence numbers; a chunk sent again (a resumed pipe) is kept once. */
export async function streamChunksInsert(sql: Sql, runId: string, key: string, firstSeq: number, chunks: string[], now: Date): Promise<void> {
  if (chunks.length === 0) return;
  await withPartition(sql, runId, key, async () => {
    await sql`
      insert into ratchet.stream_chunks (run_id, stream_key, seq, data, created_at, day)
      select ${runId}, ${key}, ${firstSeq} + n.i - 1, n.data, ${now}, ${streamDay(sql, runId, key)}
      from unnest(${chunks}::text[]) with ordinality as n(data, i)
      on conflict do nothing`;
  });
}

/** Appends one chunk after the last (append calls, which carry no sequence number). */
export async function streamChunksAppend(sql: Sql, runId: string, key: string, data: string, now: Date): Promise<void> {
  await withPartition(sql, runId, key, () =>
    sql.begin(async (tx) => {
      await tx`select 1 from ratchet.run_streams where run_id = ${runId} and stream_key = ${key} for update`;
      await tx`
        insert into ratchet.stream_chunks (run_id, stream_key, seq, data, created_at, day)
        select ${runId}, ${key}, coalesce(max(seq) + 1, 0), ${data}, ${now}, ${streamDay(tx, runId, key)}
        from ratchet.stream_chunks where run_id = ${runId} and stream_key = ${key}`;
    }),
  );
}

/** Ensures the partitions of `days` UTC days from `from`'s day; returns how many it created. */
export async function streamChunksEnsurePartitions(sql: Queryable, from: Date, days: number): Promise<number> {
  const [row] = await sql<{ created: number }[]>`select ratchet.stream_chunks_ensure_partitions(${from.toISOString().slice(0, 10)}::date, ${days}::integer) as created`;
  return row?.created ?? 0;
}

/** Drops the partitions of streams started before `before`'s UTC day; returns how many it dropped. */
export async function streamChunksDropBefore(sql: Queryable, before: Date): Promise<number> {
  const [row] = await sql<{ dropped: number }[]>`select ratchet.stream_chunks_drop_partitions_before(${before.toISOString().slice(0, 10)}::date) as dropped`;
  return row?.dropped ?? 0;
}

/** Takes the stream partition lock for the transaction unless another session holds it. */
export async function streamChunksTryPartitionLock(tx: TransactionSql): Promise<boolean> {
  await tx`set local lock_timeout = '5s'`;
  const [row] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(7245110218) as locked`;
  return row?.locked ?? false;
}

/** The partitions attached to ratchet.stream_chunks, oldest first. */
export async function streamChunksListPartitions(sql: Queryable): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'ratchet.stream_chunks'::regclass order by c.relname`;
  return rows.map((row) => row.name);
}

export async function streamLastSeq(sql: Sql, runId: string, key: string): Promise<number> {
  const [row] = await sql<{ last: string | null }[]>`
    select max(seq)::text as last from ratchet.stream_chunks where run_id = ${runId} and stream_key = ${key}`;
  return row?.last === null || row?.last === undefined ? -1 : Number(row.last);
}

export async function runStreamsComplete(sql: Sql, runId: string, key: string, now: Date): Promise<void> {
  await sql`update ratchet.run_streams set completed_at = ${now} where run_id = ${runId} and stream_key = ${key}`;
}

export interface StreamRead {
  chunks: Array<{ seq: string; data: string }>;
  /** The writer finished, or the run did: no chunk will follow the last one. */
  ended: boolean;
}

export async function streamChunksAfter(sql: Sql, runId: string, key: string, afterSeq: number, limit: number): Promise<StreamRead> {
  const [state] = await sql<{ ended: boolean }[]>`
    select (s.completed_at is not null or r.finished_at is not null) as ended
    from ratchet.runs r left join ratchet.run_streams s on s.run_id = r.id and s.stream_key = ${key}
    where r.id = ${runId}`;
  // Read after the state: a chunk written before the writer ended is then certainly seen.
  const chunks = await sql<Array<{ seq: string; data: string }>>`
    select seq::text, data from ratchet.stream_chunks
    where run_id = ${runId} and stream_key = ${key} and seq > ${afterSeq}
    order by stream_chunks.seq limit ${limit}`;
  return { chunks, ended: (state?.ended ?? true) && chunks.length < limit };
}
