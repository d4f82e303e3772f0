// Named queries that read one trace: the runs of a tree (by their root), their attempts, journal
// entries and events. Each is bounded; server/observability/trace-tree.ts assembles the spans.
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

/** Runs of one tree that a trace shows at most; deeper fan-outs are cut (the answer says so). */
export const traceRunLimit = 1000;
/** Events (logs and spans) a trace shows at most. */
export const traceEventLimit = 20_000;

export interface TraceRun {
  id: string;
  taskIdentifier: string;
  status: string;
  parentRunId: string | null;
  queueName: string;
  workerVersion: string | null;
  machine: string | null;
  depth: number;
  batchId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: { message?: string } | null;
}

export interface TraceAttempt {
  runId: string;
  number: number;
  status: string;
  workerId: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: { message?: string } | null;
}

export interface TraceJournalEntry {
  runId: string;
  position: number;
  kind: "wait" | "token" | "step" | "trigger" | "batch";
  name: string;
  status: "PENDING" | "COMPLETED";
  isError: boolean;
  createdAt: Date;
  completedAt: Date | null;
  waitpointType: string | null;
  /** The child run a triggerAndWait waits for; the batch of a batchTriggerAndWait. */
  childRunId: string | null;
  batchId: string | null;
  /** DATETIME waits: when the wait was due. */
  completedAfter: Date | null;
}

export interface TraceEvent {
  runId: string;
  attemptNumber: number;
  seq: number;
  time: Date;
  kind: "log" | "span";
  level: string;
  message: string;
  attributes: Record<string, unknown> | null;
  spanId: string | null;
  parentSpanId: string | null;
  durationMs: number | null;
}

/** The root of a run's tree (itself when it has no parent), when the run is the environment's. */
export async function tracesFindRoot(sql: Queryable, environmentId: string, runId: string): Promise<string | null> {
  const [row] = await sql<{ rootRunId: string }[]>`
    select coalesce(root_run_id, id) as "rootRunId" from ratchet.runs where id = ${runId} and environment_id = ${environmentId}`;
  return row?.rootRunId ?? null;
}

/** The runs of the tree under `rootRunId`, in creation order, in the environment only. */
export async function tracesListRuns(sql: Queryable, environmentId: string, rootRunId: string): Promise<TraceRun[]> {
  return sql<TraceRun[]>`
    select id, task_identifier as "taskIdentifier", status, parent_run_id as "parentRunId", queue_name as "queueName",
      worker_version as "workerVersion", machine, depth, batch_id as "batchId", created_at as "createdAt",
      started_at as "startedAt", finished_at as "finishedAt", error
    from ratchet.runs
    where environment_id = ${environmentId} and (id = ${rootRunId} or root_run_id = ${rootRunId})
    order by id limit ${traceRunLimit}`;
}

export async function tracesListAttempts(sql: Queryable, runIds: string[]): Promise<TraceAttempt[]> {
  return sql<TraceAttempt[]>`
    select run_id as "runId", number, status, worker_id as "workerId", created_at as "createdAt", started_at as "startedAt",
      finished_at as "finishedAt", error
    from ratchet.attempts where run_id = any(${runIds}::uuid[]) order by run_id, number`;
}

export async function tracesListJournal(sql: Queryable, runIds: string[]): Promise<TraceJournalEntry[]> {
  return sql<TraceJournalEntry[]>`
    select j.run_id as "runId", j.position, j.kind, j.name, j.status, j.is_error as "isError", j.created_at as "createdAt",
      j.completed_at as "completedAt", w.type as "waitpointType", w.completed_by_run_id as "childRunId",
      w.completed_by_batch_id as "batchId", w.completed_after as "completedAfter"
    from ratchet.journal j left join ratchet.waitpoints w on w.id = j.waitpoint_id
    where j.run_id = any(${runIds}::uuid[]) order by j.run_id, j.position`;
}

/** The runs' events through the primary key (run_id leads it), in the environment only. */
export async function tracesListEvents(sql: Queryable, environmentId: string, runIds: string[]): Promise<TraceEvent[]> {
  return sql<TraceEvent[]>`
    select run_id as "runId", attempt_number as "attemptNumber", seq, "time", kind, level, message, attributes,
      span_id as "spanId", parent_span_id as "parentSpanId", duration_ms as "durationMs"
    from ratchet.events
    where run_id = any(${runIds}::uuid[]) and environment_id = ${environmentId}
    order by "time", attempt_number, seq limit ${traceEventLimit}`;
}

/**
 * What a live trace view compares to know whether its tree changed: the tree's runs (how many, the
 * latest update), their attempts, journal entries (completed ones too) and events. One statement;
 * the counts go through the same indexes as the reads above.
 */
export async function tracesFingerprint(sql: Queryable, environmentId: string, rootRunId: string): Promise<string> {
  const [row] = await sql<{ fingerprint: string }[]>`
    with tree as (
      select id, updated_at from ratchet.runs
      where environment_id = ${environmentId} and (id = ${rootRunId} or root_run_id = ${rootRunId})
      limit ${traceRunLimit})
    select concat_ws(':',
      (select count(*) from tree),
      (select extract(epoch from max(updated_at)) from tree),
      (select count(*) from ratchet.attempts a where a.run_id in (select id from tree)),
      (select count(*) filter (where a.finished_at is not null) from ratchet.attempts a where a.run_id in (select id from tree)),
      (select count(*) from ratchet.journal j where j.run_id in (select id from tree)),
      (select count(*) filter (where j.completed_at is not null) from ratchet.journal j where j.run_id in (select id from tree)),
      (select count(*) from ratchet.events e where e.run_id in (select id from tree) and e.environment_id = ${environmentId})
    ) as fingerprint`;
  return row!.fingerprint;
}
