// GET /api/v1/runs/:runId/events: a run's logs and spans, in order (time, attempt, seq). Registered
// inside the API scope, whose preHandler has already resolved request.environment from the secret
// key. See docs/events.md.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId } from "../../ids.ts";
import { eventsFindRun, eventsListForRun, type EventRow } from "../../storage/events.ts";

export const eventListLimits = { default: 1000, max: 10_000 } as const;

function presentEvent(event: EventRow) {
  return {
    seq: event.seq,
    attemptNumber: event.attemptNumber,
    time: event.time.toISOString(),
    kind: event.kind,
    level: event.level,
    message: event.message,
    attributes: event.attributes ?? undefined,
    spanId: event.spanId ?? undefined,
    parentSpanId: event.parentSpanId ?? undefined,
    durationMs: event.durationMs ?? undefined,
  };
}

export async function runEventRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { db } = context;

  routes.get(
    "/api/v1/runs/:runId/events",
    {
      schema: {
        params: z.object({ runId: z.string().min(1).max(64) }),
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(eventListLimits.max).default(eventListLimits.default) }),
      },
    },
    async (request) => {
      const { runId: publicId } = request.params;
      const environmentId = request.environment.environmentId;
      const runId = fromPublicId("run", publicId);
      const run = runId === null ? null : await eventsFindRun(db.sql, environmentId, runId);
      if (run === null) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
      const events = await eventsListForRun(db.sql, environmentId, run.id, { limit: request.query.limit });
      return { events: events.map(presentEvent) };
    },
  );
}
