// Batches: the two-phase streaming API (POST /api/v3/batches, then NDJSON items) that Trigger.dev's
// SDK uses, the one-request POST /api/v2/tasks/batch, and retrieval. Items are deduplicated by
// index, so a client may resend the whole stream; a bad item is recorded with its index and the
// others are created. A one-request batch is written in one transaction: if it fails, no batch is left.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import type { Sql, TransactionSql } from "../../db/client.ts";
import { jsonDepthProblem, unsafeTextIn } from "../../api/input-safety.ts";
import { limits } from "../../api/limits.ts";
import { taskIdentifierSchema, triggerOptionsSchema } from "../../api/trigger-schema.ts";
import {
  checkTriggerLimits,
  flushBulkTrigger,
  newBulkTrigger,
  triggerRun,
  triggerRunInTransaction,
  type TriggerRequest,
} from "../../engine/trigger.ts";
import { ApiError } from "../../errors.ts";
import { authorizeBatchItems, authorizeBatchTrigger, runReadToken } from "../../api/public-access.ts";
import { fromPublicId, toPublicId, uuidv7 } from "../../ids.ts";
import { batchesCreate, batchesFind, batchesRecordProgress, batchesRunIds, type BatchRow } from "../../storage/batches.ts";
import type { AuthenticatedEnvironment } from "../../storage/api-keys.ts";
import { runsFindByIds } from "../../storage/runs.ts";
import { runExecutionResult } from "../../api/run-result.ts";

const itemSchema = z.object({
  index: z.number().int().min(0).max(limits.batchItems - 1),
  task: taskIdentifierSchema,
  payload: z.unknown().optional(),
  context: z.unknown().optional(),
  options: triggerOptionsSchema.optional(),
});

type BatchItem = z.infer<typeof itemSchema>;

type ItemOutcome = { accepted: number; deduplicated: number; errors: BatchRow["errors"] };

function itemRequest(batch: BatchRow, index: number, item: BatchItem): TriggerRequest {
  return {
    taskIdentifier: item.task,
    payload: item.payload,
    options: item.options ?? {},
    batch: { id: batch.id, index },
    triggerFunction: "batchTrigger",
    fieldPrefix: `items[${index}].`,
  };
}

/**
 * Creates the runs of a batch's items in one transaction, most of them with one multi-row insert. A
 * bad item is recorded with its index; the others are created. If a concurrent resend of the same
 * items wins a race, the items are created one by one instead, which deduplicates them.
 */
async function createItems(
  context: AppContext,
  environment: AuthenticatedEnvironment,
  batch: BatchRow,
  items: BatchItems,
): Promise<ItemOutcome> {
  try {
    return await createItemsTogether(context, environment, batch, items);
  } catch (error) {
    if ((error as { code?: string }).code !== "23505") throw error;
    return createItemsOneByOne(context, environment, batch, items);
  }
}

type BatchItems = Array<{ index: number; item: BatchItem | null; error?: string }>;

/**
 * The bookkeeping both ways of creating items share: items whose index already has a run are
 * deduplicated, invalid ones recorded by index, and `create` is called for the rest (it throws an
 * ApiError for an item it refuses, or answers "duplicate" when another request created it first).
 */
async function eachNewItem(
  sql: Sql | TransactionSql,
  batch: BatchRow,
  items: BatchItems,
  create: (index: number, item: BatchItem) => Promise<"created" | "duplicate">,
): Promise<ItemOutcome> {
  const existing = new Set((await batchesRunIds(sql, batch.id)).map((row) => row.index));
  const outcome: ItemOutcome = { accepted: 0, deduplicated: 0, errors: [] };
  for (const { index, item, error } of items) {
    if (existing.has(index)) {
      outcome.deduplicated += 1;
      continue;
    }
    if (!item) {
      outcome.errors.push({ index, taskIdentifier: "unknown", error: error ?? "invalid item", errorCode: "VALIDATION_FAILED" });
      continue;
    }
    try {
      if ((await create(index, item)) === "duplicate") {
        outcome.deduplicated += 1;
        continue;
      }
      existing.add(index);
      outcome.accepted += 1;
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      outcome.errors.push({ index, taskIdentifier: item.task, error: caught.message, errorCode: caught.code });
    }
  }
  return outcome;
}

/** Creates the items' runs in a transaction the caller holds; `queued` tells whether to wake dequeuers after it commits. */
async function createItemsIn(
  tx: TransactionSql,
  context: AppContext,
  environment: AuthenticatedEnvironment,
  batch: BatchRow,
  items: BatchItems,
): Promise<ItemOutcome & { queued: boolean }> {
  let queued = false;
  const bulk = newBulkTrigger();
  const result = await eachNewItem(tx, batch, items, async (index, item) => {
    const request = itemRequest(batch, index, item);
    checkTriggerLimits(request);
    // Items that look up earlier runs by key are written at once, in a savepoint of their own.
    const immediate = item.options?.idempotencyKey !== undefined || item.options?.debounce !== undefined;
    const triggered = immediate
      ? await tx.savepoint((savepoint) => triggerRunInTransaction(savepoint, context.clock, environment, request))
      : await triggerRunInTransaction(tx, context.clock, environment, request, bulk);
    queued ||= triggered.queued;
    if (!triggered.isCached) context.engine.metrics?.runTriggered(request.taskIdentifier);
    return "created";
  });
  await flushBulkTrigger(tx, bulk);
  return { ...result, queued };
}

async function createItemsTogether(
  context: AppContext,
  environment: AuthenticatedEnvironment,
  batch: BatchRow,
  items: BatchItems,
): Promise<ItemOutcome> {
  const { queued, ...outcome } = await context.db.sql.begin((tx) => createItemsIn(tx, context, environment, batch, items));
  if (queued) context.notifier.queueChanged(environment.environmentId);
  return outcome;
}

function createItemsOneByOne(context: AppContext, environment: AuthenticatedEnvironment, batch: BatchRow, items: BatchItems): Promise<ItemOutcome> {
  return eachNewItem(context.db.sql, batch, items, async (index, item) => {
    try {
      await triggerRun(context.engine, environment, itemRequest(batch, index, item));
      return "created";
    } catch (caught) {
      if ((caught as { code?: string }).code === "23505") return "duplicate";
      throw caught;
    }
  });
}

function batchIdOrNotFound(publicId: string): string {
  const id = fromPublicId("batch", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No batch ${publicId}`);
  return id;
}

export async function batchRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  app.addContentTypeParser("application/x-ndjson", { parseAs: "string", bodyLimit: 64 * 1024 * 1024 }, (_request, body, done) => {
    done(null, body);
  });

  routes.post(
    "/api/v3/batches",
    {
      config: { publicAccess: true },
      schema: {
        body: z.object({
          runCount: z.number().int().min(1).max(limits.batchItems, `a batch holds at most ${limits.batchItems} items`),
          taskIdentifiers: z.array(z.string()).optional(),
          parentRunId: z.string().max(64).optional(),
          resumeParentOnCompletion: z.boolean().optional(),
          idempotencyKey: z.string().min(1).max(limits.idempotencyKeyLength).optional(),
        }).loose(),
      },
    },
    async (request, reply) => {
      const publicTokenHash = await authorizeBatchTrigger(context, request, request.body.taskIdentifiers, request.body.parentRunId);
      const now = context.clock.now();
      const parentRunId = request.body.parentRunId ? fromPublicId("run", request.body.parentRunId) : null;
      const { batch, created } = await batchesCreate(
        context.db.sql,
        {
          id: uuidv7(now),
          environmentId: request.environment.environmentId,
          runCount: request.body.runCount,
          idempotencyKey: request.body.idempotencyKey ?? null,
          parentRunId,
          resumeParentOnCompletion: request.body.resumeParentOnCompletion ?? false,
          publicTokenHash,
        },
        now,
      );
      // A public token cannot reach a batch made by someone else through its idempotency key.
      if (!created && publicTokenHash !== null && !batch.publicTokenHash?.equals(publicTokenHash)) {
        throw new ApiError("CONFLICT", "idempotencyKey: already used by another batch");
      }
      reply.header("x-trigger-jwt", await runReadToken(context, request.environment.environmentId, [`read:batch:${toPublicId("batch", batch.id)}`]));
      return {
        id: toPublicId("batch", batch.id),
        runCount: batch.runCount,
        isCached: !created,
        ...(batch.idempotencyKey ? { idempotencyKey: batch.idempotencyKey } : {}),
      };
    },
  );

  routes.post(
    "/api/v3/batches/:batchId/items",
    { config: { publicAccess: true }, schema: { params: z.object({ batchId: z.string().min(1).max(64) }) }, bodyLimit: 64 * 1024 * 1024 },
    async (request) => {
      const environment = request.environment;
      const batch = await batchesFind(context.db.sql, environment.environmentId, batchIdOrNotFound(request.params.batchId));
      if (!batch) throw new ApiError("NOT_FOUND", `No batch ${request.params.batchId}`);
      authorizeBatchItems(request, batch, []);
      if (typeof request.body !== "string") {
        throw new ApiError("UNSUPPORTED_MEDIA_TYPE", "Send the items as NDJSON (Content-Type: application/x-ndjson)");
      }
      const items: Array<{ index: number; item: BatchItem | null; error?: string }> = [];
      const lines = request.body.split("\n");
      for (const [lineIndex, line] of lines.entries()) {
        if (line.trim() === "") continue;
        const tooDeep = jsonDepthProblem(`line ${lineIndex + 1}`, line);
        if (tooDeep) throw new ApiError("VALIDATION_FAILED", tooDeep);
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          throw new ApiError("INVALID_JSON", `line ${lineIndex + 1}: not valid JSON`);
        }
        const result = itemSchema.safeParse(parsed);
        if (result.success) {
          if (result.data.index >= batch.runCount) {
            throw new ApiError("VALIDATION_FAILED", `line ${lineIndex + 1}: index ${result.data.index} is beyond the batch's runCount (${batch.runCount})`);
          }
          // Text Postgres cannot store fails this item only, like any other invalid item.
          const unstorable = unsafeTextIn(result.data, `items[${result.data.index}]`);
          items.push(unstorable ? { index: result.data.index, item: null, error: unstorable } : { index: result.data.index, item: result.data });
        } else {
          const index = (parsed as { index?: unknown })?.index;
          if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= batch.runCount) {
            throw new ApiError("VALIDATION_FAILED", `line ${lineIndex + 1}: an item needs an integer index below ${batch.runCount}`);
          }
          const issue = result.error.issues[0];
          items.push({ index, item: null, error: `items[${index}].${issue?.path.join(".")}: ${issue?.message}` });
        }
      }
      authorizeBatchItems(request, batch, [...new Set(items.flatMap(({ item }) => (item ? [item.task] : [])))]);
      const outcome = await createItems(context, environment, batch, items);
      const updated = await batchesRecordProgress(context.db.sql, batch.id, outcome.errors, context.clock.now());
      return {
        id: toPublicId("batch", batch.id),
        itemsAccepted: outcome.accepted,
        itemsDeduplicated: outcome.deduplicated,
        sealed: updated.sealed,
        enqueuedCount: outcome.accepted,
        expectedCount: batch.runCount,
      };
    },
  );

  routes.post(
    "/api/v2/tasks/batch",
    {
      config: { publicAccess: true },
      schema: {
        body: z.object({
          items: z
            .array(z.object({ task: taskIdentifierSchema, payload: z.unknown().optional(), context: z.unknown().optional(), options: triggerOptionsSchema.optional() }))
            .min(1)
            .max(limits.batchItems, `a batch holds at most ${limits.batchItems} items`),
          parentRunId: z.string().max(64).optional(),
          resumeParentOnCompletion: z.boolean().optional(),
        }),
      },
    },
    async (request, reply) => {
      const environment = request.environment;
      const publicTokenHash = await authorizeBatchTrigger(context, request, [...new Set(request.body.items.map((item) => item.task))], request.body.parentRunId);
      const items = request.body.items.map((item, index) => ({ index, item: { ...item, index } }));
      // The batch, its runs and its progress in one transaction: a request that fails leaves nothing.
      for (let attempt = 0; ; attempt += 1) {
        try {
          const now = context.clock.now();
          const { batch, queued } = await context.db.sql.begin(async (tx) => {
            const { batch } = await batchesCreate(
              tx,
              { id: uuidv7(now), environmentId: environment.environmentId, runCount: items.length, idempotencyKey: null, parentRunId: null, resumeParentOnCompletion: false, publicTokenHash },
              now,
            );
            const outcome = await createItemsIn(tx, context, environment, batch, items);
            await batchesRecordProgress(tx, batch.id, outcome.errors, context.clock.now());
            return { batch, queued: outcome.queued };
          });
          if (queued) context.notifier.queueChanged(environment.environmentId);
          reply.header("x-trigger-jwt", await runReadToken(context, environment.environmentId, [`read:batch:${toPublicId("batch", batch.id)}`]));
          return { id: toPublicId("batch", batch.id), runCount: batch.runCount };
        } catch (error) {
          // A concurrent trigger took an item's idempotency or debounce key first: the next try sees its run.
          if ((error as { code?: string }).code === "23505" && attempt < 2) continue;
          throw error;
        }
      }
    },
  );

  const retrieve = async (environmentId: string, publicId: string) => {
    const batch = await batchesFind(context.db.sql, environmentId, batchIdOrNotFound(publicId));
    if (!batch) throw new ApiError("NOT_FOUND", `No batch ${publicId}`);
    const runs = await batchesRunIds(context.db.sql, batch.id);
    return {
      batch,
      common: {
        id: toPublicId("batch", batch.id),
        status: batch.status,
        ...(batch.idempotencyKey ? { idempotencyKey: batch.idempotencyKey } : {}),
        createdAt: batch.createdAt.toISOString(),
        updatedAt: batch.updatedAt.toISOString(),
        runCount: batch.runCount,
        runs: runs.map((run) => toPublicId("run", run.id)),
      },
    };
  };

  const batchParams = z.object({ batchId: z.string().min(1).max(64) });
  routes.get("/api/v1/batches/:batchId", { schema: { params: batchParams } }, async (request) => {
    return (await retrieve(request.environment.environmentId, request.params.batchId)).common;
  });
  // The SDK's getBatchResults: the result of each of the batch's finished runs, in item order.
  routes.get("/api/v1/batches/:batchId/results", { schema: { params: batchParams } }, async (request) => {
    const environmentId = request.environment.environmentId;
    const { batch, common } = await retrieve(environmentId, request.params.batchId);
    const ids = (await batchesRunIds(context.db.sql, batch.id)).map((run) => run.id);
    const runs = new Map((await runsFindByIds(context.db.sql, environmentId, ids)).map((run) => [run.id, run]));
    const items = ids.flatMap((id) => {
      const run = runs.get(id);
      const result = run ? runExecutionResult(run) : null;
      return result ? [result] : [];
    });
    return { id: common.id, items };
  });
  routes.get("/api/v2/batches/:batchId", { schema: { params: batchParams } }, async (request) => {
    const { batch, common } = await retrieve(request.environment.environmentId, request.params.batchId);
    return {
      ...common,
      processing: {
        ...(batch.sealed ? { completedAt: batch.updatedAt.toISOString() } : {}),
        errors: batch.errors,
      },
    };
  });
}
