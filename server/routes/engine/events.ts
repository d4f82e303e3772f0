// POST /engine/v1/runs/:runId/events: a worker reports the logs and spans of an attempt, in batches.
// Registered inside the engine scope, whose preHandler has already resolved request.environment from
// the secret key. See docs/events.md.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId } from "../../ids.ts";
import { traceIdForRootRun } from "../../observability/span-ids.ts";
import { storableJson, storableText } from "../../api/input-safety.ts";
import { eventKinds, eventLevels, eventsFindRun, eventsInsert, type NewEvent } from "../../storage/events.ts";

/** What one request may carry. docs/events.md lists them. */
export const eventLimits = {
  eventsPerRequest: 1000,
  messageBytes: 64 * 1024,
  attributesBytes: 64 * 1024,
  spanIdLength: 128,
  /** Events may be stamped at most this far ahead of the server's clock (workers' clocks drift). */
  futureSkewMs: 86_400_000,
} as const;

const dayMs = 86_400_000;

const spanId = z.string().min(1).max(eventLimits.spanIdLength);

const eventSchema = z.object({
  seq: z.number().int().min(0).max(2_147_483_647),
  time: z.iso.datetime({ offset: true }),
  kind: z.enum(eventKinds),
  level: z.enum(eventLevels),
  message: z.string(),
  attributes: z.record(z.string(), z.unknown()).nullish(),
  spanId: spanId.nullish(),
  parentSpanId: spanId.nullish(),
  durationMs: z.number().min(0).nullish(),
});

const bodySchema = z.object({
  workerId: z.string().min(1).max(128),
  attemptNumber: z.number().int().min(1).max(250),
  events: z.array(eventSchema).max(eventLimits.eventsPerRequest),
});

function tooLarge(field: string, bytes: number, limit: number): ApiError {
  return new ApiError("PAYLOAD_TOO_LARGE", `${field} is ${bytes} bytes; the limit is ${limit} bytes (${limit / 1024} KiB)`);
}

export async function eventRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { db, clock, config } = context;

  routes.post(
    "/engine/v1/runs/:runId/events",
    // Logs keep what they can: unstorable characters in events become U+FFFD instead of refusing the batch.
    { schema: { params: z.object({ runId: z.string().min(1).max(64) }), body: bodySchema }, config: { textCheckedByRoute: ["events"] } },
    async (request) => {
      const { runId: publicId } = request.params;
      const { attemptNumber, events } = request.body;
      const environmentId = request.environment.environmentId;

      // Every check before any database work, so a refused request writes nothing.
      const now = clock.now().getTime();
      const earliest = now - config.eventsRetentionDays * dayMs;
      const latest = now + eventLimits.futureSkewMs;
      const rows: Omit<NewEvent, "environmentId" | "runId">[] = events.map((event, index) => {
        const field = (name: string) => `events[${index}].${name}`;
        const message = storableText(event.message);
        const messageBytes = Buffer.byteLength(message);
        if (messageBytes > eventLimits.messageBytes) throw tooLarge(field("message"), messageBytes, eventLimits.messageBytes);
        const attributes = event.attributes == null ? null : (storableJson(event.attributes) as Record<string, unknown>);
        if (attributes !== null) {
          const attributesBytes = Buffer.byteLength(JSON.stringify(attributes));
          if (attributesBytes > eventLimits.attributesBytes) throw tooLarge(field("attributes"), attributesBytes, eventLimits.attributesBytes);
        }
        const time = new Date(event.time);
        if (time.getTime() < earliest || time.getTime() > latest) {
          throw new ApiError(
            "VALIDATION_FAILED",
            `${field("time")}: ${event.time} is outside what Ratchet keeps (the last ${config.eventsRetentionDays} days, up to a day ahead of the server's clock)`,
          );
        }
        return {
          attemptNumber,
          seq: event.seq,
          time,
          kind: event.kind,
          level: event.level,
          message,
          attributes,
          spanId: event.spanId == null ? null : storableText(event.spanId),
          parentSpanId: event.parentSpanId == null ? null : storableText(event.parentSpanId),
          durationMs: event.durationMs ?? null,
        };
      });

      const runId = fromPublicId("run", publicId);
      const run = runId === null ? null : await eventsFindRun(db.sql, environmentId, runId);
      if (run === null) throw new ApiError("NOT_FOUND", `No run ${publicId}`);

      // Secret values are redacted here, not in the SDK, so that no task can store one by skipping it.
      const redact = await context.redactor.forEnvironment(environmentId);
      const traceId = traceIdForRootRun(run.rootRunId);
      await eventsInsert(db.sql, rows.map((row) => ({ ...row, message: redact(row.message), attributes: redact(row.attributes), environmentId, runId: run.id, traceId })));
      if (rows.length > 0) context.notifier.eventsAdded(environmentId);
      return { accepted: rows.length };
    },
  );
}
