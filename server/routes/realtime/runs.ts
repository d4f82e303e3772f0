// Run subscriptions over ElectricSQL's shape protocol: one run, the runs with any of some tags, the
// runs of a batch. The first request (offset=-1) answers with the runs as they are; live requests
// wait (up to liveWaitMs) for the next change. engine/realtime-feed.ts has the protocol.
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { authorizeRunRead } from "../../api/public-access.ts";
import { limits } from "../../api/limits.ts";
import { scopeAllows } from "../../auth/public-tokens.ts";
import { parseDurationMs } from "../../engine/durations.ts";
import {
  feedRetentionMs,
  formatOffset,
  parseOffset,
  readChanges,
  readSnapshot,
  shapeKey,
  shapeRow,
  type FeedAnswer,
} from "../../engine/realtime-feed.ts";
import { runIdOrNotFound } from "../../engine/run-actions.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId } from "../../ids.ts";
import { batchesFind } from "../../storage/batches.ts";
import type { ShapeFilter } from "../../storage/run-changes.ts";
import { runsFindById } from "../../storage/runs.ts";
import { streamKeysOfRuns } from "../../storage/stream-chunks.ts";

/** How long a live request waits for a change before answering "still up to date". */
export const liveWaitMs = 20_000;
/** A wake-up is a hint; this often a waiting request looks again anyway. */
const recheckMs = 2_000;

const protocolQuery = {
  offset: z.string().min(1).max(4096).default("-1"),
  handle: z.string().max(200).optional(),
  live: z.enum(["true", "false"]).optional(),
  cursor: z.string().max(100).optional(),
  skipColumns: z.string().max(1000).optional(),
};

function waitForChange(context: AppContext, environmentId: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = context.notifier.onChanges(environmentId, done);
    signal.addEventListener("abort", done, { once: true });
  });
}

async function answerShape(
  context: AppContext,
  request: FastifyRequest<{ Querystring: { offset: string; handle?: string; live?: "true" | "false"; skipColumns?: string } }>,
  reply: FastifyReply,
  shape: ShapeFilter,
  handle: string,
): Promise<unknown> {
  const { sql } = context.db;
  const now = () => context.clock.now();
  const offset = parseOffset(request.query.offset);
  const skip = new Set((request.query.skipColumns ?? "").split(",").map((column) => column.trim()).filter(Boolean));
  if (offset.kind === "seen" && (request.query.handle !== handle || offset.issuedAt < now().getTime() - feedRetentionMs)) {
    // Another shape's offset, or one older than the feed keeps: start over.
    void reply.code(409).header("electric-handle", handle);
    return [{ headers: { control: "must-refetch" } }];
  }
  let answer: FeedAnswer;
  if (offset.kind === "initial") {
    answer = await readSnapshot(sql, shape);
  } else {
    answer = await readChanges(sql, shape, offset.since);
    if (answer.rows.length === 0 && request.query.live === "true") {
      const abort = new AbortController();
      reply.raw.once("close", () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const signal = AbortSignal.any([abort.signal, context.closing]);
      const deadline = Date.now() + liveWaitMs;
      while (answer.rows.length === 0 && !signal.aborted && Date.now() < deadline) {
        await waitForChange(context, shape.environmentId, Math.min(recheckMs, deadline - Date.now()), signal);
        answer = await readChanges(sql, shape, answer.next);
      }
    }
  }
  const streams = await streamKeysOfRuns(sql, [...new Set(answer.rows.map(({ row }) => row.runId))]);
  const messages: unknown[] = answer.rows.map(({ row, operation }) => ({
    key: shapeKey(row.runId),
    value: shapeRow(row, streams.get(row.runId) ?? [], skip),
    headers: { operation, relation: ["public", "TaskRun"] },
  }));
  messages.push({ headers: { control: "up-to-date" } });
  void reply
    .header("electric-handle", handle)
    .header("electric-offset", formatOffset(answer.next, now()))
    .header("electric-schema", "{}")
    .header("electric-cursor", String(Math.floor(Date.now() / liveWaitMs)))
    .header("electric-up-to-date", "")
    .header("cache-control", "no-store");
  return messages;
}

export async function realtimeRunRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = context.db;

  routes.get(
    "/realtime/v1/runs/:runId",
    { config: { publicAccess: true }, schema: { params: z.object({ runId: z.string().min(1).max(64) }), querystring: z.object(protocolQuery).loose() } },
    async (request, reply) => {
      const environmentId = request.environment.environmentId;
      const runId = runIdOrNotFound(request.params.runId);
      const run = await runsFindById(sql, environmentId, runId);
      if (!run) throw new ApiError("NOT_FOUND", `No run ${request.params.runId}`);
      authorizeRunRead(request, run);
      return answerShape(context, request, reply, { kind: "run", environmentId, runId }, `run-${request.params.runId}`);
    },
  );

  routes.get(
    "/realtime/v1/batches/:batchId",
    { config: { publicAccess: true }, schema: { params: z.object({ batchId: z.string().min(1).max(64) }), querystring: z.object(protocolQuery).loose() } },
    async (request, reply) => {
      const environmentId = request.environment.environmentId;
      const batchId = fromPublicId("batch", request.params.batchId);
      const batch = batchId ? await batchesFind(sql, environmentId, batchId) : null;
      const token = request.publicToken;
      if (!batch || (token && !scopeAllows(token.scopes, "read", "batch", [request.params.batchId]) && !scopeAllows(token.scopes, "read", "runs", []))) {
        throw new ApiError("NOT_FOUND", `No batch ${request.params.batchId}`);
      }
      return answerShape(context, request, reply, { kind: "batch", environmentId, batchId: batch.id }, `batch-${request.params.batchId}`);
    },
  );

  routes.get(
    "/realtime/v1/runs",
    {
      config: { publicAccess: true },
      schema: {
        querystring: z
          .object({
            ...protocolQuery,
            tags: z
              .string()
              .min(1, "give at least one tag")
              .max(2000)
              .transform((value) => value.split(",").map((tag) => tag.trim()).filter(Boolean))
              .pipe(z.array(z.string().max(limits.tagLength)).min(1, "give at least one tag").max(limits.tagsPerRun)),
            createdAt: z.string().regex(/^\d+[smhdw]$/, 'must look like "1h" or "7d"').optional(),
          })
          .loose(),
      },
    },
    async (request, reply) => {
      const environmentId = request.environment.environmentId;
      const tags = request.query.tags;
      const token = request.publicToken;
      if (token && !scopeAllows(token.scopes, "read", "runs", []) && !tags.every((tag) => scopeAllows(token.scopes, "read", "tags", [tag]))) {
        throw new ApiError("FORBIDDEN", "This public access token may not read runs with these tags");
      }
      const createdAfter = request.query.createdAt ? new Date(context.clock.now().getTime() - parseDurationMs(request.query.createdAt)!) : null;
      const handle = `tags-${createHash("sha256").update(JSON.stringify([[...tags].sort(), request.query.createdAt ?? null])).digest("hex").slice(0, 24)}`;
      return answerShape(context, request, reply, { kind: "tags", environmentId, tags, createdAfter }, handle);
    },
  );
}
