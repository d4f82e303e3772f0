// Runs: retrieve, list, cancel, replay, reschedule, tags, metadata, result; idempotency key reset.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { limits } from "../../api/limits.ts";
import { keysetPage } from "../../api/pagination.ts";
import { decodePacket } from "../../api/packets.ts";
import { requestOrigin } from "../../api/packet-paths.ts";
import { withPacketUrls } from "../../api/packet-urls.ts";
import { authorizeRunRead } from "../../api/public-access.ts";
import { listRunItem, retrieveRunResponse } from "../../api/run-presenter.ts";
import { delaySchema, durationSchema, durationTextSchema, maxDurationSchema, prioritySchema, tagsSchema, taskIdentifierSchema } from "../../api/trigger-schema.ts";
import { addTags, cancelRun, findRunOrNotFound, replayRun, rescheduleRun, updateRunMetadata, type MetadataUpdate } from "../../engine/run-actions.ts";
import { ApiError } from "../../errors.ts";
import { toPublicId } from "../../ids.ts";
import { runsList } from "../../storage/run-list.ts";
import { listRunsQuery, runListCursors, runListFilters } from "../../api/run-list-query.ts";
import { runExecutionResult } from "../../api/run-result.ts";
import { runsFindRelated, runsResetIdempotencyKey } from "../../storage/runs.ts";

const runParams = z.object({ runId: z.string().min(1).max(64) });

const metadataOperation = z.discriminatedUnion("type", [
  z.object({ type: z.literal("update"), value: z.record(z.string(), z.unknown()) }),
  z.object({ type: z.literal("set"), key: z.string().min(1), value: z.unknown() }),
  z.object({ type: z.literal("delete"), key: z.string().min(1) }),
  z.object({ type: z.literal("append"), key: z.string().min(1), value: z.unknown() }),
  z.object({ type: z.literal("remove"), key: z.string().min(1), value: z.unknown() }),
  z.object({ type: z.literal("increment"), key: z.string().min(1), value: z.number() }),
]);

export async function runRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { engine } = context;

  routes.get("/api/v3/runs/:runId", { schema: { params: runParams }, config: { publicAccess: true } }, async (request) => {
    const environmentId = request.environment.environmentId;
    const run = await findRunOrNotFound(engine, environmentId, request.params.runId);
    authorizeRunRead(request, run);
    const response = retrieveRunResponse(run, await runsFindRelated(context.db.sql, environmentId, run));
    return withPacketUrls(response, run, context.db.sql, requestOrigin(request), context.clock.now());
  });

  routes.get("/api/v1/runs", { schema: { querystring: listRunsQuery } }, async (request) => {
    const query = request.query;
    const environment = request.environment;
    const size = query["page[size]"] ?? limits.pageSizeDefault;
    const { after, before } = runListCursors(query);
    const rows = await runsList(context.db.kysely, environment.environmentId, runListFilters(query, context.clock.now()), { size, after, before });
    const { page, pagination } = keysetPage(rows, { size, after, before }, (run) => toPublicId("run", run.id));
    const env = { id: environment.environmentId, slug: environment.environmentSlug };
    return { data: page.map((run) => listRunItem(run, env)), pagination };
  });

  routes.post("/api/v2/runs/:runId/cancel", { schema: { params: runParams } }, async (request) => {
    await cancelRun(engine, request.environment.environmentId, request.params.runId);
    return { id: request.params.runId };
  });

  const replayBody = z
    .object({
      payload: z.unknown().optional(),
      payloadType: z.enum(["application/json", "application/super+json"]).optional(),
      metadata: z.record(z.string(), z.unknown()).optional(),
      tags: tagsSchema.optional(),
      queue: z.string().min(1).max(256).optional(),
      concurrencyKey: z.union([z.string(), z.number()]).transform(String).optional(),
      machine: z.string().max(32).optional(),
      delay: delaySchema.optional(),
      ttl: durationSchema.optional(),
      idempotencyKey: z.string().min(1).max(limits.idempotencyKeyLength).optional(),
      idempotencyKeyTTL: durationTextSchema.optional(),
      maxAttempts: z.number().int().min(1).max(250).optional(),
      maxDuration: maxDurationSchema.optional(),
      priority: prioritySchema.optional(),
    })
    .strict()
    .nullish();

  routes.post("/api/v1/runs/:runId/replay", { schema: { params: runParams, body: replayBody } }, async (request) => {
    const id = await replayRun(engine, request.environment, request.params.runId, request.body ?? {});
    return { id: toPublicId("run", id) };
  });

  routes.post(
    "/api/v1/runs/:runId/reschedule",
    { schema: { params: runParams, body: z.object({ delay: delaySchema }) } },
    async (request) => {
      const environmentId = request.environment.environmentId;
      await rescheduleRun(engine, environmentId, request.params.runId, request.body.delay);
      const run = await findRunOrNotFound(engine, environmentId, request.params.runId);
      return retrieveRunResponse(run, await runsFindRelated(context.db.sql, environmentId, run));
    },
  );

  routes.post(
    "/api/v1/runs/:runId/tags",
    { schema: { params: runParams, body: z.object({ tags: tagsSchema }) } },
    async (request) => {
      await addTags(engine, request.environment.environmentId, request.params.runId, request.body.tags);
      return { message: `Added ${request.body.tags.length} tags` };
    },
  );

  routes.get("/api/v1/runs/:runId/metadata", { schema: { params: runParams } }, async (request) => {
    const run = await findRunOrNotFound(engine, request.environment.environmentId, request.params.runId);
    const metadata = decodePacket(run.metadata, run.metadataType);
    return { metadata: metadata !== null && typeof metadata === "object" ? metadata : {} };
  });

  routes.put(
    "/api/v1/runs/:runId/metadata",
    {
      schema: {
        params: runParams,
        body: z
          .object({
            metadata: z.record(z.string(), z.unknown()).optional(),
            operations: z.array(metadataOperation).max(1000).optional(),
            parentOperations: z.array(metadataOperation).max(1000).optional(),
            rootOperations: z.array(metadataOperation).max(1000).optional(),
          })
          .loose(),
      },
    },
    async (request) => {
      const { metadata, operations, parentOperations, rootOperations } = request.body;
      const update = { metadata, operations, parentOperations, rootOperations } as MetadataUpdate;
      return { metadata: await updateRunMetadata(engine, request.environment.environmentId, request.params.runId, update) };
    },
  );

  routes.get("/api/v1/runs/:runId/result", { schema: { params: runParams } }, async (request) => {
    const run = await findRunOrNotFound(engine, request.environment.environmentId, request.params.runId);
    const result = runExecutionResult(run);
    if (!result) throw new ApiError("NOT_FOUND", `Run ${toPublicId("run", run.id)} has not finished yet`);
    return result;
  });

  routes.post(
    "/api/v1/idempotencyKeys/:key/reset",
    {
      schema: {
        params: z.object({ key: z.string().min(1).max(limits.idempotencyKeyLength) }),
        body: z.object({ taskIdentifier: taskIdentifierSchema }),
      },
    },
    async (request) => {
      const count = await runsResetIdempotencyKey(
        context.db.sql,
        request.environment.environmentId,
        request.body.taskIdentifier,
        request.params.key,
        context.clock.now(),
      );
      if (count === 0) throw new ApiError("NOT_FOUND", `No run of ${request.body.taskIdentifier} holds that idempotency key`);
      return { id: request.params.key };
    },
  );
}
