// Queues as Trigger.dev names them: list, retrieve, pause/resume, concurrency override and reset.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import {
  queuesFindWithCounts,
  queuesFindWithCountsById,
  queuesListWithCounts,
  queuesSetOverride,
  queuesSetPaused,
  type QueueWithCounts,
} from "../../storage/queues.ts";

const queueType = z.enum(["id", "task", "custom"]);

function queueItem(queue: QueueWithCounts, environmentLimit: number) {
  const base = queue.concurrencyLimit;
  const effective = queue.concurrencyOverride ?? base ?? environmentLimit;
  return {
    id: queue.id,
    name: queue.name,
    type: queue.type,
    running: queue.running,
    queued: queue.queued,
    paused: queue.paused,
    concurrencyLimit: queue.concurrencyOverride ?? base,
    concurrency: {
      current: effective,
      base,
      override: queue.concurrencyOverride,
      overriddenAt: queue.overriddenAt?.toISOString() ?? null,
      overriddenBy: null,
    },
  };
}

/** The SDK double-encodes "/" in queue names (task/foo arrives as task%2Ffoo after one decoding). */
function queueName(raw: string, type: z.infer<typeof queueType>): string {
  const name = raw.replaceAll("%2F", "/").replaceAll("%2f", "/");
  return type === "task" && !name.startsWith("task/") ? `task/${name}` : name;
}

export async function queueRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ queue: z.string().min(1).max(512) });

  const find = async (environmentId: string, raw: string, type: z.infer<typeof queueType>) => {
    const name = queueName(raw, type);
    const queue =
      type === "id" ? await queuesFindWithCountsById(context.db.sql, environmentId, raw) : await queuesFindWithCounts(context.db.sql, environmentId, name);
    if (!queue) throw new ApiError("NOT_FOUND", `No queue ${name}`);
    return queue;
  };

  routes.get(
    "/api/v1/queues",
    { schema: { querystring: z.object({ page: z.coerce.number().int().min(1).default(1), perPage: z.coerce.number().int().min(1).max(100).default(25) }) } },
    async (request) => {
      const { page, perPage } = request.query;
      const { rows, total } = await queuesListWithCounts(context.db.sql, request.environment.environmentId, { offset: (page - 1) * perPage, limit: perPage });
      return {
        data: rows.map((queue) => queueItem(queue, request.environment.concurrencyLimit)),
        pagination: { currentPage: page, totalPages: Math.max(1, Math.ceil(total / perPage)), count: total },
      };
    },
  );

  routes.get(
    "/api/v1/queues/:queue",
    { schema: { params, querystring: z.object({ type: queueType.default("custom") }) } },
    async (request) => queueItem(await find(request.environment.environmentId, request.params.queue, request.query.type), request.environment.concurrencyLimit),
  );

  routes.post(
    "/api/v1/queues/:queue/pause",
    { schema: { params, body: z.object({ type: queueType.default("custom"), action: z.enum(["pause", "resume"]) }) } },
    async (request) => {
      const environmentId = request.environment.environmentId;
      const queue = await find(environmentId, request.params.queue, request.body.type);
      await queuesSetPaused(context.db.sql, environmentId, queue.name, request.body.action === "pause", context.clock.now());
      if (request.body.action === "resume") context.notifier.queueChanged(environmentId);
      return queueItem(await find(environmentId, queue.name, "custom"), request.environment.concurrencyLimit);
    },
  );

  routes.post(
    "/api/v1/queues/:queue/concurrency/override",
    { schema: { params, body: z.object({ type: queueType.default("custom"), concurrencyLimit: z.number().int().min(0).max(100_000) }) } },
    async (request) => {
      const environmentId = request.environment.environmentId;
      const queue = await find(environmentId, request.params.queue, request.body.type);
      await queuesSetOverride(context.db.sql, environmentId, queue.name, request.body.concurrencyLimit, context.clock.now());
      context.notifier.queueChanged(environmentId);
      return queueItem(await find(environmentId, queue.name, "custom"), request.environment.concurrencyLimit);
    },
  );

  routes.post(
    "/api/v1/queues/:queue/concurrency/reset",
    { schema: { params, body: z.object({ type: queueType.default("custom") }).nullish() } },
    async (request) => {
      const environmentId = request.environment.environmentId;
      const queue = await find(environmentId, request.params.queue, request.body?.type ?? "custom");
      await queuesSetOverride(context.db.sql, environmentId, queue.name, null, context.clock.now());
      context.notifier.queueChanged(environmentId);
      return queueItem(await find(environmentId, queue.name, "custom"), request.environment.concurrencyLimit);
    },
  );
}
