// Assembles a run tree's trace from what the engine recorded (runs, attempts, journal entries: waits,
// child triggers, steps) and what the task reported (its spans and logs in ratchet.events). Engine
// spans are derived at read time rather than written as events: they are exact even when a worker
// died mid-attempt, and they cost the hot path nothing. See docs/tracing.md.
import { finalStatuses, type RunStatus } from "../engine/run-status.ts";
import { toPublicId } from "../ids.ts";
import type { TraceAttempt, TraceEvent, TraceJournalEntry, TraceRun } from "../storage/traces.ts";
import { attemptSpanId, journalSpanId, runSpanId, traceIdForRootRun } from "./span-ids.ts";

export type SpanKind = "run" | "attempt" | "wait" | "trigger" | "step" | "span" | "log";

export interface TraceSpan {
  id: string;
  parentId: string | null;
  /** The public id of the run the span belongs to. */
  runId: string;
  kind: SpanKind;
  message: string;
  level: string;
  startTime: Date;
  durationMs: number;
  isError: boolean;
  isPartial: boolean;
  isCancelled: boolean;
  attemptNumber?: number;
  properties: Record<string, unknown>;
  taskSlug?: string;
  queueName?: string;
  workerVersion?: string;
  machinePreset?: string;
  /** Child runs this span started (triggerAndWait, batchTriggerAndWait). */
  triggeredRuns?: Array<{ runId: string; taskIdentifier: string; status: string; createdAt: Date }>;
  children: TraceSpan[];
}

export interface AssembledTrace {
  traceId: string;
  root: TraceSpan;
  /** Every span, in start order (depth-first from the root). */
  spans: TraceSpan[];
  byId: Map<string, TraceSpan>;
}

const errorStatuses = new Set(["FAILED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT", "EXPIRED"]);

function duration(start: Date, end: Date | null, now: Date): number {
  return Math.max(0, (end ?? now).getTime() - start.getTime());
}

/** The attempt that was running when something happened at `at`: the latest one created by then. */
function attemptAt(attempts: TraceAttempt[], at: Date): TraceAttempt | undefined {
  let found: TraceAttempt | undefined;
  for (const attempt of attempts) if (attempt.createdAt.getTime() <= at.getTime()) found = attempt;
  return found ?? attempts[0];
}

function journalKind(entry: TraceJournalEntry): SpanKind {
  if (entry.kind === "step") return "step";
  if (entry.kind === "trigger" || entry.kind === "batch") return "trigger";
  return "wait";
}

export function assembleTrace(
  rootRunId: string,
  input: { runs: TraceRun[]; attempts: TraceAttempt[]; journal: TraceJournalEntry[]; events: TraceEvent[] },
  now: Date,
): AssembledTrace | null {
  const byId = new Map<string, TraceSpan>();
  const spans: TraceSpan[] = [];
  const add = (fields: Omit<TraceSpan, "children">) => {
    if (byId.has(fields.id)) return;
    const span = { ...fields, children: [] };
    byId.set(span.id, span);
    spans.push(span);
  };
  const runs = new Map(input.runs.map((run) => [run.id, run]));
  const attemptsByRun = new Map<string, TraceAttempt[]>();
  for (const attempt of input.attempts) attemptsByRun.set(attempt.runId, [...(attemptsByRun.get(attempt.runId) ?? []), attempt]);
  const journalByChild = new Map<string, TraceJournalEntry>();
  const journalByBatch = new Map<string, TraceJournalEntry>();
  for (const entry of input.journal) {
    if (entry.childRunId) journalByChild.set(entry.childRunId, entry);
    if (entry.batchId) journalByBatch.set(entry.batchId, entry);
  }

  for (const run of input.runs) {
    const publicId = toPublicId("run", run.id);
    const final = finalStatuses.has(run.status as RunStatus);
    const attempts = attemptsByRun.get(run.id) ?? [];
    let parentId: string | null = null;
    const parent = run.parentRunId ? runs.get(run.parentRunId) : undefined;
    if (parent) {
      const parentPublicId = toPublicId("run", parent.id);
      const entry = journalByChild.get(run.id) ?? (run.batchId ? journalByBatch.get(run.batchId) : undefined);
      const parentAttempt = attemptAt(attemptsByRun.get(parent.id) ?? [], run.createdAt);
      parentId = entry
        ? journalSpanId(parentPublicId, entry.position)
        : parentAttempt
          ? attemptSpanId(parentPublicId, parentAttempt.number)
          : runSpanId(parentPublicId);
    }
    add({
      id: runSpanId(publicId),
      parentId,
      runId: publicId,
      kind: "run",
      message: run.taskIdentifier,
      level: "TRACE",
      startTime: run.createdAt,
      durationMs: duration(run.createdAt, final ? (run.finishedAt ?? run.createdAt) : null, now),
      isError: errorStatuses.has(run.status),
      isPartial: !final,
      isCancelled: run.status === "CANCELED",
      properties: { "ratchet.run.id": publicId, "ratchet.run.status": run.status, "ratchet.task.id": run.taskIdentifier, "ratchet.run.depth": run.depth },
      taskSlug: run.taskIdentifier,
      queueName: run.queueName,
      ...(run.workerVersion ? { workerVersion: run.workerVersion } : {}),
      ...(run.machine ? { machinePreset: run.machine } : {}),
    });
    for (const attempt of attempts) {
      const start = attempt.startedAt ?? attempt.createdAt;
      const ended = attempt.finishedAt ?? (final ? (run.finishedAt ?? start) : null);
      add({
        id: attemptSpanId(publicId, attempt.number),
        parentId: runSpanId(publicId),
        runId: publicId,
        kind: "attempt",
        message: `Attempt ${attempt.number}`,
        level: "TRACE",
        startTime: start,
        durationMs: duration(start, ended, now),
        isError: attempt.status === "FAILED",
        isPartial: ended === null,
        isCancelled: attempt.status === "CANCELED",
        attemptNumber: attempt.number,
        properties: {
          "ratchet.attempt.number": attempt.number,
          "ratchet.attempt.status": attempt.status,
          "ratchet.worker.id": attempt.workerId,
          ...(attempt.error?.message ? { "exception.message": attempt.error.message } : {}),
        },
      });
    }
  }

  for (const entry of input.journal) {
    const run = runs.get(entry.runId)!;
    const publicId = toPublicId("run", run.id);
    const attempt = attemptAt(attemptsByRun.get(run.id) ?? [], entry.createdAt);
    const final = finalStatuses.has(run.status as RunStatus);
    const ended = entry.completedAt ?? (final ? (run.finishedAt ?? entry.createdAt) : null);
    const children = input.runs.filter((child) => child.parentRunId === run.id && (child.id === entry.childRunId || (entry.batchId !== null && child.batchId === entry.batchId)));
    add({
      id: journalSpanId(publicId, entry.position),
      parentId: attempt ? attemptSpanId(publicId, attempt.number) : runSpanId(publicId),
      runId: publicId,
      kind: journalKind(entry),
      message: entry.name,
      level: "TRACE",
      startTime: entry.createdAt,
      durationMs: duration(entry.createdAt, ended, now),
      isError: entry.isError,
      isPartial: ended === null,
      isCancelled: false,
      ...(attempt ? { attemptNumber: attempt.number } : {}),
      properties: {
        "ratchet.journal.position": entry.position,
        "ratchet.journal.kind": entry.kind,
        ...(entry.waitpointType ? { "ratchet.waitpoint.type": entry.waitpointType } : {}),
        ...(entry.completedAfter ? { "ratchet.wait.until": entry.completedAfter.toISOString() } : {}),
        ...(entry.childRunId ? { "ratchet.child.run.id": toPublicId("run", entry.childRunId) } : {}),
        ...(entry.batchId ? { "ratchet.batch.id": toPublicId("batch", entry.batchId) } : {}),
      },
      ...(children.length > 0
        ? { triggeredRuns: children.map((child) => ({ runId: toPublicId("run", child.id), taskIdentifier: child.taskIdentifier, status: child.status, createdAt: child.createdAt })) }
        : {}),
    });
  }

  // The task's own spans first, then logs, so a log can name a span reported in a later batch.
  const attemptSpans = new Map<string, string>();
  const attemptSpanOf = (publicId: string, attemptNumber: number) => {
    const key = `${publicId}:${attemptNumber}`;
    let id = attemptSpans.get(key);
    if (id === undefined) attemptSpans.set(key, (id = attemptSpanId(publicId, attemptNumber)));
    return id;
  };
  const publicIds = new Map<string, string>();
  const publicIdOf = (runId: string) => {
    let id = publicIds.get(runId);
    if (id === undefined) publicIds.set(runId, (id = toPublicId("run", runId)));
    return id;
  };
  const reported = [...input.events].sort((a, b) => Number(a.kind === "log") - Number(b.kind === "log"));
  for (const event of reported) {
    const publicId = publicIdOf(event.runId);
    const isLog = event.kind === "log";
    const attemptSpan = attemptSpanOf(publicId, event.attemptNumber);
    const id = !isLog && event.spanId ? event.spanId : `${attemptSpan.slice(0, 8)}${event.seq.toString(16).padStart(8, "0")}`;
    add({
      id,
      parentId: event.parentSpanId ?? attemptSpan,
      runId: publicId,
      kind: isLog ? "log" : "span",
      message: event.message,
      level: event.level.toUpperCase(),
      startTime: event.time,
      durationMs: isLog ? 0 : (event.durationMs ?? 0),
      isError: event.level === "error",
      isPartial: false,
      isCancelled: false,
      attemptNumber: event.attemptNumber,
      properties: event.attributes ?? {},
    });
  }

  const rootSpanId = runSpanId(toPublicId("run", rootRunId));
  const root = byId.get(rootSpanId);
  if (!root) return null;
  // Link the tree; a span whose parent is not in the trace hangs from its run's span (or the root).
  for (const span of spans) {
    if (span === root) continue;
    let parent = span.parentId ? byId.get(span.parentId) : undefined;
    if (!parent || parent === span) {
      parent = byId.get(runSpanId(span.runId)) ?? root;
      if (parent === span) parent = root;
      span.parentId = parent.id;
    }
    parent.children.push(span);
  }
  root.parentId = null;
  const ordered: TraceSpan[] = [];
  const visit = (span: TraceSpan, seen: Set<string>) => {
    if (seen.has(span.id)) return;
    seen.add(span.id);
    ordered.push(span);
    span.children.sort((a, b) => a.startTime.getTime() - b.startTime.getTime() || (a.id < b.id ? -1 : 1));
    for (const child of span.children) visit(child, seen);
  };
  visit(root, new Set());
  return { traceId: traceIdForRootRun(rootRunId), root, spans: ordered, byId };
}
