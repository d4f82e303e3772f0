// Completing waitpoints, and what follows: the journal entries waiting on them get their results,
// and runs no longer blocked by anything go back to the queue, ahead of new runs.
import type { TransactionSql } from "../db/client.ts";
import { toPublicId } from "../ids.ts";
import {
  batchesShareLock,
  batchesResultsIfFinished,
  journalCompleteFromWaitpoints,
  runsResultForWaitpoint,
  runWaitpointsBlockedRuns,
  runsResumeIfUnblocked,
  waitpointsComplete,
  waitpointsWaitingForBatch,
  waitpointsWaitingForRun,
} from "../storage/waitpoints.ts";

export interface WaitpointResult {
  status: "COMPLETED" | "TIMED_OUT";
  output: string | null;
  outputType: string;
  isError: boolean;
}

/** Completes waitpoints and resumes what they blocked; returns environments with runs queued again. */
export async function completeWaitpoints(tx: TransactionSql, ids: string[], result: WaitpointResult, now: Date): Promise<string[]> {
  const completed = await waitpointsComplete(tx, ids, result, now);
  if (completed.length === 0) return [];
  await journalCompleteFromWaitpoints(tx, completed, now);
  const environments = new Set<string>();
  for (const runId of await runWaitpointsBlockedRuns(tx, completed)) {
    const environmentId = await runsResumeIfUnblocked(tx, runId, now);
    if (environmentId) environments.add(environmentId);
  }
  return [...environments];
}

function publicResult(result: Record<string, unknown>, runId: string): Record<string, unknown> {
  return { ...result, id: toPublicId("run", runId) };
}

/**
 * A run reached a final status: whoever waits for it (triggerAndWait) gets its result, and when it
 * was the last of its batch to finish, whoever waits for the batch gets all of them, in order.
 */
export async function completeWaitpointsForFinishedRun(tx: TransactionSql, runId: string, now: Date): Promise<string[]> {
  // Sent together (pipelined on the transaction's connection): one round trip for a run nobody waits on.
  const [finished, forRun] = await Promise.all([runsResultForWaitpoint(tx, runId), waitpointsWaitingForRun(tx, runId)]);
  if (!finished) return [];
  const environments: string[] = [];
  if (forRun.length > 0) {
    environments.push(
      ...(await completeWaitpoints(
        tx,
        forRun,
        { status: "COMPLETED", output: JSON.stringify(publicResult(finished.result, runId)), outputType: "application/json", isError: finished.result.ok !== true },
        now,
      )),
    );
  }
  if (finished.batchId) {
    // The share lock orders this against a run starting to wait for the batch (which takes it FOR
    // UPDATE). Children finishing together then queue on the waitpoint rows (locked FOR UPDATE), so
    // each "is everything done?" check sees the commits before it and the last child to finish always
    // completes the wait; a batch nobody waits for costs its children no waiting at all. The lock
    // runs before the read: both go out together and run in order.
    const [, forBatch] = await Promise.all([batchesShareLock(tx, finished.batchId), waitpointsWaitingForBatch(tx, finished.batchId)]);
    if (forBatch.length > 0) {
      const results = await batchesResultsIfFinished(tx, finished.batchId);
      if (results) {
        const items = results.map(({ runId: id, ...rest }) => publicResult(rest, id as string));
        environments.push(
          ...(await completeWaitpoints(tx, forBatch, { status: "COMPLETED", output: JSON.stringify(items), outputType: "application/json", isError: false }, now)),
        );
      }
    }
  }
  return environments;
}
