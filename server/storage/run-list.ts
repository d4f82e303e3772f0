// The run list: filters assembled with Kysely, keyset pagination on the time-ordered run id.
import { sql, type Kysely } from "kysely";
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

/** Up to size + 1 rows, newest first, so the caller can tell whether another page exists. */
export async function runsList(db: Kysely<Database>, environmentId: string, filters: RunListFilters, page: RunListPage): Promise<RunRow[]> {
  // `before` wins over `after` (see pageCursor): a previous page is read upwards from its cursor.
  const ascending = page.before !== undefined;
  let query = db.selectFrom("ratchet.runs").selectAll().where("environment_id", "=", environmentId);
  if (filters.statuses?.length) query = query.where("status", "in", filters.statuses);
  if (filters.taskIdentifiers?.length) query = query.where("task_identifier", "in", filters.taskIdentifiers);
  if (filters.versions?.length) query = query.where("worker_version", "in", filters.versions);
  if (filters.tags?.length) query = query.where(sql<boolean>`tags && ${sql.val(filters.tags)}::text[]`);
  if (filters.batchId) query = query.where("batch_id", "=", filters.batchId);
  if (filters.queues?.length) query = query.where("queue_name", "in", filters.queues);
  if (filters.isTest !== undefined) query = query.where("is_test", "=", filters.isTest);
  if (filters.idempotencyKey) query = query.where("idempotency_key", "=", filters.idempotencyKey);
  if (filters.scheduleId) query = query.where("schedule_id", "=", filters.scheduleId);
  if (filters.createdFromId) query = query.where("id", ">=", filters.createdFromId);
  if (filters.createdToId) query = query.where("id", "<=", filters.createdToId);
  if (page.before !== undefined) query = query.where("id", ">", page.before);
  else if (page.after !== undefined) query = query.where("id", "<", page.after);
  const rows = await query.orderBy("id", ascending ? "asc" : "desc").limit(page.size + 1).execute();
  const runs = rows.map((row) => runFromColumns(row as Record<string, unknown>));
  return ascending ? runs.reverse() : runs;
}
