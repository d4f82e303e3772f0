// Bulk actions as the official SDK's runs.bulk.* calls them: create (cancel or replay every run
// matching a filter, or a list of runs), list, retrieve and abort. The work happens in the
// background (server/engine/bulk-actions.ts); these routes record and report it.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { limits } from "../../api/limits.ts";
import { keysetPage, pageCursor, uuidAtMs } from "../../api/pagination.ts";
import { parseDurationMs } from "../../engine/durations.ts";
import { runStatuses, type RunStatus } from "../../engine/run-status.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId, toPublicId, uuidv7 } from "../../ids.ts";
import {
  bulkActionCountRuns,
  bulkActionNewestRunId,
  bulkActionsAbort,
  bulkActionsFind,
  bulkActionsInsert,
  bulkActionsList,
  type BulkActionRow,
} from "../../storage/bulk-actions.ts";
import type { RunListFilters } from "../../storage/run-list.ts";

/** Runs one request may name; a filter has no such limit. */
const maxRunIds = 10_000;

const many = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).max(100)]).transform((value) => [value].flat() as z.infer<T>[]);
const text = z.string().min(1).max(256);
const moment = z.union([z.number().int().nonnegative(), z.iso.datetime({ offset: true })]).transform((value) => new Date(value).getTime());

const filterSchema = z
  .object({
    status: many(z.enum(runStatuses)).optional(),
    taskIdentifier: many(text).optional(),
    version: many(text).optional(),
    from: moment.optional(),
    to: moment.optional(),
    period: z.string().max(32).optional(),
    tag: many(text).optional(),
    schedule: text.optional(),
    isTest: z.boolean().optional(),
    batch: text.optional(),
    queue: many(z.union([text, z.object({ type: z.enum(["task", "custom"]), name: text })])).optional(),
    bulkAction: text.optional(),
    machine: many(text).optional(),
    region: many(text).optional(),
  })
  .strict();

const createBody = z.object({
  action: z.enum(["cancel", "replay"]),
  filter: filterSchema.optional(),
  runIds: z.array(z.string().max(64)).min(1).max(maxRunIds).optional(),
  name: z.string().max(255).optional(),
  targetRegion: z.string().max(64).optional(),
});

const idParams = z.object({ bulkActionId: z.string().max(64) });

function bulkActionObject(action: BulkActionRow) {
  return {
    id: toPublicId("bulk", action.id),
    ...(action.name ? { name: action.name } : {}),
    type: action.type,
    status: action.status,
    counts: { total: action.total, success: action.success, failure: action.failure },
    createdAt: action.createdAt.toISOString(),
    ...(action.completedAt ? { completedAt: action.completedAt.toISOString() } : {}),
  };
}

/** The SDK's filter as the run list's filters; fields Ratchet has no data for are refused by name. */
function runFilters(filter: z.infer<typeof filterSchema>, now: number): RunListFilters {
  for (const field of ["machine", "region", "bulkAction"] as const) {
    if (filter[field] !== undefined) throw new ApiError("VALIDATION_FAILED", `body.filter.${field}: not supported by Ratchet bulk actions`);
  }
  let from = filter.from;
  if (filter.period !== undefined) {
    const ms = parseDurationMs(filter.period);
    if (ms === null) throw new ApiError("VALIDATION_FAILED", 'body.filter.period: must be a duration like "1h" or "7d"');
    from = now - ms;
  }
  let batchId: string | undefined;
  if (filter.batch !== undefined) {
    batchId = fromPublicId("batch", filter.batch) ?? undefined;
    if (!batchId) throw new ApiError("VALIDATION_FAILED", "body.filter.batch: not a batch id");
  }
  let scheduleId: string | undefined;
  if (filter.schedule !== undefined) {
    scheduleId = fromPublicId("sched", filter.schedule) ?? undefined;
    if (!scheduleId) throw new ApiError("VALIDATION_FAILED", "body.filter.schedule: not a schedule id");
  }
  const queues = filter.queue?.map((queue) => (typeof queue === "string" ? queue : queue.type === "task" ? `task/${queue.name}` : queue.name));
  return {
    statuses: filter.status as RunStatus[] | undefined,
    taskIdentifiers: filter.taskIdentifier,
    versions: filter.version,
    tags: filter.tag,
    batchId,
    scheduleId,
    queues,
    isTest: filter.isTest,
    createdFromId: from === undefined ? undefined : uuidAtMs(from),
    createdToId: filter.to === undefined ? undefined : uuidAtMs(filter.to, true),
  };
}

function bulkIdOrNotFound(publicId: string): string {
  const id = fromPublicId("bulk", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No bulk action ${publicId}`);
  return id;
}

export async function bulkActionRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { db, clock } = context;

  routes.post("/api/v1/bulk-actions", { schema: { body: createBody } }, async (request) => {
    const body = request.body;
    if ((body.filter === undefined) === (body.runIds === undefined)) {
      throw new ApiError("VALIDATION_FAILED", "body: send exactly one of filter or runIds");
    }
    const environmentId = request.environment.environmentId;
    const now = clock.now();
    let filter: RunListFilters | null = null;
    let runIds: string[] | null = null;
    if (body.filter) {
      if (!Object.values(body.filter).some((value) => value !== undefined && !(Array.isArray(value) && value.length === 0))) {
        throw new ApiError("VALIDATION_FAILED", "body.filter: give at least one filter");
      }
      filter = runFilters(body.filter, now.getTime());
      // Runs triggered after this moment (the action's own replays among them) are not part of it.
      const newest = await bulkActionNewestRunId(db.sql, environmentId);
      const bound = newest ?? uuidAtMs(0);
      filter.createdToId = filter.createdToId !== undefined && filter.createdToId < bound ? filter.createdToId : bound;
    } else {
      runIds = body.runIds!.map((publicId, index) => {
        const id = fromPublicId("run", publicId);
        if (!id) throw new ApiError("VALIDATION_FAILED", `body.runIds[${index}]: not a run id`);
        return id;
      });
    }
    const total = await bulkActionCountRuns(db.kysely, environmentId, { filter, runIds });
    const id = uuidv7(now);
    const type = body.action === "cancel" ? "CANCEL" : "REPLAY";
    await bulkActionsInsert(db.sql, { id, environmentId, name: body.name ?? null, type, filter, runIds, total }, now);
    return { id: toPublicId("bulk", id) };
  });

  const listQuery = z.object({
    "page[size]": z.coerce.number().int().min(1).max(limits.pageSizeMax).optional(),
    "page[after]": z.string().max(64).optional(),
    "page[before]": z.string().max(64).optional(),
  });

  routes.get("/api/v1/bulk-actions", { schema: { querystring: listQuery } }, async (request) => {
    const query = request.query;
    const size = query["page[size]"] ?? limits.pageSizeDefault;
    const cursor = (value: string | undefined, field: string) => {
      if (value === undefined) return undefined;
      const id = fromPublicId("bulk", value);
      if (!id) throw new ApiError("VALIDATION_FAILED", `query.${field}: not a bulk action id`);
      return id;
    };
    const { after, before } = pageCursor(cursor(query["page[after]"], "page[after]"), cursor(query["page[before]"], "page[before]"));
    const rows = await bulkActionsList(db.sql, request.environment.environmentId, { size, after, before });
    const { page, pagination } = keysetPage(rows, { size, after, before }, (action) => toPublicId("bulk", action.id));
    return { data: page.map(bulkActionObject), pagination };
  });

  routes.get("/api/v1/bulk-actions/:bulkActionId", { schema: { params: idParams } }, async (request) => {
    const action = await bulkActionsFind(db.sql, request.environment.environmentId, bulkIdOrNotFound(request.params.bulkActionId));
    if (!action) throw new ApiError("NOT_FOUND", `No bulk action ${request.params.bulkActionId}`);
    return bulkActionObject(action);
  });

  routes.post("/api/v1/bulk-actions/:bulkActionId/abort", { schema: { params: idParams } }, async (request) => {
    const environmentId = request.environment.environmentId;
    const id = bulkIdOrNotFound(request.params.bulkActionId);
    const action = await bulkActionsFind(db.sql, environmentId, id);
    if (!action) throw new ApiError("NOT_FOUND", `No bulk action ${request.params.bulkActionId}`);
    if (!(await bulkActionsAbort(db.sql, environmentId, id, clock.now())) && action.status === "COMPLETED") {
      throw new ApiError("CONFLICT", `The bulk action ${request.params.bulkActionId} already completed`);
    }
    return { id: request.params.bulkActionId };
  });
}
