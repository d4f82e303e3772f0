// A run's trace as a waterfall: the tree of spans (collapsible, nested <details>), bars on the
// trace's time axis, and a span's detail fetched with htmx. Server-rendered: the tree is flattened
// here (depth-first, with how many levels close after each row) so the template is one loop.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId } from "../../ids.ts";
import { loadRunTrace } from "../../observability/run-trace.ts";
import type { TraceSpan } from "../../observability/trace-tree.ts";
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

export async function tracePages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, clock } = context;
  const load = async (environmentId: string, publicRunId: string) => {
    const runId = fromPublicId("run", publicRunId);
    const trace = runId ? await loadRunTrace(db, environmentId, runId, clock.now()) : null;
    if (!trace) throw new ApiError("NOT_FOUND", `No run ${publicRunId}`);
    return trace;
  };

  app.get<{ Params: Params }>("/p/:ref/:env/runs/:runId/trace", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const trace = await load(scope.environment.environmentId, request.params.runId);
    return render(
      request,
      reply,
      "trace",
      {
        title: `Trace of ${request.params.runId}`,
        runId: request.params.runId,
        traceId: trace.traceId,
        rows: waterfallRows(trace.root),
        total: durationLabel(trace.root.durationMs),
        liveUrl: `${scope.base}/live`,
        selfUrl: request.url,
      },
      scope,
      "runs",
    );
  });

  app.get<{ Params: Params & { spanId: string } }>("/p/:ref/:env/runs/:runId/trace/spans/:spanId", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const trace = await load(scope.environment.environmentId, request.params.runId);
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
