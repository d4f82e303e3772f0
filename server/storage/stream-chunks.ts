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
