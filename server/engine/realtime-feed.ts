// The server side of ElectricSQL's HTTP shape protocol for run shapes, as @trigger.dev/sdk's
// subscriptions speak it (`offset=-1` first, then `handle` + `offset` + `live=true` long polls;
// change messages then an `up-to-date` control message per answer). Offsets are Postgres snapshots
// (storage/run-changes.ts), so any server process answers any subscriber, before or after a
// restart. The SDK shows one row per run per answer, so an answer never carries two changes of the
// same run: a backlog is handed out one step at a time. See docs/realtime.md.
import { ApiError } from "../errors.ts";
import { toPublicId } from "../ids.ts";
import {
  realtimeChangesSince,
  realtimeSnapshot,
  type ChangesSince,
  type ShapeFilter,
  type ShapeRunRow,
} from "../storage/run-changes.ts";
import type { Sql } from "../db/client.ts";

/** Changes are kept this long; an offset older than this must start over (409 must-refetch). */
export const feedRetentionMs = 24 * 3_600_000;

const snapshotPattern = /^\d+:\d+:(\d+(,\d+)*)?$/;

export type Offset = { issuedAt: number } & ({ kind: "initial" } | { kind: "seen"; since: ChangesSince });

export function parseOffset(text: string): Offset {
  if (text === "-1") return { kind: "initial", issuedAt: 0 };
  const plain = /^(\d+)_s(.+)$/.exec(text);
  if (plain && snapshotPattern.test(plain[2]!)) return { kind: "seen", issuedAt: Number(plain[1]), since: { seen: plain[2]! } };
  const partial = /^(\d+)_p([^~]+)~(\d+)~([^~]+)$/.exec(text);
  if (partial && snapshotPattern.test(partial[2]!) && snapshotPattern.test(partial[4]!)) {
    return { kind: "seen", issuedAt: Number(partial[1]), since: { seen: partial[2]!, throughId: partial[3]!, target: partial[4]! } };
  }
  throw new ApiError("VALIDATION_FAILED", 'query.offset: not an offset this server handed out (start with "-1")');
}

export function formatOffset(since: ChangesSince, now: Date): string {
  const issued = now.getTime();
  return since.target === undefined ? `${issued}_s${since.seen}` : `${issued}_p${since.seen}~${since.throughId}~${since.target}`;
}

export interface FeedAnswer {
  rows: Array<{ row: ShapeRunRow; operation: "insert" | "update" }>;
  next: ChangesSince;
}

/** The first answer: the shape's runs as they are. */
export async function readSnapshot(sql: Sql, shape: ShapeFilter): Promise<FeedAnswer> {
  const result = await realtimeSnapshot(sql, shape);
  return { rows: result.rows.map((row) => ({ row, operation: "insert" })), next: { seen: result.snapshot } };
}

/** Changes after `since`, at most one per run; empty when there is nothing new. */
export async function readChanges(sql: Sql, shape: ShapeFilter, since: ChangesSince): Promise<FeedAnswer> {
  const result = await realtimeChangesSince(sql, shape, since);
  const delivered: ShapeRunRow[] = [];
  const runs = new Set<string>();
  for (const row of result.rows) {
    if (runs.has(row.runId)) break;
    runs.add(row.runId);
    delivered.push(row);
  }
  const target = since.target ?? result.snapshot;
  const complete = delivered.length === result.rows.length;
  const next: ChangesSince = complete
    ? { seen: target }
    : { seen: since.seen, throughId: delivered.at(-1)!.changeId!, target };
  return { rows: delivered.map((row) => ({ row, operation: "update" })), next };
}

// Trigger.dev's internal run statuses, which the SDK maps back to the public ones.
const internalStatus: Record<string, string> = {
  COMPLETED: "COMPLETED_SUCCESSFULLY",
  FAILED: "COMPLETED_WITH_ERRORS",
  WAITING: "WAITING_TO_RESUME",
};

/** Timestamps as the shape carries them: ISO without the zone (the SDK appends "Z"). */
function shapeTime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const date = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(date.getTime()) ? null : date.toISOString().slice(0, -1);
}

/** A stored error as the SDK's TaskRunError (which it validates strictly). */
function shapeError(error: unknown): Record<string, unknown> | null {
  if (!error || typeof error !== "object") return null;
  const stored = error as Record<string, unknown>;
  const message = typeof stored.message === "string" ? stored.message : typeof stored.raw === "string" ? stored.raw : JSON.stringify(stored);
  if (stored.type === "STRING_ERROR" && typeof stored.raw === "string") return { type: "STRING_ERROR", raw: stored.raw };
  return {
    type: "BUILT_IN_ERROR",
    name: typeof stored.name === "string" ? stored.name : "Error",
    message,
    stackTrace: typeof stored.stackTrace === "string" ? stored.stackTrace : "",
  };
}

/** The columns a subscriber may leave out (skipColumns); the rest are always sent. */
export const skippableColumns = new Set(["payload", "output", "metadata", "error", "runTags", "ttl", "idempotencyKey", "costInCents", "baseCostInCents", "usageDurationMs"]);

export function shapeRow(row: ShapeRunRow, streams: string[], skip: Set<string>): Record<string, unknown> {
  const state = row.state;
  const startedAt = state.startedAt ? new Date(String(state.startedAt)).getTime() : null;
  const finishedAt = state.finishedAt ? new Date(String(state.finishedAt)).getTime() : null;
  const status = String(state.status);
  const value: Record<string, unknown> = {
    id: row.runId,
    friendlyId: toPublicId("run", row.runId),
    taskIdentifier: row.taskIdentifier,
    status: internalStatus[status] ?? status,
    createdAt: shapeTime(row.createdAt),
    updatedAt: shapeTime(state.updatedAt),
    startedAt: shapeTime(state.startedAt),
    delayUntil: shapeTime(state.delayUntil),
    queuedAt: shapeTime(state.queuedAt),
    expiredAt: shapeTime(state.expiredAt),
    completedAt: shapeTime(state.finishedAt),
    idempotencyKey: state.idempotencyKey ?? null,
    number: Number(state.attemptCount ?? 0),
    isTest: row.isTest,
    usageDurationMs: startedAt !== null && finishedAt !== null ? finishedAt - startedAt : 0,
    costInCents: 0,
    baseCostInCents: 0,
    ttl: row.ttl,
    payload: row.payload,
    payloadType: row.payloadType,
    metadata: state.metadata ?? null,
    metadataType: state.metadataType ?? "application/json",
    output: state.outputType ? row.output : null,
    outputType: state.outputType ?? null,
    runTags: Array.isArray(state.tags) ? state.tags : [],
    error: shapeError(state.error),
    realtimeStreams: streams,
  };
  for (const column of skip) if (skippableColumns.has(column)) delete value[column];
  return value;
}

export function shapeKey(runId: string): string {
  return `"public"."TaskRun"/"${runId}"`;
}
