// The run list: filters assembled with Kysely, keyset pagination on the time-ordered run id.
import { sql, type Kysely, type SelectQueryBuilder } from "kysely";
import type { Database } from "../db/tables.ts";
import type { RunStatus } from "../engine/run-status.ts";
import type { RunRow } from "./runs.ts";
import type { PageCursor } from "../api/pagination.ts";

export interface RunListFilters {
  statuses?: RunStatus[];
  taskIdentifiers?: string[];
  versions?: string[];
  tags?: string[];
  batchId?: string;
  queues?: string[];
  machines?: string[];
  isTest?: boolean;
  idempotencyKey?: string;
  scheduleId?: string;
  /** Bounds as UUIDv7 ids, so the (environment_id, id) index also serves time ranges. */
  createdFromId?: string;
  createdToId?: string;
}

export interface RunListPage extends PageCursor {
  size: number;
}

const toCamel = (name: string) => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

function runFromColumns(row: Record<string, unknown>): RunRow {
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [toCamel(key), value])) as unknown as RunRow;
}

/** The filters of the run list, for every query that selects runs by them (the list, bulk actions). */
export function applyRunFilters<Q extends SelectQueryBuilder<Database, "ratchet.runs", object>>(query: Q, filters: RunListFilters): Q {
  let q = query as SelectQueryBuilder<Database, "ratchet.runs", object>;
  if (filters.statuses?.length) q = q.where("status", "in", filters.statuses);
  if (filters.taskIdentifiers?.length) q = q.where("task_identifier", "in", filters.taskIdentifiers);
  if (filters.versions?.length) q = q.where("worker_version", "in", filters.versions);
  if (filters.tags?.length) q = q.where(sql<boolean>`tags && ${sql.val(filters.tags)}::text[]`);
  if (filters.batchId) q = q.where("batch_id", "=", filters.batchId);
  if (filters.queues?.length) q = q.where("queue_name", "in", filters.queues);
  if (filters.machines?.length) q = q.where("machine", "in", filters.machines);
  if (filters.isTest !== undefined) q = q.where("is_test", "=", filters.isTest);
  if (filters.idempotencyKey) q = q.where("idempotency_key", "=", filters.idempotencyKey);
  if (filters.scheduleId) q = q.where("schedule_id", "=", filters.scheduleId);
  if (filters.createdFromId) q = q.where("id", ">=", filters.createdFromId);
  if (filters.createdToId) q = q.where("id", "<=", filters.createdToId);
  return q as Q;
}

/** The list's query, unexecuted: runsList runs it, the plan test explains it. Several environments
 * (a project's run list) read the same (environment_id, id) index once for each. */
export function runsListQuery(db: Kysely<Database>, environmentId: string | string[], filters: RunListFilters, page: RunListPage) {
  // `before` wins over `after` (see pageCursor): a previous page is read upwards from its cursor.
  const ascending = page.before !== undefined;
  const environments = db.selectFrom("ratchet.runs").selectAll();
  let query = applyRunFilters(
    Array.isArray(environmentId) ? environments.where("environment_id", "in", environmentId) : environments.where("environment_id", "=", environmentId),
    filters,
  );
  if (page.before !== undefined) query = query.where("id", ">", page.before);
  else if (page.after !== undefined) query = query.where("id", "<", page.after);
  return query.orderBy("id", ascending ? "asc" : "desc").limit(page.size + 1);
}

/** Up to size + 1 rows, newest first, so the caller can tell whether another page exists. */
export async function runsList(db: Kysely<Database>, environmentId: string | string[], filters: RunListFilters, page: RunListPage): Promise<RunRow[]> {
  const rows = await runsListQuery(db, environmentId, filters, page).execute();
  const runs = rows.map((row) => runFromColumns(row as Record<string, unknown>));
  return page.before !== undefined ? runs.reverse() : runs;
}
