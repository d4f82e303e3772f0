// Named queries for queues: their limits, pause state and live counts.
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

export interface QueueRow {
  id: string;
  environmentId: string;
  name: string;
  type: "task" | "custom";
  concurrencyLimit: number | null;
  concurrencyOverride: number | null;
  overriddenAt: Date | null;
  paused: boolean;
}

export interface QueueWithCounts extends QueueRow {
  running: number;
  queued: number;
}

const queueColumns = `q.id, q.environment_id as "environmentId", q.name, q.type, q.concurrency_limit as "concurrencyLimit",
  q.concurrency_override as "concurrencyOverride", q.overridden_at as "overriddenAt", q.paused`;

/** Creates or updates a queue declared by a worker's manifest; the limit from code is refreshed. */
export async function queuesUpsertFromManifest(
  tx: Queryable,
  queue: { environmentId: string; name: string; type: "task" | "custom"; concurrencyLimit: number | null },
  now: Date,
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    insert into ratchet.queues (environment_id, name, type, concurrency_limit, created_at, updated_at)
    values (${queue.environmentId}, ${queue.name}, ${queue.type}, ${queue.concurrencyLimit}, ${now}, ${now})
    on conflict (environment_id, name) do update
      set concurrency_limit = excluded.concurrency_limit, type = excluded.type, updated_at = excluded.updated_at
    returning id`;
  return row!.id;
}

const countsSelect = `
  ${queueColumns},
  (select count(*)::int from ratchet.executions x where x.queue_id = q.id) as running,
  (select count(*)::int from ratchet.queue_entries e where e.queue_id = q.id) as queued`;

export async function queuesListWithCounts(
  sql: Sql,
  environmentId: string,
  page: { offset: number; limit: number },
): Promise<{ rows: QueueWithCounts[]; total: number }> {
  const rows = await sql<QueueWithCounts[]>`
    select ${sql.unsafe(countsSelect)} from ratchet.queues q where q.environment_id = ${environmentId}
    order by q.name limit ${page.limit} offset ${page.offset}`;
  const [total] = await sql<{ count: number }[]>`select count(*)::int as count from ratchet.queues where environment_id = ${environmentId}`;
  return { rows, total: total?.count ?? 0 };
}

export async function queuesFindWithCounts(sql: Sql, environmentId: string, name: string): Promise<QueueWithCounts | null> {
  const [row] = await sql<QueueWithCounts[]>`
    select ${sql.unsafe(countsSelect)} from ratchet.queues q where q.environment_id = ${environmentId} and q.name = ${name}`;
  return row ?? null;
}

export async function queuesSetPaused(sql: Sql, environmentId: string, name: string, paused: boolean, now: Date): Promise<boolean> {
  const rows = await sql`update ratchet.queues set paused = ${paused}, updated_at = ${now}
    where environment_id = ${environmentId} and name = ${name} returning id`;
  return rows.length > 0;
}

export async function queuesSetOverride(sql: Sql, environmentId: string, name: string, limit: number | null, now: Date): Promise<boolean> {
  const rows = await sql`update ratchet.queues
    set concurrency_override = ${limit}, overridden_at = ${limit === null ? null : now}, updated_at = ${now}
    where environment_id = ${environmentId} and name = ${name} returning id`;
  return rows.length > 0;
}

export async function queuesFindWithCountsById(sql: Sql, environmentId: string, id: string): Promise<QueueWithCounts | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const [row] = await sql<QueueWithCounts[]>`
    select ${sql.unsafe(countsSelect)} from ratchet.queues q where q.environment_id = ${environmentId} and q.id = ${id}`;
  return row ?? null;
}

/** Runs of a queue executing for one concurrency key ('' is the runs without a key). */
export async function queuesRunningForKey(sql: Sql, queueId: string, concurrencyKey: string): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from ratchet.executions where queue_id = ${queueId} and concurrency_key = ${concurrencyKey}`;
  return row?.count ?? 0;
}
