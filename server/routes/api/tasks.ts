// Triggering: POST /api/v1/tasks/{taskId}/trigger.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { durationTextSchema, taskIdentifierSchema, triggerBodySchema } from "../../api/trigger-schema.ts";
import { triggerRun } from "../../engine/trigger.ts";
import { toPublicId } from "../../ids.ts";

export async function taskRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    "/api/v1/tasks/:taskId/trigger",
    {
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
    async (request) => {
      const environment = request.environment;
      const result = await triggerRun(context.engine, environment, {
        taskIdentifier: request.params.taskId,
        payload: request.body.payload,
        options: request.body.options ?? {},
        idempotencyKeyHeader: request.headers["idempotency-key"],
        idempotencyKeyTtlHeader: request.headers["idempotency-key-ttl"],
      });
      return { id: toPublicId("run", result.runId), isCached: result.isCached };
    },
  );
}
