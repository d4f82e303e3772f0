// Named queries for how an attempt ends: the attempt's and the run's final fields, a retry kept by
// the same worker, a retry back to the queue (see engine/attempt-outcome.ts, which decides).
import type { TransactionSql } from "../db/client.ts";
import type { ExecutionRow, TaskRunError } from "../engine/attempt-outcome.ts";
import type { RunStatus } from "../engine/run-status.ts";

export async function attemptsFinish(
  tx: TransactionSql,
  attempt: { runId: string; attemptNumber: number },
  status: "COMPLETED" | "FAILED" | "CANCELED" | "CRASHED",
  error: TaskRunError | null,
  now: Date,
): Promise<void> {
  await tx`
    update ratchet.attempts set status = ${status}, finished_at = ${now}, error = ${error === null ? null : tx.json(error as never)}
    where run_id = ${attempt.runId} and number = ${attempt.attemptNumber}`;
}

export async function runsFinish(
  tx: TransactionSql,
  runId: string,
  status: RunStatus,
  fields: { output?: string | null; outputType?: string | null; error?: TaskRunError | null },
  now: Date,
): Promise<void> {
  await tx`
    update ratchet.runs set status = ${status}, output = ${fields.output ?? null}::text::json, output_type = ${fields.outputType ?? null},
      error = ${fields.error ? tx.json(fields.error as never) : null}, finished_at = ${now}, updated_at = ${now}
    where id = ${runId}`;
}

/** The next attempt, leased to the same worker until `leaseUntil` (statements pipelined). */
export async function runsRetryInPlace(
  tx: TransactionSql,
  execution: ExecutionRow,
  next: number,
  error: TaskRunError,
  leaseUntil: Date,
  now: Date,
): Promise<void> {
  await Promise.all([
    tx`
      update ratchet.runs set attempt_count = ${next}, error = ${tx.json(error as never)}, updated_at = ${now}
      where id = ${execution.runId}`,
    tx`
      insert into ratchet.executions (run_id, environment_id, queue_id, concurrency_key, attempt_number, worker_id, lease_expires_at)
      values (${execution.runId}, ${execution.environmentId}, ${execution.queueId}, ${execution.concurrencyKey}, ${next},
        ${execution.workerId}, ${leaseUntil})`,
    tx`
      insert into ratchet.attempts (run_id, number, status, worker_id, created_at)
      values (${execution.runId}, ${next}, 'EXECUTING', ${execution.workerId}, ${now})`,
  ]);
}

/** Back to the queue at `sortKey` (its old place in line), not before `availableAt` (pipelined). */
export async function runsRequeueForRetry(
  tx: TransactionSql,
  execution: ExecutionRow,
  error: TaskRunError,
  sortKey: Date,
  availableAt: Date,
  now: Date,
): Promise<void> {
  await Promise.all([
    tx`
      update ratchet.runs set status = 'QUEUED', error = ${tx.json(error as never)}, updated_at = ${now}
      where id = ${execution.runId}`,
    tx`
      insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
      select ${execution.runId}, ${execution.environmentId}, ${execution.queueId}, ${execution.concurrencyKey}, ${sortKey}, ${availableAt},
        coalesce(r.lock_to_version, '') from ratchet.runs r where r.id = ${execution.runId}
      on conflict (run_id) do nothing`,
  ]);
}
