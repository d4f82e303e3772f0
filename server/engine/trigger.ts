// Creating runs: idempotency, debounce, delay, TTL, priority and queue resolution. A run is either
// fully created (with its queue entry) or not at all: in one transaction, or, when nothing needs to
// be read and then written under a lock, in one statement.
import type { Clock } from "../clock.ts";
import type { Db, Sql, TransactionSql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";
import { ApiError } from "../errors.ts";
import { fromPublicId, uuidv7 } from "../ids.ts";
import type { TriggerOptions } from "../api/trigger-schema.ts";
import { jsonDepthProblem } from "../api/input-safety.ts";
import { limits } from "../api/limits.ts";
import {
  queueEntriesInsert,
  queueEntriesInsertMany,
  runsInsertMany,
  runsInsertManyWithEntries,
  type NewQueueEntry,
  type NewRun,
  runsClearIdempotencyKey,
  runsFindById,
  runsFindByIdempotencyKey,
  runsFindDebounced,
  runsInsert,
  runsUpdateDebounced,
  type RunRow,
} from "../storage/runs.ts";
import { tasksFindCurrentWithQueue } from "../storage/workers.ts";
import { delayProblem, durationProblem, parseDurationMs, resolveDelay, storedDurationText } from "./durations.ts";
import type { QueueNotifier } from "./notifier.ts";
import { idempotencyClearingStatuses, type RunStatus } from "./run-status.ts";
import type { RunMetrics } from "../observability/run-metrics.ts";

export interface EngineDeps {
  db: Db;
  clock: Clock;
  notifier: QueueNotifier;
  /** This server's Prometheus metrics; absent in tools that run engine code without a server. */
  metrics?: RunMetrics;
}

export interface TriggerEnvironment {
  environmentId: string;
  environmentType: EnvironmentType;
}

export interface TriggerRequest {
  taskIdentifier: string;
  payload: unknown;
  options: TriggerOptions;
  /** The `idempotency-key` header, which wins over options.idempotencyKey. */
  idempotencyKeyHeader?: string;
  idempotencyKeyTtlHeader?: string;
  batch?: { id: string; index: number };
  triggerFunction?: string;
  replayedFromId?: string;
  /** Field prefix for error messages, e.g. "items[3]." in a batch. */
  fieldPrefix?: string;
  scheduleId?: string;
}

export interface TriggerResult {
  runId: string;
  isCached: boolean;
  /** The environment to wake once the transaction commits, when the run is queued now. */
  queued: boolean;
}

const defaultIdempotencyTtlMs = 30 * 24 * 3_600_000;
const devDefaultTtl = "10m";

/**
 * maxDuration as stored: at most 2^31 − 1 s less a day, so the deadline (maxDuration plus the
 * server's grace, summed as 32-bit integers in SQL) cannot overflow. 68 years either way: the SDK's
 * timeout.None (2147483647) means the same.
 */
export function storedMaxDurationSeconds(seconds: number | null | undefined): number | null {
  return seconds === null || seconds === undefined ? null : Math.min(seconds, limits.int32Max - 86_400);
}

function jsonText(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function invalid(field: string, message: string): ApiError {
  return new ApiError("VALIDATION_FAILED", `${field}: ${message}`);
}

/** Checks sizes before any database work; throws 413 or 400 naming the field. */
export function checkTriggerLimits(request: TriggerRequest): void {
  const prefix = request.fieldPrefix ?? "";
  const payload = jsonText(request.payload);
  if (payload !== null && Buffer.byteLength(payload) > limits.payloadBytes) {
    throw new ApiError(
      "PAYLOAD_TOO_LARGE",
      `${prefix}payload is ${Buffer.byteLength(payload)} bytes; the limit is ${limits.payloadBytes} bytes (3 MB)`,
    );
  }
  const metadata = jsonText(request.options.metadata);
  if (metadata !== null && Buffer.byteLength(metadata) > limits.metadataBytes) {
    throw new ApiError(
      "PAYLOAD_TOO_LARGE",
      `${prefix}options.metadata is ${Buffer.byteLength(metadata)} bytes; the limit is ${limits.metadataBytes} bytes (256 KB)`,
    );
  }
  // superjson payloads arrive as text and are parsed when read back: their nesting counts too.
  const packets = [
    ["payload", request.payload, request.options.payloadType],
    ["options.metadata", request.options.metadata, request.options.metadataType],
  ] as const;
  for (const [name, value, type] of packets) {
    const tooDeep = type === "application/super+json" && typeof value === "string" ? jsonDepthProblem(`${prefix}${name}`, value) : null;
    if (tooDeep) throw new ApiError("VALIDATION_FAILED", tooDeep);
  }
  const key = request.idempotencyKeyHeader;
  if (key !== undefined && key.length > limits.idempotencyKeyLength) {
    throw invalid("headers.idempotency-key", `at most ${limits.idempotencyKeyLength} characters`);
  }
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === "23505";
}

/** Triggers one run in its own transaction and wakes dequeuers when it is runnable. */
export async function triggerRun(deps: EngineDeps, environment: TriggerEnvironment, request: TriggerRequest): Promise<TriggerResult> {
  checkTriggerLimits(request);
  if (writesOnlyNewRows(request)) {
    // Nothing to read-then-write under a lock: look the task and queue up, then write the run and
    // its queue entry in one statement. Two round trips fewer than a transaction.
    const bulk = newBulkTrigger();
    const result = await triggerRunInTransaction(deps.db.sql, deps.clock, environment, request, bulk);
    await runsInsertManyWithEntries(deps.db.sql, bulk.runs, bulk.entries);
    if (result.queued) deps.notifier.queueChanged(environment.environmentId);
    if (!result.isCached) deps.metrics?.runTriggered(request.taskIdentifier);
    return result;
  }
  for (let attempt = 0; ; attempt += 1) {
    try {
      const result = await deps.db.sql.begin((tx) => triggerRunInTransaction(tx, deps.clock, environment, request));
      if (result.queued) deps.notifier.queueChanged(environment.environmentId);
      if (!result.isCached) deps.metrics?.runTriggered(request.taskIdentifier);
      return result;
    } catch (error) {
      // Two triggers raced for the same idempotency or debounce key: the second sees the first now.
      if (isUniqueViolation(error) && attempt < 2) continue;
      throw error;
    }
  }
}

/** A trigger that only inserts: no idempotency or debounce key to look up and act on, not a replay. */
function writesOnlyNewRows(request: TriggerRequest): boolean {
  return (request.idempotencyKeyHeader ?? request.options.idempotencyKey ?? null) === null && !request.options.debounce && request.replayedFromId === undefined;
}

/**
 * Collects the runs of a batch for one multi-row insert, and remembers task and queue lookups across
 * its items. Items with an idempotency key or a debounce key are written at once instead, because a
 * later item of the same batch must see them.
 */
export interface BulkTrigger {
  runs: NewRun[];
  entries: NewQueueEntry[];
  lookups: Map<string, Promise<unknown>>;
}

export function newBulkTrigger(): BulkTrigger {
  return { runs: [], entries: [], lookups: new Map() };
}

function remembered<T>(bulk: BulkTrigger | undefined, key: string, load: () => Promise<T>): Promise<T> {
  if (!bulk) return load();
  let value = bulk.lookups.get(key) as Promise<T> | undefined;
  if (!value) {
    value = load();
    bulk.lookups.set(key, value);
  }
  return value;
}

/** Writes what a BulkTrigger collected. */
export async function flushBulkTrigger(tx: TransactionSql, bulk: BulkTrigger): Promise<void> {
  await runsInsertMany(tx, bulk.runs);
  await queueEntriesInsertMany(tx, bulk.entries);
}

/**
 * Resolves one run and writes it, or with `bulk` collects it for a later multi-row write. Outside a
 * transaction (`tx` is the pool) only with `bulk` and a request for which writesOnlyNewRows holds:
 * then it only reads.
 */
export async function triggerRunInTransaction(
  tx: TransactionSql | Sql,
  clock: Clock,
  environment: TriggerEnvironment,
  request: TriggerRequest,
  bulk?: BulkTrigger,
): Promise<TriggerResult> {
  const now = clock.now();
  const { options, taskIdentifier } = request;
  const field = (name: string) => `${request.fieldPrefix ?? ""}${name}`;
  const environmentId = environment.environmentId;

  const idempotencyKey = request.idempotencyKeyHeader ?? options.idempotencyKey ?? null;
  let idempotencyKeyExpiresAt: Date | null = null;
  if (idempotencyKey !== null) {
    const ttlText = options.idempotencyKeyTTL ?? request.idempotencyKeyTtlHeader;
    const ttlMs = ttlText === undefined ? defaultIdempotencyTtlMs : parseDurationMs(ttlText);
    if (ttlMs === null) {
      const source = options.idempotencyKeyTTL !== undefined ? field("options.idempotencyKeyTTL") : "headers.idempotency-key-ttl";
      throw invalid(source, durationProblem(ttlText!) ?? "is not a duration");
    }
    idempotencyKeyExpiresAt = new Date(now.getTime() + ttlMs);
    const existing = await runsFindByIdempotencyKey(tx, environmentId, taskIdentifier, idempotencyKey);
    if (existing) {
      const expired = existing.idempotencyKeyExpiresAt !== null && existing.idempotencyKeyExpiresAt <= now;
      if (!expired && !idempotencyClearingStatuses.has(existing.status)) {
        return { runId: existing.id, isCached: true, queued: false };
      }
      await runsClearIdempotencyKey(tx, existing.id, now);
    }
  }

  const payload = jsonText(request.payload);
  const payloadType = options.payloadType ?? "application/json";
  const metadata = jsonText(options.metadata);
  const tags = options.tags ?? [];
  const machine = typeof options.machine === "string" ? options.machine : (options.machine?.preset ?? null);

  if (options.debounce) {
    const debounce = options.debounce;
    const delayMs = parseDurationMs(debounce.delay);
    if (delayMs === null || delayMs < 1000) {
      throw invalid(field("options.debounce.delay"), delayMs === null ? (durationProblem(debounce.delay) ?? "is not a duration") : "must be a duration of at least 1s");
    }
    const maxDelayMs = debounce.maxDelay === undefined ? null : parseDurationMs(debounce.maxDelay);
    if (maxDelayMs === null && debounce.maxDelay !== undefined) {
      throw invalid(field("options.debounce.maxDelay"), durationProblem(debounce.maxDelay) ?? "is not a duration");
    }
    const existing = await runsFindDebounced(tx, environmentId, taskIdentifier, debounce.key);
    if (existing) {
      let delayUntil = new Date(now.getTime() + delayMs);
      if (existing.debounceMaxUntil && delayUntil > existing.debounceMaxUntil) delayUntil = existing.debounceMaxUntil;
      const trailing = debounce.mode === "trailing";
      await runsUpdateDebounced(
        tx,
        existing.id,
        trailing
          ? { delayUntil, payload, payloadType, metadata, tags, maxAttempts: options.maxAttempts ?? null, maxDurationS: storedMaxDurationSeconds(options.maxDuration), machine }
          : { delayUntil },
        now,
      );
      return { runId: existing.id, isCached: true, queued: false };
    }
  }

  let parent: RunRow | null = null;
  if (options.parentRunId !== undefined) {
    const parentId = fromPublicId("run", options.parentRunId);
    parent = parentId ? await runsFindById(tx, environmentId, parentId) : null;
    if (!parent) throw invalid(field("options.parentRunId"), `no run ${options.parentRunId} in this environment`);
  }

  let delayUntil: Date | null = null;
  if (options.debounce) {
    delayUntil = new Date(now.getTime() + parseDurationMs(options.debounce.delay)!);
  } else if (options.delay !== undefined) {
    delayUntil = resolveDelay(options.delay, now);
    if (delayUntil === null) throw invalid(field("options.delay"), delayProblem(options.delay, now) ?? 'must be a duration like "10m" or an ISO date');
    if (delayUntil <= now) delayUntil = null;
  }

  const requestedQueue = typeof options.queue === "string" ? options.queue : options.queue?.name;
  // Outside dev a run is pinned to a version now: its lockToVersion, else the current deployment's.
  const pinned = environment.environmentType !== "dev";
  const found = await remembered(bulk, `task\u0000${taskIdentifier}\u0000${options.lockToVersion ?? ""}\u0000${requestedQueue ?? ""}`, () =>
    tasksFindCurrentWithQueue(tx, environmentId, taskIdentifier, options.lockToVersion ?? null, requestedQueue ?? null, pinned),
  );
  const task = found?.task ?? null;
  const queueName = requestedQueue ?? task?.queueName ?? `task/${taskIdentifier}`;
  // A run goes to a queue only once a version declares its task (else it waits PENDING_VERSION).
  const queue = task && found?.queueId ? { id: found.queueId } : null;

  const ttl = options.ttl ?? task?.ttl ?? (environment.environmentType === "dev" ? devDefaultTtl : null);
  const ttlMs = ttl === null ? null : parseDurationMs(ttl);
  if (ttl !== null && ttlMs === null) {
    const source = options.ttl !== undefined ? field("options.ttl") : `the ttl of task ${taskIdentifier}`;
    throw invalid(source, durationProblem(ttl) ?? 'must be a duration like "10m" or a number of seconds');
  }
  const ttlText = ttlMs === null || ttlMs === 0 || ttl === null ? null : storedDurationText(ttl);

  const status: RunStatus = delayUntil !== null ? "DELAYED" : task && queue ? "QUEUED" : "PENDING_VERSION";
  const priorityMs = Math.round((options.priority ?? 0) * 1000);
  const id = uuidv7(now);
  const queuedAt = status === "QUEUED" ? now : null;

  const newRun: NewRun = {
    id,
    environmentId,
    taskIdentifier,
    queueName,
    concurrencyKey: options.concurrencyKey ?? null,
    status,
    payload,
    payloadType,
    metadata,
    metadataType: options.metadataType ?? "application/json",
    tags,
    idempotencyKey,
    idempotencyKeyExpiresAt,
    maxAttempts: options.maxAttempts ?? null,
    maxDurationS: storedMaxDurationSeconds(options.maxDuration),
    machine,
    priorityMs,
    ttl: ttlText,
    ttlExpiresAt: status === "QUEUED" && ttlText !== null ? new Date(now.getTime() + ttlMs!) : null,
    delayUntil,
    queuedAt,
    lockToVersion: options.lockToVersion ?? (pinned ? (task?.version ?? null) : null),
    parentRunId: parent?.id ?? null,
    rootRunId: parent ? (parent.rootRunId ?? parent.id) : null,
    depth: parent ? parent.depth + 1 : 0,
    batchId: request.batch?.id ?? null,
    batchIndex: request.batch?.index ?? null,
    isTest: options.test ?? false,
    debounceKey: options.debounce?.key ?? null,
    debounceMaxUntil:
      options.debounce?.maxDelay !== undefined ? new Date(now.getTime() + parseDurationMs(options.debounce.maxDelay)!) : null,
    replayedFromId: request.replayedFromId ?? null,
    triggerFunction: request.triggerFunction ?? "trigger",
    scheduleId: request.scheduleId ?? null,
    now,
  };
  const entry: NewQueueEntry | null =
    status === "QUEUED" && queue
      ? { runId: id, environmentId, queueId: queue.id, concurrencyKey: options.concurrencyKey ?? null, sortKey: new Date(now.getTime() - priorityMs), availableAt: now, version: newRun.lockToVersion }
      : null;
  if (bulk && idempotencyKey === null && !options.debounce && request.replayedFromId === undefined) {
    bulk.runs.push(newRun);
    if (entry) bulk.entries.push(entry);
  } else {
    // Pipelined: both go out at once and run in order.
    await Promise.all([runsInsert(tx, newRun), entry ? queueEntriesInsert(tx, entry) : undefined]);
  }
  return { runId: id, isCached: false, queued: status === "QUEUED" };
}
