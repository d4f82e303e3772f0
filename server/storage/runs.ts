// Named queries for runs and their queue entries.
import type { Sql, TransactionSql } from "../db/client.ts";
import type { RunStatus } from "../engine/run-status.ts";
import type { RetryPolicy } from "../engine/retry.ts";

type Queryable = Sql | TransactionSql;

export interface RunRow {
  id: string;
  environmentId: string;
  taskIdentifier: string;
  queueName: string;
  concurrencyKey: string | null;
  status: RunStatus;
  payload: unknown;
  payloadType: string;
  metadata: unknown;
  metadataType: string;
  tags: string[];
  idempotencyKey: string | null;
  idempotencyKeyExpiresAt: Date | null;
  maxAttempts: number | null;
  attemptCount: number;
  maxDurationS: number | null;
  machine: string | null;
  priorityMs: number;
  ttl: string | null;
  ttlExpiresAt: Date | null;
  delayUntil: Date | null;
  queuedAt: Date | null;
  lockToVersion: string | null;
  workerVersion: string | null;
  retry: RetryPolicy | null;
  output: unknown;
  outputType: string | null;
  error: Record<string, unknown> | null;
  parentRunId: string | null;
  rootRunId: string | null;
  depth: number;
  batchId: string | null;
  batchIndex: number | null;
  isTest: boolean;
  debounceKey: string | null;
  debounceMaxUntil: Date | null;
  cancelRequestedAt: Date | null;
  replayedFromId: string | null;
  triggerFunction: string;
  scheduleId: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  expiredAt: Date | null;
}

export const runColumns = `
  id, environment_id as "environmentId", task_identifier as "taskIdentifier", queue_name as "queueName",
  concurrency_key as "concurrencyKey", status, payload, payload_type as "payloadType", metadata,
  metadata_type as "metadataType", tags, idempotency_key as "idempotencyKey",
  idempotency_key_expires_at as "idempotencyKeyExpiresAt", max_attempts as "maxAttempts",
  attempt_count as "attemptCount", max_duration_s as "maxDurationS", machine, priority_ms as "priorityMs",
  ttl, ttl_expires_at as "ttlExpiresAt", delay_until as "delayUntil", queued_at as "queuedAt",
  lock_to_version as "lockToVersion", worker_version as "workerVersion", retry, output, output_type as "outputType",
  error, parent_run_id as "parentRunId", root_run_id as "rootRunId", depth, batch_id as "batchId",
  batch_index as "batchIndex", is_test as "isTest", debounce_key as "debounceKey",
  debounce_max_until as "debounceMaxUntil", cancel_requested_at as "cancelRequestedAt",
  replayed_from_id as "replayedFromId", trigger_function as "triggerFunction", schedule_id as "scheduleId", created_at as "createdAt",
  updated_at as "updatedAt", started_at as "startedAt", finished_at as "finishedAt", expired_at as "expiredAt"`;

export interface NewRun {
  id: string;
  environmentId: string;
  taskIdentifier: string;
  queueName: string;
  concurrencyKey: string | null;
  status: RunStatus;
  payload: string | null;
  payloadType: string;
  metadata: string | null;
  metadataType: string;
  tags: string[];
  idempotencyKey: string | null;
  idempotencyKeyExpiresAt: Date | null;
  maxAttempts: number | null;
  maxDurationS: number | null;
  machine: string | null;
  priorityMs: number;
  ttl: string | null;
  ttlExpiresAt: Date | null;
  delayUntil: Date | null;
  queuedAt: Date | null;
  lockToVersion: string | null;
  parentRunId: string | null;
  rootRunId: string | null;
  depth: number;
  batchId: string | null;
  batchIndex: number | null;
  isTest: boolean;
  debounceKey: string | null;
  debounceMaxUntil: Date | null;
  replayedFromId: string | null;
  triggerFunction: string;
  scheduleId?: string | null;
  now: Date;
}

/** Inserts a run (payload and metadata are JSON text, stored verbatim). */
export async function runsInsert(tx: Queryable, run: NewRun): Promise<void> {
  await tx`
    insert into ratchet.runs (
      id, environment_id, task_identifier, queue_name, concurrency_key, status, payload, payload_type,
      metadata, metadata_type, tags, idempotency_key, idempotency_key_expires_at, max_attempts,
      max_duration_s, machine, priority_ms, ttl, ttl_expires_at, delay_until, queued_at, lock_to_version,
      parent_run_id, root_run_id, depth, batch_id, batch_index, is_test, debounce_key, debounce_max_until,
      replayed_from_id, trigger_function, schedule_id, created_at, updated_at)
    values (
      ${run.id}, ${run.environmentId}, ${run.taskIdentifier}, ${run.queueName}, ${run.concurrencyKey}, ${run.status},
      ${run.payload}::text::json, ${run.payloadType}, ${run.metadata}::text::json, ${run.metadataType}, ${run.tags},
      ${run.idempotencyKey}, ${run.idempotencyKeyExpiresAt}, ${run.maxAttempts}, ${run.maxDurationS}, ${run.machine},
      ${run.priorityMs}, ${run.ttl}, ${run.ttlExpiresAt}, ${run.delayUntil}, ${run.queuedAt}, ${run.lockToVersion},
      ${run.parentRunId}, ${run.rootRunId}, ${run.depth}, ${run.batchId}, ${run.batchIndex}, ${run.isTest},
      ${run.debounceKey}, ${run.debounceMaxUntil}, ${run.replayedFromId}, ${run.triggerFunction}, ${run.scheduleId ?? null}, ${run.now}, ${run.now})`;
}

export async function queueEntriesInsert(tx: Queryable, entry: NewQueueEntry): Promise<void> {
  await tx`
    insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
    values (${entry.runId}, ${entry.environmentId}, ${entry.queueId}, ${entry.concurrencyKey ?? ""}, ${entry.sortKey}, ${entry.availableAt},
      ${entry.version ?? ""})
    on conflict (run_id) do nothing`;
}

export async function runsFindById(tx: Queryable, environmentId: string, id: string, lock = false): Promise<RunRow | null> {
  const [row] = lock
    ? await tx<RunRow[]>`select ${tx.unsafe(runColumns)} from ratchet.runs where id = ${id} and environment_id = ${environmentId} for update`
    : await tx<RunRow[]>`select ${tx.unsafe(runColumns)} from ratchet.runs where id = ${id} and environment_id = ${environmentId}`;
  return row ?? null;
}

export async function runsFindByIds(tx: Queryable, environmentId: string, ids: string[]): Promise<RunRow[]> {
  if (ids.length === 0) return [];
  return tx<RunRow[]>`select ${tx.unsafe(runColumns)} from ratchet.runs where id = any(${ids}::uuid[]) and environment_id = ${environmentId}`;
}

/** The run holding an idempotency key for a task, locked. */
export async function runsFindByIdempotencyKey(
  tx: Queryable,
  environmentId: string,
  taskIdentifier: string,
  key: string,
): Promise<RunRow | null> {
  const [row] = await tx<RunRow[]>`
    select ${tx.unsafe(runColumns)} from ratchet.runs
    where environment_id = ${environmentId} and task_identifier = ${taskIdentifier} and idempotency_key = ${key}
    for update`;
  return row ?? null;
}

export async function runsClearIdempotencyKey(tx: Queryable, id: string, now: Date): Promise<void> {
  await tx`update ratchet.runs set idempotency_key = null, idempotency_key_expires_at = null, updated_at = ${now} where id = ${id}`;
}

/** Clears a key for a task so the next trigger with it creates a new run. Returns how many runs held it. */
export async function runsResetIdempotencyKey(sql: Sql, environmentId: string, taskIdentifier: string, key: string, now: Date): Promise<number> {
  const rows = await sql`
    update ratchet.runs set idempotency_key = null, idempotency_key_expires_at = null, updated_at = ${now}
    where environment_id = ${environmentId} and task_identifier = ${taskIdentifier} and idempotency_key = ${key}
    returning id`;
  return rows.length;
}

/** The DELAYED run collecting triggers for a debounce key, locked. */
export async function runsFindDebounced(tx: Queryable, environmentId: string, taskIdentifier: string, key: string): Promise<RunRow | null> {
  const [row] = await tx<RunRow[]>`
    select ${tx.unsafe(runColumns)} from ratchet.runs
    where environment_id = ${environmentId} and task_identifier = ${taskIdentifier} and debounce_key = ${key} and status = 'DELAYED'
    for update`;
  return row ?? null;
}

export async function runsUpdateDebounced(
  tx: Queryable,
  id: string,
  update: { delayUntil: Date; payload?: string | null; payloadType?: string; metadata?: string | null; tags?: string[]; maxAttempts?: number | null; maxDurationS?: number | null; machine?: string | null },
  now: Date,
): Promise<void> {
  const trailing = update.payload !== undefined;
  await tx`
    update ratchet.runs set
      delay_until = ${update.delayUntil},
      payload = case when ${trailing} then ${update.payload ?? null}::text::json else payload end,
      payload_type = case when ${trailing} then ${update.payloadType ?? "application/json"} else payload_type end,
      metadata = case when ${trailing} then ${update.metadata ?? null}::text::json else metadata end,
      tags = case when ${trailing} then ${update.tags ?? []}::text[] else tags end,
      max_attempts = case when ${trailing} then ${update.maxAttempts ?? null}::integer else max_attempts end,
      max_duration_s = case when ${trailing} then ${update.maxDurationS ?? null}::integer else max_duration_s end,
      machine = case when ${trailing} then ${update.machine ?? null} else machine end,
      updated_at = ${now}
    where id = ${id}`;
}

/** Removes a run's queue entry (locking it first, as dequeue does). */
export async function queueEntriesDelete(tx: Queryable, runId: string): Promise<void> {
  await tx`delete from ratchet.queue_entries where run_id = ${runId}`;
}

export async function runsFinish(
  tx: Queryable,
  id: string,
  status: RunStatus,
  error: Record<string, unknown> | null,
  now: Date,
): Promise<void> {
  await tx`update ratchet.runs set status = ${status}, error = ${error === null ? null : tx.json(error as never)},
    finished_at = ${now}, updated_at = ${now} where id = ${id}`;
}

export async function runsRequestCancel(tx: Queryable, id: string, now: Date): Promise<void> {
  await tx`update ratchet.runs set cancel_requested_at = coalesce(cancel_requested_at, ${now}), updated_at = ${now} where id = ${id}`;
}

export async function runsReschedule(tx: Queryable, id: string, delayUntil: Date, now: Date): Promise<void> {
  await tx`update ratchet.runs set delay_until = ${delayUntil}, updated_at = ${now} where id = ${id}`;
}

export async function runsAddTags(tx: Queryable, id: string, tags: string[], now: Date): Promise<string[]> {
  const [row] = await tx<{ tags: string[] }[]>`
    update ratchet.runs set tags = (select array_agg(distinct t order by t) from unnest(tags || ${tags}::text[]) as t),
      updated_at = ${now}
    where id = ${id} returning tags`;
  return row?.tags ?? [];
}

/** A run's metadata and its parent and root, locked, so metadata writers apply their changes one after another. */
export async function runsLockForMetadata(
  tx: TransactionSql,
  environmentId: string,
  id: string,
): Promise<{ metadata: unknown; metadataType: string; parentRunId: string | null; rootRunId: string | null } | null> {
  const [row] = await tx<{ metadata: unknown; metadataType: string; parentRunId: string | null; rootRunId: string | null }[]>`
    select metadata, metadata_type as "metadataType", parent_run_id as "parentRunId", root_run_id as "rootRunId"
    from ratchet.runs where id = ${id} and environment_id = ${environmentId} for update`;
  return row ?? null;
}

export async function runsSetMetadata(tx: Queryable, id: string, metadata: string, now: Date): Promise<void> {
  await tx`update ratchet.runs set metadata = ${metadata}::text::json, metadata_type = 'application/json', updated_at = ${now} where id = ${id}`;
}

export async function runsFindRelated(
  sql: Sql,
  environmentId: string,
  run: { id: string; parentRunId: string | null; rootRunId: string | null },
): Promise<{ parent: RunRow | null; root: RunRow | null; children: RunRow[] }> {
  const ids = [run.parentRunId, run.rootRunId].filter((id): id is string => id !== null);
  const related = ids.length > 0 ? await runsFindByIds(sql, environmentId, ids) : [];
  const children = await sql<RunRow[]>`
    select ${sql.unsafe(runColumns)} from ratchet.runs
    where parent_run_id = ${run.id} and environment_id = ${environmentId} order by id limit 100`;
  return {
    parent: related.find((row) => row.id === run.parentRunId) ?? null,
    root: related.find((row) => row.id === run.rootRunId) ?? null,
    children,
  };
}

export interface AttemptRow {
  number: number;
  status: string;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: { message?: string } | null;
  /** Waits suspended by a checkpoint of the container (docs/checkpoints.md). */
  checkpoints: number;
  /** Why a long wait suspended by replay where a checkpoint was possible. */
  checkpointFallback: string | null;
}

export async function attemptsList(sql: Sql, runId: string): Promise<AttemptRow[]> {
  return sql<AttemptRow[]>`
    select number, status, started_at as "startedAt", finished_at as "finishedAt", error,
      checkpoints, checkpoint_fallback as "checkpointFallback"
    from ratchet.attempts where run_id = ${runId} order by number`;
}

export async function runsFindByIdempotencyKeyAnyTask(sql: Sql, environmentId: string, key: string): Promise<string | null> {
  const [row] = await sql<{ id: string }[]>`
    select id from ratchet.runs where environment_id = ${environmentId} and idempotency_key = ${key} order by id desc limit 1`;
  return row?.id ?? null;
}

export interface NewQueueEntry {
  runId: string;
  environmentId: string;
  queueId: string;
  concurrencyKey: string | null;
  sortKey: Date;
  availableAt: Date;
  /** The version the run is pinned to (null: unpinned). Named here because an entry inserted in the
   * statement that inserts its run cannot take the pin from the run (see sql/0016). */
  version: string | null;
}

/** Inserts many runs in one statement (a batch's items), column arrays through unnest. */
export async function runsInsertMany(tx: Queryable, runs: NewRun[]): Promise<void> {
  if (runs.length === 0) return;
  await runsInsertStatement(tx, runs);
}

/**
 * Runs and their queue entries in one statement: atomic without a transaction, and one round trip
 * (the single-trigger path uses it).
 */
export async function runsInsertManyWithEntries(sql: Queryable, runs: NewRun[], entries: NewQueueEntry[]): Promise<void> {
  if (entries.length === 0) return runsInsertMany(sql, runs);
  await sql`with inserted as (${runsInsertStatement(sql, runs)}) ${queueEntriesInsertStatement(sql, entries)}`;
}

/** The multi-row insert of runs, as a fragment to await or to nest in a larger statement. */
function runsInsertStatement(tx: Queryable, runs: NewRun[]) {
  const column = <T>(pick: (run: NewRun) => T) => runs.map(pick);
  // postgres.js sends a Date[] as one timestamp: dates travel as ISO text and are cast in SQL.
  const dates = (pick: (run: NewRun) => Date | null) => runs.map((run) => pick(run)?.toISOString() ?? null);
  // Likewise numbers and booleans: sent as text, cast in SQL.
  const texts = (pick: (run: NewRun) => number | boolean | null) => runs.map((run) => {
    const value = pick(run);
    return value === null ? null : String(value);
  });
  return tx`
    insert into ratchet.runs (
      id, environment_id, task_identifier, queue_name, concurrency_key, status, payload, payload_type,
      metadata, metadata_type, tags, max_attempts, max_duration_s, machine, priority_ms, ttl, ttl_expires_at,
      delay_until, queued_at, lock_to_version, parent_run_id, root_run_id, depth, batch_id, batch_index, is_test,
      trigger_function, schedule_id, created_at, updated_at)
    select id, environment_id, task_identifier, queue_name, concurrency_key, status, payload::json, payload_type,
      metadata::json, metadata_type, array(select jsonb_array_elements_text(tags::jsonb)), max_attempts, max_duration_s, machine,
      priority_ms, ttl, ttl_expires_at, delay_until, queued_at, lock_to_version, parent_run_id, root_run_id, depth,
      batch_id, batch_index, is_test, trigger_function, schedule_id, created_at, created_at
    from unnest(
      ${column((run) => run.id)}::uuid[], ${column((run) => run.environmentId)}::uuid[], ${column((run) => run.taskIdentifier)}::text[],
      ${column((run) => run.queueName)}::text[], ${column((run) => run.concurrencyKey)}::text[], ${column((run) => run.status)}::text[],
      ${column((run) => run.payload)}::text[], ${column((run) => run.payloadType)}::text[], ${column((run) => run.metadata)}::text[],
      ${column((run) => run.metadataType)}::text[], ${column((run) => JSON.stringify(run.tags))}::text[], ${texts((run) => run.maxAttempts)}::text[]::int[],
      ${texts((run) => run.maxDurationS)}::text[]::int[], ${column((run) => run.machine)}::text[], ${texts((run) => run.priorityMs)}::text[]::int[],
      ${column((run) => run.ttl)}::text[], ${dates((run) => run.ttlExpiresAt)}::text[]::timestamptz[], ${dates((run) => run.delayUntil)}::text[]::timestamptz[],
      ${dates((run) => run.queuedAt)}::text[]::timestamptz[], ${column((run) => run.lockToVersion)}::text[], ${column((run) => run.parentRunId)}::uuid[],
      ${column((run) => run.rootRunId)}::uuid[], ${texts((run) => run.depth)}::text[]::int[], ${column((run) => run.batchId)}::uuid[],
      ${texts((run) => run.batchIndex)}::text[]::int[], ${texts((run) => run.isTest)}::text[]::boolean[], ${column((run) => run.triggerFunction)}::text[],
      ${column((run) => run.scheduleId ?? null)}::uuid[], ${dates((run) => run.now)}::text[]::timestamptz[]
    ) as r(id, environment_id, task_identifier, queue_name, concurrency_key, status, payload, payload_type, metadata, metadata_type,
      tags, max_attempts, max_duration_s, machine, priority_ms, ttl, ttl_expires_at, delay_until, queued_at, lock_to_version,
      parent_run_id, root_run_id, depth, batch_id, batch_index, is_test, trigger_function, schedule_id, created_at)`;
}

export async function queueEntriesInsertMany(tx: Queryable, entries: NewQueueEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await queueEntriesInsertStatement(tx, entries);
}

function queueEntriesInsertStatement(tx: Queryable, entries: NewQueueEntry[]) {
  return tx`
    insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
    select * from unnest(
      ${entries.map((entry) => entry.runId)}::uuid[], ${entries.map((entry) => entry.environmentId)}::uuid[],
      ${entries.map((entry) => entry.queueId)}::uuid[], ${entries.map((entry) => entry.concurrencyKey ?? "")}::text[],
      ${entries.map((entry) => entry.sortKey.toISOString())}::text[]::timestamptz[],
      ${entries.map((entry) => entry.availableAt.toISOString())}::text[]::timestamptz[],
      ${entries.map((entry) => entry.version ?? "")}::text[])
    on conflict (run_id) do nothing`;
}

/** Locks a run's row: what a run does to its own journal and waits happens one at a time. */
export async function runsLock(tx: Queryable, environmentId: string, runId: string): Promise<void> {
  await tx`select 1 from ratchet.runs where id = ${runId} and environment_id = ${environmentId} for update`;
}

/** A child run a parent is about to wait for, locked so its finishing and the wait are ordered. */
export async function runsLockChild(tx: Queryable, environmentId: string, runId: string): Promise<{ status: RunStatus; parentRunId: string | null } | null> {
  const [child] = await tx<{ status: RunStatus; parentRunId: string | null }[]>`
    select status, parent_run_id as "parentRunId" from ratchet.runs
    where id = ${runId} and environment_id = ${environmentId} for update`;
  return child ?? null;
}

export type RunPacketName = "payload" | "output" | "metadata";

/** One of a run's JSON values as the text stored, with its type, for serving it whole. */
export async function runsFindPacketText(
  sql: Sql,
  environmentId: string,
  id: string,
  packet: RunPacketName,
): Promise<{ text: string | null; type: string | null } | null> {
  const columns = {
    payload: `payload::text as text, payload_type as type`,
    output: `output::text as text, output_type as type`,
    metadata: `metadata::text as text, metadata_type as type`,
  }[packet];
  const [row] = await sql<{ text: string | null; type: string | null }[]>`
    select ${sql.unsafe(columns)} from ratchet.runs where id = ${id} and environment_id = ${environmentId}`;
  return row ?? null;
}
