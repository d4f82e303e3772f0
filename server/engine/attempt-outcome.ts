// What happens to a run when an attempt ends: completed, retried (back to the queue with backoff),
// or failed for good. Used by worker completions and by the sweepers (lost leases, timeouts), always
// inside the transaction that removed the run's execution row, so each attempt ends exactly once.
import type { TransactionSql } from "../db/client.ts";
import { maxAttemptsFor, nextRetryDelayMs } from "./retry.ts";
import { attemptsFinish, runsFinish, runsRequeueForRetry, runsRetryInPlace } from "../storage/attempt-outcomes.ts";
import { runsLockForOutcome, type RunForOutcome } from "../storage/executions.ts";
import { completeWaitpointsForFinishedRun } from "./waitpoints.ts";
import type { RunStatus } from "./run-status.ts";

export interface ExecutionRow {
  runId: string;
  environmentId: string;
  queueId: string;
  concurrencyKey: string;
  attemptNumber: number;
  workerId: string;
}

export interface TaskRunError {
  type?: string;
  name?: string;
  message: string;
  stackTrace?: string;
  code?: string;
  [key: string]: unknown;
}

export type AttemptOutcome =
  | { kind: "success"; output: string | null; outputType: string }
  | {
      kind: "failure";
      error: TaskRunError;
      /** FAILED (retry policy decides), or a final status that is never retried. */
      status: "FAILED" | "CRASHED" | "TIMED_OUT" | "SYSTEM_FAILURE";
      skipRetrying?: boolean;
      /** A CRASHED attempt that follows the retry policy (a container that died); ends CRASHED when no retry is left. */
      retryable?: boolean;
      /** The worker's own delay (catchError's retryAt/retryDelayInMs). */
      retryDelayMs?: number;
    }
  | { kind: "canceled" };

export interface OutcomeResult {
  status: RunStatus;
  /** Set when the run went back to the queue: the environment has work again. */
  requeued: boolean;
  retryAt: Date | null;
  /** Set when the retry stays with the same worker: the attempt it should run next. */
  nextAttemptNumber?: number;
  /** Environments where runs waiting for this one were queued again. */
  resumed?: string[];
}

export interface OutcomeOptions {
  /**
   * A retry due within this many ms stays with the worker that ran the attempt, keeping its
   * concurrency slot (as Trigger.dev retries short delays in the same process). Longer delays go back
   * to the queue.
   */
  retryInPlaceWithinMs?: number;
  leaseSeconds?: number;
}


const canceledError: TaskRunError = { type: "STRING_ERROR", message: "Run was canceled", name: "Error" };

/**
 * `lockedRun` is the run as runsLockForOutcome read it, when the caller already asked for it in the
 * same round trip as removing the execution.
 */
export async function applyAttemptOutcome(
  tx: TransactionSql,
  execution: ExecutionRow,
  outcome: AttemptOutcome,
  now: Date,
  options: OutcomeOptions = {},
  lockedRun?: RunForOutcome | null,
): Promise<OutcomeResult> {
  const run = lockedRun === undefined ? await runsLockForOutcome(tx, execution.environmentId, execution.runId) : lockedRun;
  if (!run) return { status: "SYSTEM_FAILURE", requeued: false, retryAt: null };

  const finishAttempt = (status: "COMPLETED" | "FAILED" | "CANCELED" | "CRASHED", error: TaskRunError | null) =>
    attemptsFinish(tx, execution, status, error, now);

  const finishRun = async (status: RunStatus, fields: { output?: string | null; outputType?: string | null; error?: TaskRunError | null }) => {
    await runsFinish(tx, execution.runId, status, fields, now);
    const resumed = await completeWaitpointsForFinishedRun(tx, execution.runId, now);
    return { status, requeued: false, retryAt: null, resumed };
  };
  // The attempt's and the run's updates go out together (pipelined): one round trip, not two.
  const finishBoth = async (
    attemptStatus: "COMPLETED" | "FAILED" | "CANCELED",
    attemptError: TaskRunError | null,
    status: RunStatus,
    fields: Parameters<typeof finishRun>[1],
  ) => (await Promise.all([finishAttempt(attemptStatus, attemptError), finishRun(status, fields)]))[1];

  if (outcome.kind === "canceled" || run.cancelRequestedAt !== null) {
    return finishBoth("CANCELED", canceledError, "CANCELED", { error: canceledError });
  }
  if (outcome.kind === "success") {
    return finishBoth("COMPLETED", null, "COMPLETED", { output: outcome.output, outputType: outcome.outputType });
  }

  await finishAttempt(outcome.status === "CRASHED" ? "CRASHED" : "FAILED", outcome.error);
  const retried = outcome.status === "FAILED" || (outcome.status === "CRASHED" && outcome.retryable === true);
  if (retried && !outcome.skipRetrying) {
    const maxAttempts = maxAttemptsFor(run.retry, run.maxAttempts);
    const policyDelay = nextRetryDelayMs(run.retry, execution.attemptNumber, maxAttempts);
    const delay = policyDelay === null ? null : (outcome.retryDelayMs ?? policyDelay);
    if (delay !== null && options.retryInPlaceWithinMs !== undefined && delay <= options.retryInPlaceWithinMs) {
      const retryAt = new Date(now.getTime() + delay);
      const next = execution.attemptNumber + 1;
      await runsRetryInPlace(tx, execution, next, outcome.error, new Date(retryAt.getTime() + (options.leaseSeconds ?? 60) * 1000), now);
      return { status: run.status, requeued: false, retryAt, nextAttemptNumber: next };
    }
    if (delay !== null) {
      const retryAt = new Date(now.getTime() + delay);
      // A retry keeps the run's place in line: it goes ahead of runs queued after it.
      await runsRequeueForRetry(tx, execution, outcome.error, new Date((run.queuedAt ?? now).getTime() - run.priorityMs), retryAt, now);
      return { status: "QUEUED", requeued: true, retryAt };
    }
  }
  return finishRun(outcome.status, { error: outcome.error });
}
