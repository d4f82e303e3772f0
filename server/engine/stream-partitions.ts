// Keeps ratchet.stream_chunks' day partitions in shape, as events-maintenance.ts does for events:
// creates them a week ahead and drops the days of streams started before the retention. One server
// process does a pass while the others skip theirs (pg_try_advisory_xact_lock). See docs/realtime.md.
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { streamChunksDropBefore, streamChunksEnsurePartitions, streamChunksTryPartitionLock } from "../storage/stream-chunks.ts";

export const streamPartitionsAheadDays = 7;
const dayMs = 86_400_000;

export interface StreamPartitionResult {
  skipped: boolean;
  created: number;
  dropped: number;
}

/** One pass in one transaction: partitions of today … today + 7, and none before today − retentionDays. */
export async function maintainStreamPartitions(deps: { db: Db; clock: Clock }, retentionDays: number): Promise<StreamPartitionResult> {
  const now = deps.clock.now();
  return deps.db.sql.begin(async (tx) => {
    if (!(await streamChunksTryPartitionLock(tx))) return { skipped: true, created: 0, dropped: 0 };
    const created = await streamChunksEnsurePartitions(tx, now, streamPartitionsAheadDays + 1);
    const dropped = await streamChunksDropBefore(tx, new Date(now.getTime() - retentionDays * dayMs));
    return { skipped: false, created, dropped };
  });
}
