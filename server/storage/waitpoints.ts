// Named queries for waitpoints, the runs they block, and run journals.
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

export type WaitpointType = "DATETIME" | "MANUAL" | "RUN" | "BATCH";
export type WaitpointStatus = "WAITING" | "COMPLETED" | "TIMED_OUT";

export interface WaitpointRow {
  id: string;
  environmentId: string;
  type: WaitpointType;
  status: WaitpointStatus;
  completedAfter: Date | null;
  idempotencyKey: string | null;
  idempotencyKeyExpiresAt: Date | null;
  tags: string[];
  output: unknown;
  outputType: string | null;
  outputIsError: boolean;
  completedByRunId: string | null;
  completedByBatchId: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

export const waitpointColumns = `id, environment_id as "environmentId", type, status, completed_after as "completedAfter",
  idempotency_key as "idempotencyKey", idempotency_key_expires_at as "idempotencyKeyExpiresAt", tags, output,
  output_type as "outputType", output_is_error as "outputIsError", completed_by_run_id as "completedByRunId",
  completed_by_batch_id as "completedByBatchId", created_at as "createdAt",
  completed_at as "completedAt"`;

export async function waitpointsInsert(
  tx: Queryable,
  waitpoint: {
    id: string;
    environmentId: string;
    type: WaitpointType;
    completedAfter: Date | null;
    idempotencyKey?: string | null;
    idempotencyKeyExpiresAt?: Date | null;
    tags?: string[];
    completedByRunId?: string | null;
    completedByBatchId?: string | null;
  },
  now: Date,
): Promise<void> {
  await tx`
    insert into ratchet.waitpoints (id, environment_id, type, completed_after, idempotency_key, idempotency_key_expires_at,
      tags, completed_by_run_id, completed_by_batch_id, created_at)
    values (${waitpoint.id}, ${waitpoint.environmentId}, ${waitpoint.type}, ${waitpoint.completedAfter},
      ${waitpoint.idempotencyKey ?? null}, ${waitpoint.idempotencyKeyExpiresAt ?? null}, ${waitpoint.tags ?? []},
      ${waitpoint.completedByRunId ?? null}, ${waitpoint.completedByBatchId ?? null}, ${now})`;
}

export async function waitpointsFind(tx: Queryable, environmentId: string, id: string, lock = false): Promise<WaitpointRow | null> {
  const [row] = lock
    ? await tx<WaitpointRow[]>`select ${tx.unsafe(waitpointColumns)} from ratchet.waitpoints where id = ${id} and environment_id = ${environmentId} for update`
    : await tx<WaitpointRow[]>`select ${tx.unsafe(waitpointColumns)} from ratchet.waitpoints where id = ${id} and environment_id = ${environmentId}`;
  return row ?? null;
}

/** A token's waitpoint by id alone: the callback URL carries its own secret instead of a key. */
export async function waitpointsFindAnyEnvironment(tx: Queryable, id: string): Promise<WaitpointRow | null> {
  const [row] = await tx<WaitpointRow[]>`select ${tx.unsafe(waitpointColumns)} from ratchet.waitpoints where id = ${id}`;
  return row ?? null;
}

export async function waitpointsFindByIdempotencyKey(tx: Queryable, environmentId: string, key: string): Promise<WaitpointRow | null> {
  const [row] = await tx<WaitpointRow[]>`
    select ${tx.unsafe(waitpointColumns)} from ratchet.waitpoints
    where environment_id = ${environmentId} and idempotency_key = ${key} for update`;
  return row ?? null;
}

export async function waitpointsClearIdempotencyKey(tx: Queryable, id: string): Promise<void> {
  await tx`update ratchet.waitpoints set idempotency_key = null, idempotency_key_expires_at = null where id = ${id}`;
}

/** Completes WAITING waitpoints; returns the ids that changed (each completes once). */
export async function waitpointsComplete(
  tx: Queryable,
  ids: string[],
  result: { status: "COMPLETED" | "TIMED_OUT"; output: string | null; outputType: string; isError: boolean },
  now: Date,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await tx<{ id: string }[]>`
    update ratchet.waitpoints set status = ${result.status}, output = ${result.output}::text::json, output_type = ${result.outputType},
      output_is_error = ${result.isError}, completed_at = ${now}
    where id = any(${ids}::uuid[]) and status = 'WAITING'
    returning id`;
  return rows.map((row) => row.id);
}

/** DATETIME waitpoints that are due and MANUAL ones past their timeout, claimed with SKIP LOCKED. */
export async function waitpointsTakeDue(tx: TransactionSql, now: Date, limit: number): Promise<Array<{ id: string; type: WaitpointType }>> {
  return tx<Array<{ id: string; type: WaitpointType }>>`
    select id, type from ratchet.waitpoints
    where status = 'WAITING' and completed_after <= ${now} and type in ('DATETIME', 'MANUAL')
    order by completed_after limit ${limit} for update skip locked`;
}

export async function waitpointsForRun(tx: Queryable, runId: string): Promise<Array<{ id: string; type: WaitpointType; status: WaitpointStatus }>> {
  return tx<Array<{ id: string; type: WaitpointType; status: WaitpointStatus }>>`
    select w.id, w.type, w.status from ratchet.run_waitpoints rw join ratchet.waitpoints w on w.id = rw.waitpoint_id
    where rw.run_id = ${runId} order by w.created_at`;
}

export async function runWaitpointsBlock(tx: Queryable, runId: string, waitpointId: string, now: Date): Promise<void> {
  await tx`insert into ratchet.run_waitpoints (run_id, waitpoint_id, created_at) values (${runId}, ${waitpointId}, ${now})
    on conflict do nothing`;
}

/** The runs of an environment that wait (or waited) on these waitpoints: the tokens page links them. */
export async function runWaitpointsRunsOf(
  tx: Queryable,
  environmentId: string,
  waitpointIds: string[],
): Promise<Array<{ waitpointId: string; runId: string; status: string; taskIdentifier: string }>> {
  if (waitpointIds.length === 0) return [];
  return tx<Array<{ waitpointId: string; runId: string; status: string; taskIdentifier: string }>>`
    select rw.waitpoint_id as "waitpointId", r.id as "runId", r.status, r.task_identifier as "taskIdentifier"
    from ratchet.run_waitpoints rw join ratchet.runs r on r.id = rw.run_id and r.environment_id = ${environmentId}
    where rw.waitpoint_id = any(${waitpointIds}::uuid[]) order by rw.created_at`;
}

/** Runs blocked by any of these waitpoints. */
export async function runWaitpointsBlockedRuns(tx: Queryable, waitpointIds: string[]): Promise<string[]> {
  if (waitpointIds.length === 0) return [];
  const rows = await tx<{ runId: string }[]>`
    select distinct run_id as "runId" from ratchet.run_waitpoints where waitpoint_id = any(${waitpointIds}::uuid[])`;
  return rows.map((row) => row.runId);
}

/**
 * Queues a WAITING run again once none of its waitpoints is WAITING: ahead of new runs (its original
 * place), continuing its attempt. Returns the run's environment when it was queued.
 */
export async function runsResumeIfUnblocked(tx: Queryable, runId: string, now: Date): Promise<string | null> {
  const [run] = await tx<Array<{ status: string; environmentId: string; queueName: string; concurrencyKey: string | null; sortKey: Date; version: string }>>`
    select status, environment_id as "environmentId", queue_name as "queueName", concurrency_key as "concurrencyKey",
      coalesce(lock_to_version, '') as version,
      coalesce(queued_at, created_at) - (priority_ms * interval '1 millisecond') as "sortKey"
    from ratchet.runs where id = ${runId} for update`;
  if (!run || run.status !== "WAITING") return null;
  const [blocked] = await tx`
    select 1 from ratchet.run_waitpoints rw join ratchet.waitpoints w on w.id = rw.waitpoint_id
    where rw.run_id = ${runId} and w.status = 'WAITING' limit 1`;
  if (blocked) return null;
  const [queue] = await tx<{ id: string }[]>`
    select id from ratchet.queues where environment_id = ${run.environmentId} and name = ${run.queueName}`;
  if (!queue) {
    await tx`update ratchet.runs set status = 'PENDING_VERSION', resuming = true, updated_at = ${now} where id = ${runId}`;
    return null;
  }
  await tx`update ratchet.runs set status = 'QUEUED', resuming = true, updated_at = ${now} where id = ${runId}`;
  await tx`
    insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
    values (${runId}, ${run.environmentId}, ${queue.id}, ${run.concurrencyKey ?? ""}, ${run.sortKey}, ${now}, ${run.version})
    on conflict (run_id) do nothing`;
  return run.environmentId;
}

export interface JournalEntry {
  position: number;
  kind: "wait" | "token" | "step" | "trigger" | "batch";
  name: string;
  status: "PENDING" | "COMPLETED";
  waitpointId: string | null;
  output: unknown;
  outputType: string | null;
  isError: boolean;
}

const journalColumns = `position, kind, name, status, waitpoint_id as "waitpointId", output, output_type as "outputType", is_error as "isError"`;

export async function journalGet(tx: Queryable, runId: string, position: number): Promise<JournalEntry | null> {
  const [row] = await tx<JournalEntry[]>`select ${tx.unsafe(journalColumns)} from ratchet.journal where run_id = ${runId} and position = ${position}`;
  return row ?? null;
}

export async function journalList(tx: Queryable, runId: string): Promise<JournalEntry[]> {
  return tx<JournalEntry[]>`select ${tx.unsafe(journalColumns)} from ratchet.journal where run_id = ${runId} order by position`;
}

/** Records an operation; returns the entry now at that position (an earlier record wins). */
export async function journalInsert(
  tx: Queryable,
  runId: string,
  entry: Omit<JournalEntry, "output"> & { output: string | null },
  now: Date,
): Promise<JournalEntry> {
  await tx`
    insert into ratchet.journal (run_id, position, kind, name, status, waitpoint_id, output, output_type, is_error, created_at, completed_at)
    values (${runId}, ${entry.position}, ${entry.kind}, ${entry.name}, ${entry.status}, ${entry.waitpointId},
      ${entry.output}::text::json, ${entry.outputType}, ${entry.isError}, ${now}, ${entry.status === "COMPLETED" ? now : null})
    on conflict (run_id, position) do nothing`;
  return (await journalGet(tx, runId, entry.position))!;
}

/** Copies the results of completed waitpoints into the journal entries waiting on them. */
export async function journalCompleteFromWaitpoints(tx: Queryable, waitpointIds: string[], now: Date): Promise<void> {
  if (waitpointIds.length === 0) return;
  await tx`
    update ratchet.journal j set status = 'COMPLETED', output = w.output, output_type = w.output_type,
      is_error = w.output_is_error, completed_at = ${now}
    from ratchet.waitpoints w
    where j.waitpoint_id = w.id and w.id = any(${waitpointIds}::uuid[]) and j.status = 'PENDING'`;
}

export async function journalLength(tx: Queryable, runId: string): Promise<number> {
  const [row] = await tx<{ count: number }[]>`select count(*)::int as count from ratchet.journal where run_id = ${runId}`;
  return row?.count ?? 0;
}

export async function instanceCallbackSecret(tx: Queryable): Promise<Buffer> {
  const [row] = await tx<{ secret: Buffer }[]>`select callback_secret as secret from ratchet.instance where id = 1`;
  return row!.secret;
}

/** What a finished run hands to whoever waits for it: { ok, id, output/outputType | error }. */
export async function runsResultForWaitpoint(
  tx: Queryable,
  runId: string,
): Promise<{ status: string; batchId: string | null; result: Record<string, unknown> } | null> {
  const [run] = await tx<Array<{ status: string; batchId: string | null; output: unknown; outputType: string | null; error: unknown; taskIdentifier: string }>>`
    select status, batch_id as "batchId", output, output_type as "outputType", error, task_identifier as "taskIdentifier"
    from ratchet.runs where id = ${runId}`;
  if (!run) return null;
  return {
    status: run.status,
    batchId: run.batchId,
    result: { ok: run.status === "COMPLETED", taskIdentifier: run.taskIdentifier, output: run.output ?? undefined, outputType: run.outputType ?? undefined, error: run.status === "COMPLETED" ? undefined : run.error, status: run.status },
  };
}

export async function waitpointsWaitingForRun(tx: Queryable, runId: string): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    select id from ratchet.waitpoints where type = 'RUN' and completed_by_run_id = ${runId} and status = 'WAITING' for update`;
  return rows.map((row) => row.id);
}

/** The runs of a batch with their results, once every one of them has finished; null before. */
export async function batchesResultsIfFinished(tx: Queryable, batchId: string): Promise<Array<Record<string, unknown>> | null> {
  const [batch] = await tx<{ runCount: number }[]>`select run_count as "runCount" from ratchet.batches where id = ${batchId}`;
  if (!batch) return null;
  const runs = await tx<Array<{ id: string; index: number; status: string; output: unknown; outputType: string | null; error: unknown; taskIdentifier: string }>>`
    select id, batch_index as index, status, output, output_type as "outputType", error, task_identifier as "taskIdentifier"
    from ratchet.runs where batch_id = ${batchId} order by batch_index`;
  const finalStatuses = new Set(["COMPLETED", "CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"]);
  if (runs.length < batch.runCount || runs.some((run) => !finalStatuses.has(run.status))) return null;
  return runs.map((run) => ({
    runId: run.id,
    ok: run.status === "COMPLETED",
    taskIdentifier: run.taskIdentifier,
    output: run.output ?? undefined,
    outputType: run.outputType ?? undefined,
    error: run.status === "COMPLETED" ? undefined : run.error,
    status: run.status,
  }));
}

export async function waitpointsWaitingForBatch(tx: Queryable, batchId: string): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    select id from ratchet.waitpoints where type = 'BATCH' and completed_by_batch_id = ${batchId} and status = 'WAITING' for update`;
  return rows.map((row) => row.id);
}

/** Tokens of an environment, newest first, with filters; up to size + 1 rows (to tell if more exist). */
export async function waitpointsListTokens(
  sql: Sql,
  environmentId: string,
  filters: { statuses?: string[]; idempotencyKey?: string; tags?: string[]; fromId?: string; toId?: string; after?: string; before?: string; size: number },
): Promise<WaitpointRow[]> {
  // `before` wins over `after` (see pageCursor): a previous page is read upwards from its cursor.
  const ascending = filters.before !== undefined;
  const rows = await sql<WaitpointRow[]>`
    select ${sql.unsafe(waitpointColumns)} from ratchet.waitpoints
    where environment_id = ${environmentId} and type = 'MANUAL'
      ${filters.statuses?.length ? sql`and status = any(${filters.statuses}::text[])` : sql``}
      ${filters.idempotencyKey ? sql`and idempotency_key = ${filters.idempotencyKey}` : sql``}
      ${filters.tags?.length ? sql`and tags && ${filters.tags}::text[]` : sql``}
      ${filters.fromId ? sql`and id >= ${filters.fromId}::uuid` : sql``}
      ${filters.toId ? sql`and id <= ${filters.toId}::uuid` : sql``}
      ${filters.before !== undefined ? sql`and id > ${filters.before}::uuid` : filters.after !== undefined ? sql`and id < ${filters.after}::uuid` : sql``}
    order by id ${ascending ? sql`asc` : sql`desc`}
    limit ${filters.size + 1}`;
  return ascending ? rows.reverse() : rows;
}

/**
 * Taken by a run waiting for a batch: it waits out every child finishing at that moment. False when
 * the environment has no such batch (a batch of another environment is not there).
 */
export async function batchesLock(tx: Queryable, environmentId: string, batchId: string): Promise<boolean> {
  const [row] = await tx`select 1 from ratchet.batches where id = ${batchId} and environment_id = ${environmentId} for update`;
  return row !== undefined;
}

/**
 * Taken by each child of a batch as it finishes. Children do not block one another, but a run
 * starting to wait for the batch (batchesLock) either commits first, and the child then sees its
 * waitpoint, or waits for the child, and then sees it finished.
 */
export async function batchesShareLock(tx: Queryable, batchId: string): Promise<void> {
  await tx`select 1 from ratchet.batches where id = ${batchId} for share`;
}



export async function runWaitpointsAnyWaiting(tx: Queryable, runId: string): Promise<boolean> {
  const [blocked] = await tx`
    select 1 from ratchet.run_waitpoints rw join ratchet.waitpoints w on w.id = rw.waitpoint_id
    where rw.run_id = ${runId} and w.status = 'WAITING' limit 1`;
  return blocked !== undefined;
}
