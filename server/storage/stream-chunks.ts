// Named queries for realtime streams (sql/0015_realtime.sql): chunks numbered per (run, key).
import type { Sql } from "../db/client.ts";

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

/** Stores chunks at their sequence numbers; a chunk sent again (a resumed pipe) is kept once. */
export async function streamChunksInsert(sql: Sql, runId: string, key: string, firstSeq: number, chunks: string[], now: Date): Promise<void> {
  if (chunks.length === 0) return;
  await sql`
    insert into ratchet.stream_chunks (run_id, stream_key, seq, data, created_at)
    select ${runId}, ${key}, ${firstSeq} + n.i - 1, n.data, ${now}
    from unnest(${chunks}::text[]) with ordinality as n(data, i)
    on conflict do nothing`;
}

/** Appends one chunk after the last (append calls, which carry no sequence number). */
export async function streamChunksAppend(sql: Sql, runId: string, key: string, data: string, now: Date): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select 1 from ratchet.run_streams where run_id = ${runId} and stream_key = ${key} for update`;
    await tx`
      insert into ratchet.stream_chunks (run_id, stream_key, seq, data, created_at)
      select ${runId}, ${key}, coalesce(max(seq) + 1, 0), ${data}, ${now}
      from ratchet.stream_chunks where run_id = ${runId} and stream_key = ${key}`;
  });
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
