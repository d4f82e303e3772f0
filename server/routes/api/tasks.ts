// Triggering: POST /api/v1/tasks/{taskId}/trigger.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { durationTextSchema, taskIdentifierSchema, triggerBodySchema } from "../../api/trigger-schema.ts";
import { triggerRun } from "../../engine/trigger.ts";
import { toPublicId } from "../../ids.ts";
import { authorizeTrigger, runReadToken } from "../../api/public-access.ts";

export async function taskRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    "/api/v1/tasks/:taskId/trigger",
    {
      config: { publicAccess: true },
      schema: {
        params: z.object({ taskId: taskIdentifierSchema }),
        body: triggerBodySchema,
        headers: z
          .object({
            "idempotency-key": z.string().min(1).optional(),
            "idempotency-key-ttl": durationTextSchema.optional(),
          })
          .loose(),
      },
    },
    async (request, reply) => {
      const environment = request.environment;
      await authorizeTrigger(context, request, request.params.taskId);
      const result = await triggerRun(context.engine, environment, {
        taskIdentifier: request.params.taskId,
        payload: request.body.payload,
        options: request.body.options ?? {},
        idempotencyKeyHeader: request.headers["idempotency-key"],
        idempotencyKeyTtlHeader: request.headers["idempotency-key-ttl"],
      });
      const id = toPublicId("run", result.runId);
      reply.header("x-trigger-jwt", await runReadToken(context, environment.environmentId, [`read:runs:${id}`]));
      return { id, isCached: result.isCached };
    },
  );
}
