// A run's trace as a waterfall: the tree of spans (collapsible, nested <details>), bars on the
// trace's time axis, and a span's detail fetched with htmx; live while the run executes. Server-
// rendered: the tree is flattened here (depth-first, with how many levels close after each row) so
// the template is one loop.
import { openLiveStream } from "./live-stream.ts";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import type { Db } from "../../db/client.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId } from "../../ids.ts";
import { loadRunTrace } from "../../observability/run-trace.ts";
import type { TraceSpan } from "../../observability/trace-tree.ts";
import { tracesFindRoot, tracesFingerprint } from "../../storage/traces.ts";
import { render, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string; runId: string };

export interface WaterfallRow {
  id: string;
  kind: string;
  message: string;
  level: string;
  runId: string;
  depth: number;
  hasChildren: boolean;
  /** How many open <details> end after this row. */
  closes: number;
  offsetPct: string;
  widthPct: string;
  duration: string;
  state: "error" | "partial" | "canceled" | "ok";
}

function durationLabel(ms: number): string {
  if (ms < 1) return ms === 0 ? "" : "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** The rows of a waterfall, depth-first from the root, with bar positions on the trace's time axis. */
export function waterfallRows(root: TraceSpan): WaterfallRow[] {
  const start = root.startTime.getTime();
  let end = start + root.durationMs;
  const stack: TraceSpan[] = [root];
  while (stack.length > 0) {
    const span = stack.pop()!;
    end = Math.max(end, span.startTime.getTime() + span.durationMs);
    for (const child of span.children) stack.push(child);
  }
  const total = Math.max(1, end - start);
  const rows: WaterfallRow[] = [];
  const visit = (span: TraceSpan, depth: number): void => {
    const offset = ((span.startTime.getTime() - start) / total) * 100;
    rows.push({
      id: span.id,
      kind: span.kind,
      message: span.message,
      level: span.level.toLowerCase(),
      runId: span.runId,
      depth,
      hasChildren: span.children.length > 0,
      closes: 0,
      offsetPct: Math.min(100, Math.max(0, offset)).toFixed(3),
      widthPct: Math.max(0.2, Math.min(100 - offset, (span.durationMs / total) * 100)).toFixed(3),
      duration: durationLabel(span.durationMs),
      state: span.isError ? "error" : span.isCancelled ? "canceled" : span.isPartial ? "partial" : "ok",
    });
    for (const child of span.children) visit(child, depth + 1);
    if (span.children.length > 0) rows[rows.length - 1]!.closes += 1;
  };
  visit(root, 0);
  return rows;
}

const levelOrder = ["trace", "debug", "info", "warn", "error"] as const;
type Level = (typeof levelOrder)[number];

export interface WaterfallFilter {
  /** The least severe level shown. */
  level: Level | null;
  /** Case-insensitive text the span's name or the log's message contains. */
  text: string | null;
}

function readFilter(query: Record<string, unknown>): WaterfallFilter {
  const level = typeof query.level === "string" && query.level !== "" ? query.level.toLowerCase() : null;
  if (level !== null && !(levelOrder as readonly string[]).includes(level)) throw new ApiError("VALIDATION_FAILED", `level: must be one of ${levelOrder.join(", ")}`);
  const text = typeof query.q === "string" && query.q.trim() !== "" ? query.q.trim() : null;
  if (text !== null && text.length > 200) throw new ApiError("VALIDATION_FAILED", "q: must be at most 200 characters");
  return { level: level as Level | null, text };
}

/**
 * The tree with only the spans and logs that match, and the spans leading to them (so a match is
 * shown where it happened); the root always stays, so the time axis does not change.
 */
export function filterTrace(root: TraceSpan, filter: WaterfallFilter): TraceSpan {
  if (filter.level === null && filter.text === null) return root;
  const least = filter.level === null ? 0 : levelOrder.indexOf(filter.level);
  const needle = filter.text?.toLowerCase() ?? null;
  const matches = (span: TraceSpan) => {
    const rank = levelOrder.indexOf(span.level.toLowerCase() as Level);
    return (rank === -1 ? 2 : rank) >= least && (needle === null || span.message.toLowerCase().includes(needle));
  };
  const prune = (span: TraceSpan): TraceSpan | null => {
    const children = span.children.map(prune).filter((child): child is TraceSpan => child !== null);
    return children.length > 0 || matches(span) ? { ...span, children } : null;
  };
  return prune(root) ?? { ...root, children: [] };
}

export async function tracePages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, clock } = context;
  const load = async (environmentId: string, publicRunId: string, readDb: Db = db) => {
    const runId = fromPublicId("run", publicRunId);
    const trace = runId ? await loadRunTrace(readDb, environmentId, runId, clock.now()) : null;
    if (!trace) throw new ApiError("NOT_FOUND", `No run ${publicRunId}`);
    return trace;
  };

  app.get<{ Params: Params; Querystring: Record<string, unknown> }>("/p/:ref/:env/runs/:runId/trace", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const filter = readFilter(request.query);
    const trace = await load(scope.environment.environmentId, request.params.runId, context.reads.for(request));
    const rows = waterfallRows(filterTrace(trace.root, filter));
    return render(
      request,
      reply,
      "trace",
      {
        title: `Trace of ${request.params.runId}`,
        runId: request.params.runId,
        traceId: trace.traceId,
        rows,
        filter: { level: filter.level ?? "", text: filter.text ?? "", active: filter.level !== null || filter.text !== null, levels: levelOrder },
        total: durationLabel(trace.root.durationMs),
        liveUrl: `${scope.base}/runs/${request.params.runId}/trace/live`,
        selfUrl: request.url,
      },
      scope,
      "runs",
    );
  });

  // The waterfall's live updates: woken by the environment's run changes and by events stored for its
  // runs (their own channel), it writes "changed" only when this trace's fingerprint moved, so an open
  // trace is re-rendered when a span or log arrives here, not whenever another run does something.
  app.get<{ Params: Params }>("/p/:ref/:env/runs/:runId/trace/live", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const environmentId = scope.environment.environmentId;
    const runId = fromPublicId("run", request.params.runId);
    const rootRunId = runId ? await tracesFindRoot(db.sql, environmentId, runId) : null;
    if (!rootRunId) throw new ApiError("NOT_FOUND", `No run ${request.params.runId}`);
    let last = await tracesFingerprint(db.sql, environmentId, rootRunId);
    openLiveStream(request, reply, {
      name: "trace page",
      subscribe: (wake) => [context.notifier.onChanges(environmentId, wake), context.notifier.onEvents(environmentId, wake)],
      look: async () => {
        const now = await tracesFingerprint(db.sql, environmentId, rootRunId);
        const changed = now !== last;
        last = now;
        return changed ? {} : null;
      },
      // At most four looks a second, however chatty the environment.
      coalesceMs: 250,
      pollMs: 3_000,
      closing: context.closing,
    });
  });

  app.get<{ Params: Params & { spanId: string } }>("/p/:ref/:env/runs/:runId/trace/spans/:spanId", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const trace = await load(scope.environment.environmentId, request.params.runId, context.reads.for(request));
    const span = trace.byId.get(request.params.spanId);
    if (!span) throw new ApiError("NOT_FOUND", `No span ${request.params.spanId} in this trace`);
    return render(request, reply, "span", {
      title: span.message,
      span: {
        id: span.id,
        kind: span.kind,
        message: span.message,
        level: span.level,
        runId: span.runId,
        startTime: span.startTime.toISOString(),
        duration: durationLabel(span.durationMs) || "0 ms",
        state: span.isError ? "error" : span.isCancelled ? "canceled" : span.isPartial ? "in progress" : "ok",
        properties: Object.entries(span.properties).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
        logs: span.children.filter((child) => child.kind === "log").map((log) => ({ time: log.startTime.toISOString(), level: log.level.toLowerCase(), message: log.message })),
        triggeredRuns: span.triggeredRuns ?? [],
      },
    }, scope, "runs");
  });
}
