// The official SDK's concurrencyLimits.* (list, retrieve, override, pause/resume, reset) over
// Ratchet's per-queue limits: a limit is a queue, named as the queue is (`task/<taskId>` for a
// task's own). A queue's limit applies to each concurrency key on its own (docs/architecture.md),
// so it is the limit's `perKey` bound; Ratchet has no separate `total` cap per queue (the
// environment's limit caps everything), so `total` reads null and cannot be overridden, and there
// are no temporary per-key overrides. Both are refused with a 400 naming the field.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import { toPublicId } from "../../ids.ts";
import {
  queuesFindWithCounts,
  queuesListWithCounts,
  queuesRunningForKey,
  queuesSetOverride,
  queuesSetPaused,
  type QueueWithCounts,
} from "../../storage/queues.ts";

const noTotal = { current: null, base: null, override: null, overriddenAt: null };

function limitItem(queue: QueueWithCounts, environmentLimit: number) {
  return {
    id: toPublicId("climit", queue.id),
    name: queue.name,
    perKey: {
      current: Math.min(queue.concurrencyOverride ?? queue.concurrencyLimit ?? environmentLimit, environmentLimit),
      base: queue.concurrencyLimit,
      override: queue.concurrencyOverride,
      overriddenAt: queue.overriddenAt?.toISOString() ?? null,
    },
    total: noTotal,
    running: queue.running,
    queued: queue.queued,
    paused: queue.paused,
  };
}

const keySchema = z.union([z.string(), z.number()]).transform(String).pipe(z.string().min(1).max(128));
const bound = z.number().int().min(0).max(100_000);
const noPerKeyOverrides = "per-key overrides are not supported by Ratchet: a queue's limit applies to every concurrency key alike";

export async function concurrencyLimitRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ name: z.string().min(1).max(512) });

  const find = async (environmentId: string, raw: string) => {
    // The SDK encodes the name once; a client that encoded "/" twice still finds the queue.
    const name = raw.replaceAll("%2F", "/").replaceAll("%2f", "/");
    const queue = await queuesFindWithCounts(context.db.sql, environmentId, name);
    if (!queue) throw new ApiError("NOT_FOUND", `No concurrency limit ${name}`);
    return queue;
  };

  routes.get(
    "/api/v1/concurrency-limits",
    { schema: { querystring: z.object({ page: z.coerce.number().int().min(1).default(1), perPage: z.coerce.number().int().min(1).max(100).default(25) }) } },
    async (request) => {
      const { page, perPage } = request.query;
      const { rows, total } = await queuesListWithCounts(context.db.sql, request.environment.environmentId, { offset: (page - 1) * perPage, limit: perPage });
      return {
        data: rows.map((queue) => limitItem(queue, request.environment.concurrencyLimit)),
        pagination: { currentPage: page, totalPages: Math.max(1, Math.ceil(total / perPage)), count: total },
      };
    },
  );

  routes.get("/api/v1/concurrency-limits/:name", { schema: { params, querystring: z.object({ concurrencyKey: keySchema.optional() }) } }, async (request) => {
    const environment = request.environment;
    const queue = await find(environment.environmentId, request.params.name);
    const item = limitItem(queue, environment.concurrencyLimit);
    const key = request.query.concurrencyKey;
    if (key === undefined) return item;
    return {
      name: queue.name,
      concurrencyKey: key,
      perKey: { current: item.perKey.current, base: item.perKey.current, override: null, expiresAt: null },
      running: await queuesRunningForKey(context.db.sql, queue.id, key),
      paused: queue.paused,
    };
  });

  const overrideBody = z.object({ perKey: bound.optional(), total: bound.optional(), concurrencyKey: keySchema.optional(), ttl: z.union([z.string(), z.number()]).optional() });
  routes.post("/api/v1/concurrency-limits/:name/override", { schema: { params, body: overrideBody } }, async (request) => {
    const environment = request.environment;
    const body = request.body;
    if (body.concurrencyKey !== undefined) throw new ApiError("VALIDATION_FAILED", `body.concurrencyKey: ${noPerKeyOverrides}`);
    if (body.ttl !== undefined) throw new ApiError("VALIDATION_FAILED", "body.ttl: only applies to a per-key override, which Ratchet does not have");
    if (body.total !== undefined) throw new ApiError("VALIDATION_FAILED", "body.total: Ratchet has no total cap per queue (the environment's limit is the total); override perKey");
    if (body.perKey === undefined) throw new ApiError("VALIDATION_FAILED", "body.perKey: give the new limit");
    const queue = await find(environment.environmentId, request.params.name);
    await queuesSetOverride(context.db.sql, environment.environmentId, queue.name, body.perKey, context.clock.now());
    context.notifier.queueChanged(environment.environmentId);
    return limitItem(await find(environment.environmentId, queue.name), environment.concurrencyLimit);
  });

  routes.post("/api/v1/concurrency-limits/:name/pause", { schema: { params, body: z.object({ action: z.enum(["pause", "resume"]) }) } }, async (request) => {
    const environment = request.environment;
    const queue = await find(environment.environmentId, request.params.name);
    await queuesSetPaused(context.db.sql, environment.environmentId, queue.name, request.body.action === "pause", context.clock.now());
    if (request.body.action === "resume") context.notifier.queueChanged(environment.environmentId);
    return limitItem(await find(environment.environmentId, queue.name), environment.concurrencyLimit);
  });

  routes.post("/api/v1/concurrency-limits/:name/reset", { schema: { params, body: z.object({ concurrencyKey: keySchema.optional() }).nullish() } }, async (request) => {
    const environment = request.environment;
    if (request.body?.concurrencyKey !== undefined) throw new ApiError("VALIDATION_FAILED", `body.concurrencyKey: ${noPerKeyOverrides}`);
    const queue = await find(environment.environmentId, request.params.name);
    await queuesSetOverride(context.db.sql, environment.environmentId, queue.name, null, context.clock.now());
    context.notifier.queueChanged(environment.environmentId);
    return limitItem(await find(environment.environmentId, queue.name), environment.concurrencyLimit);
  });
}
