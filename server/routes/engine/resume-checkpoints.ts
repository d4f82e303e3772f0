// Which dequeued runs resume from a checkpoint (docs/checkpoints.md). A worker that restores
// checkpoints gets each run's checkpoint id with it; one that cannot (the process runner, a host
// without CRIU) replays the run instead, so its checkpoint is deleted and the reason noted.
import type { Sql } from "../../db/client.ts";
import type { DequeuedRun } from "../../engine/execution.ts";
import { attemptsNoteCheckpointFallback, checkpointsDeleteForRuns, checkpointsForAttempts } from "../../storage/checkpoints.ts";

export async function resumeCheckpoints(sql: Sql, runs: DequeuedRun[], workerRestores: boolean): Promise<Map<string, string>> {
  if (runs.length === 0) return new Map();
  const held = runs.map(({ run, attemptNumber }) => ({ runId: run.id, attemptNumber }));
  const found = await checkpointsForAttempts(sql, held);
  if (workerRestores || found.size === 0) return found;
  const replayed = held.filter((lease) => found.has(lease.runId));
  await attemptsNoteCheckpointFallback(sql, replayed, "resumed by a worker that cannot restore checkpoints: replayed");
  await checkpointsDeleteForRuns(sql, replayed.map((lease) => lease.runId));
  return new Map();
}
