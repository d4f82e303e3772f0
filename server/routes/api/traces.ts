// GET /api/v1/runs/:runId/trace and /api/v1/runs/:runId/spans/:spanId, in Trigger.dev's shapes
// (RetrieveRunTraceResponseBody, RetrieveRunTracePageResponseBody, RetrieveSpanDetailResponseBody of
// @trigger.dev/core), so the official SDK's runs.retrieveTrace/retrieveSpan work. See docs/tracing.md.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId } from "../../ids.ts";
import { loadRunTrace } from "../../observability/run-trace.ts";
import type { TraceSpan } from "../../observability/trace-tree.ts";

const runParams = z.object({ runId: z.string().min(1).max(64) });
const pageQuery = z.object({
  "page[size]": z.coerce.number().int().min(1).max(10_000).optional(),
  "page[after]": z.string().regex(/^\d{1,9}$/, "must be the pagination.next of an earlier page").optional(),
});

function spanData(span: TraceSpan) {
  return {
    message: span.message,
    ...(span.taskSlug ? { taskSlug: span.taskSlug } : {}),
    startTime: span.startTime.toISOString(),
    duration: span.durationMs,
    isError: span.isError,
    isPartial: span.isPartial,
    isCancelled: span.isCancelled,
    level: span.level,
    ...(span.workerVersion ? { workerVersion: span.workerVersion } : {}),
    ...(span.queueName ? { queueName: span.queueName } : {}),
    ...(span.machinePreset ? { machinePreset: span.machinePreset } : {}),
    properties: { ...span.properties, "ratchet.span.kind": span.kind },
  };
}

type PresentedSpan = { id: string; parentId?: string; runId: string; data: ReturnType<typeof spanData>; children: PresentedSpan[] };

function presentTree(span: TraceSpan): PresentedSpan {
  return {
    id: span.id,
    ...(span.parentId ? { parentId: span.parentId } : {}),
    runId: span.runId,
    data: spanData(span),
    children: span.children.map(presentTree),
  };
}

function runUuidOrNotFound(publicId: string): string {
  const id = fromPublicId("run", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  return id;
}

export async function traceRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { db, clock } = context;

  routes.get("/api/v1/runs/:runId/trace", { schema: { params: runParams, querystring: pageQuery } }, async (request) => {
    const trace = await loadRunTrace(db, request.environment.environmentId, runUuidOrNotFound(request.params.runId), clock.now());
    if (!trace) throw new ApiError("NOT_FOUND", `No run ${request.params.runId}`);
    const size = request.query["page[size]"];
    const after = request.query["page[after]"];
    if (size === undefined && after === undefined) return { trace: { traceId: trace.traceId, rootSpan: presentTree(trace.root) } };
    // Flat pages in start order; the cursor is the position of the next span.
    const from = after === undefined ? 0 : Number(after);
    const page = trace.spans.slice(from, from + (size ?? 10_000));
    const next = from + page.length < trace.spans.length ? String(from + page.length) : undefined;
    return {
      data: page.map((span) => ({
        id: span.id,
        ...(span.parentId ? { parentId: span.parentId } : {}),
        runId: span.runId,
        message: span.message,
        startTime: span.startTime.toISOString(),
        duration: span.durationMs,
        isError: span.isError,
        isPartial: span.isPartial,
        isCancelled: span.isCancelled,
        level: span.level,
        ...(span.attemptNumber !== undefined ? { attemptNumber: span.attemptNumber } : {}),
      })),
      attemptFailures: page
        .filter((span) => span.kind === "attempt" && span.isError)
        .map((span) => ({ spanId: span.id, attemptNumber: span.attemptNumber!, runId: span.runId })),
      pagination: next === undefined ? {} : { next },
    };
  });

  routes.get(
    "/api/v1/runs/:runId/spans/:spanId",
    { schema: { params: runParams.extend({ spanId: z.string().min(1).max(128) }) } },
    async (request) => {
      const trace = await loadRunTrace(db, request.environment.environmentId, runUuidOrNotFound(request.params.runId), clock.now());
      const span = trace?.byId.get(request.params.spanId);
      if (!trace || !span) throw new ApiError("NOT_FOUND", `No span ${request.params.spanId} in the trace of run ${request.params.runId}`);
      const logs = span.children.filter((child) => child.kind === "log");
      return {
        spanId: span.id,
        parentId: span.parentId,
        runId: span.runId,
        message: span.message,
        isError: span.isError,
        isPartial: span.isPartial,
        isCancelled: span.isCancelled,
        level: span.level,
        startTime: span.startTime.toISOString(),
        durationMs: span.durationMs,
        properties: { ...span.properties, "ratchet.span.kind": span.kind },
        events: logs.map((log) => ({ name: log.message, time: log.startTime.toISOString(), properties: { level: log.level, ...log.properties } })),
        entityType: span.kind,
        ...(span.triggeredRuns
          ? { triggeredRuns: span.triggeredRuns.map((run) => ({ ...run, createdAt: run.createdAt.toISOString() })) }
          : {}),
      };
    },
  );
}
