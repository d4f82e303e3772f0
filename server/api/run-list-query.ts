// The run list's query string (`filter[…]`, `page[…]`) as the official SDK's runs.list() sends it,
// for GET /api/v1/runs and GET /api/v1/projects/{ref}/runs alike, and its translation into filters.
import { z } from "zod";
import { parseDurationMs } from "../engine/durations.ts";
import { runStatuses, type RunStatus } from "../engine/run-status.ts";
import { ApiError } from "../errors.ts";
import { fromPublicId } from "../ids.ts";
import type { RunListFilters } from "../storage/run-list.ts";
import { limits } from "./limits.ts";
import { pageCursor, uuidAtMs } from "./pagination.ts";
import { durationTextSchema } from "./trigger-schema.ts";

export const csvList = z
  .string()
  .max(4096)
  .transform((value) => value.split(",").map((part) => part.trim()).filter(Boolean));

export const listRunsQuery = z
  .object({
    "filter[status]": csvList
      .pipe(z.array(z.enum(runStatuses, { message: `must be one of ${runStatuses.join(", ")}` })))
      .optional(),
    "filter[taskIdentifier]": csvList.optional(),
    "filter[version]": csvList.optional(),
    "filter[tag]": csvList.optional(),
    "filter[batch]": z.string().max(64).optional(),
    "filter[queue]": csvList.optional(),
    "filter[isTest]": z.enum(["true", "false"]).optional(),
    "filter[createdAt][from]": z.coerce.number().int().nonnegative().optional(),
    "filter[createdAt][to]": z.coerce.number().int().nonnegative().optional(),
    "filter[createdAt][period]": durationTextSchema.optional(),
    "page[size]": z.coerce.number().int().min(1).max(limits.pageSizeMax).optional(),
    "page[after]": z.string().max(64).optional(),
    "page[before]": z.string().max(64).optional(),
  })
  .loose();

export type ListRunsQuery = z.infer<typeof listRunsQuery>;

function cursorId(cursor: string | undefined, field: string): string | undefined {
  if (cursor === undefined) return undefined;
  const id = fromPublicId("run", cursor);
  if (!id) throw new ApiError("VALIDATION_FAILED", `query.${field}: not a run id`);
  return id;
}

export function runListCursors(query: ListRunsQuery): { after?: string; before?: string } {
  return pageCursor(cursorId(query["page[after]"], "page[after]"), cursorId(query["page[before]"], "page[before]"));
}

export function runListFilters(query: ListRunsQuery, now: Date): RunListFilters {
  const periodMs = query["filter[createdAt][period]"] ? parseDurationMs(query["filter[createdAt][period]"]) : null;
  const from = query["filter[createdAt][from]"] ?? (periodMs !== null ? now.getTime() - periodMs : undefined);
  const to = query["filter[createdAt][to]"];
  let batchId: string | undefined;
  if (query["filter[batch]"]) {
    batchId = fromPublicId("batch", query["filter[batch]"]) ?? undefined;
    if (!batchId) throw new ApiError("VALIDATION_FAILED", "query.filter[batch]: not a batch id");
  }
  return {
    statuses: query["filter[status]"] as RunStatus[] | undefined,
    taskIdentifiers: query["filter[taskIdentifier]"],
    versions: query["filter[version]"],
    tags: query["filter[tag]"],
    batchId,
    queues: query["filter[queue]"],
    isTest: query["filter[isTest]"] === undefined ? undefined : query["filter[isTest]"] === "true",
    createdFromId: from === undefined ? undefined : uuidAtMs(from),
    createdToId: to === undefined ? undefined : uuidAtMs(to, true),
  };
}
