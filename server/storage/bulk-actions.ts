// Named queries for bulk actions: create, list, retrieve, abort, and the chunked progress that the
// background processor records.
import type { Kysely } from "kysely";
import type { Sql, TransactionSql } from "../db/client.ts";
import type { Database, EnvironmentType } from "../db/tables.ts";
import { finalStatuses, type RunStatus } from "../engine/run-status.ts";
import { applyRunFilters, type RunListFilters } from "./run-list.ts";

type Queryable = Sql | TransactionSql;

export type BulkActionType = "CANCEL" | "REPLAY";
export type BulkActionStatus = "PENDING" | "COMPLETED" | "ABORTED";

export interface BulkActionRow {
  id: string;
  environmentId: string;
  name: string | null;
  type: BulkActionType;
  status: BulkActionStatus;
  filter: RunListFilters | null;
  runIds: string[] | null;
  total: number;
  success: number;
  failure: number;
  cursorId: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

const columns = `id, environment_id as "environmentId", name, type, status, filter, run_ids as "runIds", total, success, failure,
  cursor_id as "cursorId", created_at as "createdAt", completed_at as "completedAt"`;

export async function bulkActionsInsert(
  sql: Queryable,
  action: { id: string; environmentId: string; name: string | null; type: BulkActionType; filter: RunListFilters | null; runIds: string[] | null; total: number },
  now: Date,
): Promise<void> {
  await sql`
    insert into ratchet.bulk_actions (id, environment_id, name, type, filter, run_ids, total, created_at, updated_at)
    values (${action.id}, ${action.environmentId}, ${action.name}, ${action.type},
      ${action.filter === null ? null : sql.json(action.filter as never)}, ${action.runIds}::uuid[], ${action.total}, ${now}, ${now})`;
}

export async function bulkActionsFind(sql: Queryable, environmentId: string, id: string): Promise<BulkActionRow | null> {
  const [row] = await sql<BulkActionRow[]>`
    select ${sql.unsafe(columns)} from ratchet.bulk_actions where environment_id = ${environmentId} and id = ${id}`;
  return row ?? null;
}

/** Up to size + 1 actions, newest first, after (older than) or before (newer than) a cursor id. */
export async function bulkActionsList(
  sql: Sql,
  environmentId: string,
  page: { size: number; after?: string; before?: string },
): Promise<BulkActionRow[]> {
  const ascending = page.before !== undefined;
  const bound = ascending ? sql`and id > ${page.before!}` : page.after !== undefined ? sql`and id < ${page.after}` : sql``;
  const rows = await sql<BulkActionRow[]>`
    select ${sql.unsafe(columns)} from ratchet.bulk_actions where environment_id = ${environmentId} ${bound}
    order by id ${sql.unsafe(ascending ? "asc" : "desc")} limit ${page.size + 1}`;
  return ascending ? rows.reverse() : rows;
}

/** Stops a pending action between chunks; true when it was pending. */
export async function bulkActionsAbort(sql: Queryable, environmentId: string, id: string, now: Date): Promise<boolean> {
  const rows = await sql`
    update ratchet.bulk_actions set status = 'ABORTED', completed_at = ${now}, updated_at = ${now}
    where environment_id = ${environmentId} and id = ${id} and status = 'PENDING' returning id`;
  return rows.length > 0;
}

/**
 * The oldest pending action no other server is working on, locked for this transaction. SKIP
 * LOCKED lets every server process a different action at the same time.
 */
export async function bulkActionsTakePending(tx: TransactionSql): Promise<BulkActionRow | null> {
  const [row] = await tx<BulkActionRow[]>`
    select ${tx.unsafe(columns)} from ratchet.bulk_actions where status = 'PENDING'
    order by id limit 1 for update skip locked`;
  return row ?? null;
}

export async function bulkActionsRecordChunk(
  tx: TransactionSql,
  id: string,
  chunk: { cursorId: string | null; success: number; failure: number; done: boolean },
  now: Date,
): Promise<void> {
  await tx`
    update ratchet.bulk_actions set
      cursor_id = coalesce(${chunk.cursorId}, cursor_id), success = success + ${chunk.success}, failure = failure + ${chunk.failure},
      status = case when ${chunk.done} then 'COMPLETED' else status end,
      completed_at = case when ${chunk.done} then ${now}::timestamptz else completed_at end,
      updated_at = ${now}
    where id = ${id}`;
}

/** The ids of the action's runs after its cursor, in id order: the next chunk to handle. */
export async function bulkActionRunIds(db: Kysely<Database>, action: BulkActionRow, limit: number): Promise<string[]> {
  let query = db.selectFrom("ratchet.runs").select("id").where("environment_id", "=", action.environmentId);
  if (action.runIds) query = query.where("id", "in", action.runIds);
  else query = applyRunFilters(query, action.filter ?? {});
  if (action.cursorId) query = query.where("id", ">", action.cursorId);
  const rows = await query.orderBy("id", "asc").limit(limit).execute();
  return rows.map((row) => row.id);
}

/** How many runs a filter matches now: an action's total. */
export async function bulkActionCountRuns(db: Kysely<Database>, environmentId: string, selection: { filter: RunListFilters | null; runIds: string[] | null }): Promise<number> {
  let query = db.selectFrom("ratchet.runs").select((eb) => eb.fn.countAll<string>().as("count")).where("environment_id", "=", environmentId);
  if (selection.runIds) query = query.where("id", "in", selection.runIds);
  else query = applyRunFilters(query, selection.filter ?? {});
  const [row] = await query.execute();
  return Number(row?.count ?? 0);
}

/** The newest run id of the environment: an action's upper bound, so runs it creates (replays) are not its own. */
export async function bulkActionNewestRunId(sql: Queryable, environmentId: string): Promise<string | null> {
  const [row] = await sql<{ id: string }[]>`
    select id from ratchet.runs where environment_id = ${environmentId} order by id desc limit 1`;
  return row?.id ?? null;
}

export async function environmentTypeOf(sql: Queryable, environmentId: string): Promise<EnvironmentType> {
  const [row] = await sql<{ type: EnvironmentType }[]>`select type from ratchet.environments where id = ${environmentId}`;
  return row!.type;
}

/**
 * Cancels a chunk of runs in one transaction, as cancelRun does one: queue entries first (the lock
 * order of dequeue), then the runs locked in id order; executing runs are flagged for their worker,
 * the others end CANCELED. Returns the runs that ended and whose end someone may be waiting on
 * (a parent's wait or a batch), for the caller to complete those waits in the same transaction.
 */
export async function runsCancelChunk(
  tx: TransactionSql,
  environmentId: string,
  ids: string[],
  error: Record<string, unknown>,
  now: Date,
): Promise<{ found: number; awaited: string[] }> {
  await tx`delete from ratchet.queue_entries where run_id = any (${ids}::uuid[])`;
  const locked = await tx<{ id: string; status: string }[]>`
    select id, status from ratchet.runs where environment_id = ${environmentId} and id = any (${ids}::uuid[]) order by id for update`;
  const executing = locked.filter((run) => run.status === "DEQUEUED" || run.status === "EXECUTING").map((run) => run.id);
  const ending = locked.filter((run) => !finalStatuses.has(run.status as RunStatus) && !executing.includes(run.id)).map((run) => run.id);
  if (executing.length > 0) {
    await tx`update ratchet.runs set cancel_requested_at = coalesce(cancel_requested_at, ${now}), updated_at = ${now} where id = any (${executing}::uuid[])`;
  }
  if (ending.length === 0) return { found: locked.length, awaited: [] };
  const ended = await tx<{ id: string; awaited: boolean }[]>`
    update ratchet.runs r set status = 'CANCELED', error = ${tx.json(error as never)}, finished_at = ${now}, updated_at = ${now}
    where r.id = any (${ending}::uuid[])
    returning r.id, r.batch_id is not null
      or exists (select 1 from ratchet.waitpoints w where w.completed_by_run_id = r.id and w.status = 'WAITING') as awaited`;
  return { found: locked.length, awaited: ended.filter((row) => row.awaited).map((row) => row.id) };
}
