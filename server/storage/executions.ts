// Named queries for executions (runs holding a slot, with their leases) and attempts.
import type { Sql, TransactionSql } from "../db/client.ts";
import type { ExecutionRow } from "../engine/attempt-outcome.ts";
import type { RetryPolicy } from "../engine/retry.ts";
import type { RunStatus } from "../engine/run-status.ts";

type Queryable = Sql | TransactionSql;

/**
 * What identifies a lease: the run, its attempt, the worker holding it and the environment of the
 * key it acts with. Worker ids are picked by workers and are no secret, so every query below also
 * matches the environment: a key of another environment or project that sends the holder's worker id
 * matches nothing.
 */
export interface WorkerLease {
  environmentId: string;
  runId: string;
  attemptNumber: number;
  workerId: string;
}

const executionColumns = `run_id as "runId", environment_id as "environmentId", queue_id as "queueId",
  concurrency_key as "concurrencyKey", attempt_number as "attemptNumber", worker_id as "workerId"`;

/**
 * Claims up to `max` runs of an environment, in one statement (see ratchet.dequeue_runs in
 * sql/0016_deployments_and_pinned_versions.sql): fixes their task settings and, with `start`, starts them.
 */
export async function executionsDequeue(
  sql: Queryable,
  request: {
    environmentId: string;
    workerId: string;
    max: number;
    leaseSeconds: number;
    now: Date;
    start: boolean;
    deadlineGraceSeconds: number;
    /** The versions the worker serves; null: the environment's current one. */
    versions: string[] | null;
  },
): Promise<Array<{ runId: string; attemptNumber: number }>> {
  return sql<Array<{ runId: string; attemptNumber: number }>>`
    select run_id as "runId", attempt_number as "attemptNumber"
    from ratchet.dequeue_runs(${request.environmentId}, ${request.workerId}, ${request.max}, ${request.leaseSeconds}, ${request.now},
      ${request.start}, ${request.deadlineGraceSeconds}, ${request.versions}::text[])`;
}

/** Marks an attempt as started; false when the worker no longer holds the lease. */
export async function executionsStart(
  sql: Sql,
  lease: WorkerLease,
  now: Date,
  deadlineGraceSeconds: number,
): Promise<boolean> {
  return sql.begin(async (tx) => {
    const rows = await tx`
      update ratchet.executions x set started_at = coalesce(x.started_at, ${now}),
        deadline_at = case when r.max_duration_s is null then null
          else ${now}::timestamptz + make_interval(secs => r.max_duration_s + ${deadlineGraceSeconds}) end
      from ratchet.runs r
      where x.run_id = ${lease.runId} and x.attempt_number = ${lease.attemptNumber} and x.worker_id = ${lease.workerId}
        and x.environment_id = ${lease.environmentId} and r.id = x.run_id and r.environment_id = ${lease.environmentId}
      returning x.run_id`;
    if (rows.length === 0) return false;
    await tx`update ratchet.runs set status = 'EXECUTING', started_at = coalesce(started_at, ${now}), updated_at = ${now}
      where id = ${lease.runId} and environment_id = ${lease.environmentId} and status = 'DEQUEUED'`;
    await tx`update ratchet.attempts set started_at = coalesce(started_at, ${now})
      where run_id = ${lease.runId} and number = ${lease.attemptNumber}`;
    return true;
  });
}

/**
 * Extends the leases a worker still holds; returns which runs it holds and which of those were
 * canceled. A lease belongs to the run and the worker: a retry in place moves it to the next attempt
 * without the worker losing it.
 */
export async function executionsHeartbeat(
  sql: Sql,
  holder: { environmentId: string; workerId: string },
  runIds: string[],
  leaseUntil: Date,
  heartbeatId: string | null = null,
): Promise<Array<{ runId: string; cancelRequested: boolean }>> {
  if (runIds.length === 0) return [];
  // A heartbeat is proof of life: it clears a dropped-connection mark, whichever server set it.
  return sql<Array<{ runId: string; cancelRequested: boolean }>>`
    update ratchet.executions x set lease_expires_at = greatest(x.lease_expires_at, ${leaseUntil}),
      heartbeat_id = ${heartbeatId}, connection_lost_at = null
    from ratchet.runs r
    where x.run_id = any(${runIds}::uuid[]) and x.worker_id = ${holder.workerId} and x.environment_id = ${holder.environmentId}
      and r.id = x.run_id
    returning x.run_id as "runId", r.cancel_requested_at is not null as "cancelRequested"`;
}

/**
 * Marks the leases that the heartbeat `heartbeatId` was the last to renew, and those of the same
 * worker that no heartbeat has renewed yet (runs it received while this heartbeat was waiting): its
 * connection closed before it was answered. Leases a newer heartbeat renewed (through any server)
 * are left alone.
 */
export async function executionsMarkConnectionLost(
  sql: Sql,
  heartbeat: { environmentId: string; workerId: string; runIds: string[]; heartbeatId: string },
  now: Date,
): Promise<number> {
  if (heartbeat.runIds.length === 0) return 0;
  const rows = await sql`
    update ratchet.executions set connection_lost_at = ${now}
    where worker_id = ${heartbeat.workerId} and environment_id = ${heartbeat.environmentId} and connection_lost_at is null
      and ((run_id = any(${heartbeat.runIds}::uuid[]) and heartbeat_id = ${heartbeat.heartbeatId}) or heartbeat_id is null)
    returning run_id`;
  return rows.length;
}

/**
 * Marks the leases of a worker that no heartbeat has renewed yet: its dequeue connection closed
 * before it was answered, and for a run it has only just received, that connection is all there is.
 */
export async function executionsMarkUnrenewedConnectionLost(
  sql: Sql,
  worker: { environmentId: string; workerId: string },
  now: Date,
): Promise<number> {
  const rows = await sql`
    update ratchet.executions set connection_lost_at = ${now}
    where worker_id = ${worker.workerId} and environment_id = ${worker.environmentId}
      and heartbeat_id is null and connection_lost_at is null
    returning run_id`;
  return rows.length;
}

/**
 * The same answer as executionsHeartbeat without extending anything: a read, so it takes no row
 * locks. Besides the runs named, the worker's other runs whose cancel was requested (runs it received
 * after the heartbeat was sent), so that a waiting heartbeat carries every cancel of this worker.
 */
export async function executionsHeld(
  sql: Sql,
  holder: { environmentId: string; workerId: string },
  runIds: string[],
): Promise<Array<{ runId: string; cancelRequested: boolean }>> {
  if (runIds.length === 0) return [];
  return sql<Array<{ runId: string; cancelRequested: boolean }>>`
    select x.run_id as "runId", r.cancel_requested_at is not null as "cancelRequested"
    from ratchet.executions x join ratchet.runs r on r.id = x.run_id
    where x.worker_id = ${holder.workerId} and x.environment_id = ${holder.environmentId}
      and (x.run_id = any(${runIds}::uuid[]) or r.cancel_requested_at is not null)`;
}

export interface RunForOutcome {
  status: RunStatus;
  retry: RetryPolicy | null;
  maxAttempts: number | null;
  queuedAt: Date | null;
  priorityMs: number;
  cancelRequestedAt: Date | null;
}

/** The run whose attempt is ending, locked for the rest of the transaction. */
export async function runsLockForOutcome(tx: Queryable, environmentId: string, runId: string): Promise<RunForOutcome | null> {
  const [run] = await tx<RunForOutcome[]>`
    select status, retry, max_attempts as "maxAttempts", queued_at as "queuedAt", priority_ms as "priorityMs",
      cancel_requested_at as "cancelRequestedAt"
    from ratchet.runs where id = ${runId} and environment_id = ${environmentId} for update`;
  return run ?? null;
}

/** What the fast path answers; a completed attempt comes with what its metrics need. */
export interface FastCompletion {
  outcome: "completed" | "general" | "lost";
  environmentId: string | null;
  taskIdentifier: string | null;
  durationSeconds: number | null;
}

/**
 * Completes a successful attempt in one statement when nothing else has to happen (see
 * sql/0027_complete_fast_returns_timing.sql); 'general' when the caller must take the general path.
 */
export async function executionsCompleteFast(
  sql: Sql,
  lease: WorkerLease,
  output: { output: string | null; outputType: string },
  now: Date,
): Promise<FastCompletion> {
  const [row] = await sql<FastCompletion[]>`
    select outcome, environment_id as "environmentId", task_identifier as "taskIdentifier", duration_seconds as "durationSeconds"
    from ratchet.complete_attempt_fast(${lease.environmentId}, ${lease.runId}, ${lease.attemptNumber}, ${lease.workerId}, ${output.output}, ${output.outputType}, ${now})`;
  return row!;
}

/** Removes the execution of a lease the worker holds; null when it does not hold it any more. */
export async function executionsRelease(tx: TransactionSql, lease: WorkerLease): Promise<ExecutionRow | null> {
  const [row] = await tx<ExecutionRow[]>`
    delete from ratchet.executions
    where run_id = ${lease.runId} and attempt_number = ${lease.attemptNumber} and worker_id = ${lease.workerId}
      and environment_id = ${lease.environmentId}
    returning ${tx.unsafe(executionColumns)}`;
  return row ?? null;
}

/**
 * Claims executions whose lease or deadline has passed, or whose worker's heartbeat connection
 * dropped at or before `connectionLostBy` with no heartbeat since (SKIP LOCKED: safe with several
 * servers).
 */
export async function executionsTakeExpired(
  tx: TransactionSql,
  now: Date,
  limit: number,
  connectionLostBy: Date = new Date(0),
): Promise<Array<ExecutionRow & { timedOut: boolean; connectionLost: boolean }>> {
  return tx<Array<ExecutionRow & { timedOut: boolean; connectionLost: boolean }>>`
    delete from ratchet.executions x
    where x.run_id in (
      select run_id from ratchet.executions
      where lease_expires_at <= ${now} or deadline_at <= ${now} or connection_lost_at <= ${connectionLostBy}
      order by lease_expires_at limit ${limit} for update skip locked)
    returning ${tx.unsafe(executionColumns.replaceAll("run_id", "x.run_id"))}, coalesce(x.deadline_at <= ${now}, false) as "timedOut",
      coalesce(x.connection_lost_at <= ${connectionLostBy}, false) as "connectionLost"`;
}

/**
 * A worker that shuts down hands back a run it has not finished: the attempt is forgotten (it does
 * not count against maxAttempts) and the run goes back to its place in the queue.
 */
export async function executionsHandBack(
  tx: TransactionSql,
  lease: WorkerLease,
  now: Date,
): Promise<{ environmentId: string; canceled: boolean } | null> {
  const [execution] = await tx<Array<{ environmentId: string; queueId: string; concurrencyKey: string; resumed: boolean }>>`
    delete from ratchet.executions
    where run_id = ${lease.runId} and attempt_number = ${lease.attemptNumber} and worker_id = ${lease.workerId}
      and environment_id = ${lease.environmentId}
    returning environment_id as "environmentId", queue_id as "queueId", concurrency_key as "concurrencyKey", resumed`;
  if (!execution) return null;
  // An attempt that just began is undone; one that was continuing after a wait stays, to be continued.
  if (!execution.resumed) await tx`delete from ratchet.attempts where run_id = ${lease.runId} and number = ${lease.attemptNumber}`;
  const [run] = await tx<Array<{ sortKey: Date; canceled: boolean; version: string }>>`
    update ratchet.runs set status = 'QUEUED', updated_at = ${now},
      attempt_count = attempt_count - ${execution.resumed ? 0 : 1}, resuming = ${execution.resumed}
    where id = ${lease.runId} and environment_id = ${lease.environmentId}
    returning coalesce(queued_at, created_at) - (priority_ms * interval '1 millisecond') as "sortKey",
      cancel_requested_at is not null as canceled, coalesce(lock_to_version, '') as version`;
  if (run?.canceled) {
    await tx`update ratchet.runs set status = 'CANCELED', resuming = false, finished_at = ${now}, updated_at = ${now} where id = ${lease.runId}`;
    if (execution.resumed) {
      await tx`update ratchet.attempts set status = 'CANCELED', finished_at = ${now} where run_id = ${lease.runId} and number = ${lease.attemptNumber}`;
    }
    return { environmentId: execution.environmentId, canceled: true };
  }
  await tx`
    insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
    values (${lease.runId}, ${execution.environmentId}, ${execution.queueId}, ${execution.concurrencyKey}, ${run!.sortKey}, ${now}, ${run!.version})
    on conflict (run_id) do nothing`;
  return { environmentId: execution.environmentId, canceled: false };
}

/** Whether the worker holds the run's execution, in this environment. */
export async function executionsHeldBy(tx: Queryable, environmentId: string, lease: { runId: string; workerId: string }): Promise<boolean> {
  const [row] = await tx`
    select 1 from ratchet.executions x join ratchet.runs r on r.id = x.run_id
    where x.run_id = ${lease.runId} and x.worker_id = ${lease.workerId} and x.environment_id = ${environmentId}
      and r.environment_id = ${environmentId}`;
  return row !== undefined;
}

/** Releases the run's execution (and so its slot) and marks it WAITING (pipelined). */
export async function runsSuspend(tx: Queryable, environmentId: string, lease: { runId: string; workerId: string }, now: Date): Promise<void> {
  await Promise.all([
    tx`delete from ratchet.executions where run_id = ${lease.runId} and worker_id = ${lease.workerId} and environment_id = ${environmentId}`,
    tx`update ratchet.runs set status = 'WAITING', updated_at = ${now} where id = ${lease.runId} and environment_id = ${environmentId}`,
  ]);
}
