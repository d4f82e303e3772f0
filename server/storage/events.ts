// Named queries for run events (logs and spans) in ratchet.events, partitioned by UTC day
// (sql/0003_events.sql, docs/events.md).
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

export const eventKinds = ["log", "span"] as const;
export type EventKind = (typeof eventKinds)[number];

export const eventLevels = ["trace", "debug", "log", "info", "warn", "error"] as const;
export type EventLevel = (typeof eventLevels)[number];

/**
 * The advisory lock that serialises partition DDL. The SQL functions events_ensure_partitions and
 * events_drop_partitions_before take the same key (sql/0003_events.sql).
 */
export const eventsPartitionLockKey = 7_245_110_202n;

export interface NewEvent {
  environmentId: string;
  runId: string;
  attemptNumber: number;
  seq: number;
  time: Date;
  kind: EventKind;
  level: EventLevel;
  message: string;
  attributes: Record<string, unknown> | null;
  spanId: string | null;
  parentSpanId: string | null;
  durationMs: number | null;
  /** The run's trace (its root run's id as 32 hex digits); absent on events stored before traces. */
  traceId?: string | null;
}

/** A stored event: what was inserted, with its id, seen from its run (no environment). */
export type EventRow = Omit<NewEvent, "environmentId"> & { id: string };

const eventColumns = `
  id, run_id as "runId", attempt_number as "attemptNumber", seq, "time", kind, level, message, attributes,
  span_id as "spanId", parent_span_id as "parentSpanId", duration_ms as "durationMs"`;

/** The UTC calendar day of an instant, as Postgres reads a date: YYYY-MM-DD. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Postgres's error for a row whose partition does not exist: a check violation naming no constraint. */
function isMissingPartition(error: unknown): boolean {
  const fields = error as { code?: string; constraint_name?: string; table_name?: string };
  return fields.code === "23514" && !fields.constraint_name && fields.table_name === "events";
}

async function insertOnce(sql: Sql, rows: NewEvent[]): Promise<number> {
  const result = await sql`
    insert into ratchet.events (
      environment_id, run_id, attempt_number, seq, "time", kind, level, message, attributes, span_id,
      parent_span_id, duration_ms, trace_id)
    select u.environment_id, u.run_id, u.attempt_number, u.seq, u.at, u.kind, u.level, u.message,
      u.attributes::jsonb, u.span_id, u.parent_span_id, u.duration_ms, u.trace_id
    from unnest(
      ${rows.map((row) => row.environmentId)}::uuid[],
      ${rows.map((row) => row.runId)}::uuid[],
      ${rows.map((row) => row.attemptNumber)}::integer[],
      ${rows.map((row) => row.seq)}::integer[],
      ${rows.map((row) => row.time.toISOString())}::timestamptz[],
      ${rows.map((row) => row.kind)}::text[],
      ${rows.map((row) => row.level)}::text[],
      ${rows.map((row) => row.message)}::text[],
      ${rows.map((row) => (row.attributes === null ? null : JSON.stringify(row.attributes)))}::text[],
      ${rows.map((row) => row.spanId)}::text[],
      ${rows.map((row) => row.parentSpanId)}::text[],
      ${rows.map((row) => row.durationMs)}::double precision[],
      ${rows.map((row) => row.traceId ?? null)}::text[]
    ) as u(environment_id, run_id, attempt_number, seq, at, kind, level, message, attributes, span_id,
      parent_span_id, duration_ms, trace_id)
    on conflict do nothing`;
  return result.count;
}

/**
 * Inserts events in one statement (one array per column, unnested). An event already stored (same
 * run, time, attempt and seq: a retried request) is skipped; returns how many rows were new.
 *
 * When a row's day has no partition yet (the hourly maintenance creates them ahead, so this is rare:
 * a worker's clock near midnight, a server that was down for days), the missing days are created and
 * the insert runs again, so no event is lost. Takes the pool rather than a transaction because the
 * failed first attempt would abort the transaction.
 */
export async function eventsInsert(sql: Sql, rows: NewEvent[]): Promise<number> {
  if (rows.length === 0) return 0;
  try {
    return await insertOnce(sql, rows);
  } catch (error) {
    if (!isMissingPartition(error)) throw error;
  }
  const days = [...new Set(rows.map((row) => utcDay(row.time)))];
  await sql`select ratchet.events_ensure_partitions(day, 1) from unnest(${days}::date[]) as day`;
  return insertOnce(sql, rows);
}

/** A run's events in order (time, attempt, seq), after `afterTime` when given. */
export async function eventsListForRun(
  sql: Queryable,
  environmentId: string,
  runId: string,
  options: { afterTime?: Date; limit: number },
): Promise<EventRow[]> {
  if (options.afterTime === undefined) {
    return sql<EventRow[]>`
      select ${sql.unsafe(eventColumns)} from ratchet.events
      where run_id = ${runId} and environment_id = ${environmentId}
      order by "time", attempt_number, seq limit ${options.limit}`;
  }
  return sql<EventRow[]>`
    select ${sql.unsafe(eventColumns)} from ratchet.events
    where run_id = ${runId} and environment_id = ${environmentId} and "time" > ${options.afterTime}
    order by "time", attempt_number, seq limit ${options.limit}`;
}

/** The run, when it belongs to the environment: all the event routes need (no payload or output read). */
export async function eventsFindRun(sql: Queryable, environmentId: string, runId: string): Promise<{ id: string; rootRunId: string } | null> {
  const [row] = await sql<{ id: string; rootRunId: string }[]>`
    select id, coalesce(root_run_id, id) as "rootRunId" from ratchet.runs where id = ${runId} and environment_id = ${environmentId}`;
  return row ?? null;
}

/** Creates the partitions of `days` UTC days from `from`'s day unless they exist; returns how many it created. */
export async function eventsEnsurePartitions(sql: Queryable, from: Date, days: number): Promise<number> {
  const [row] = await sql<{ created: number }[]>`select ratchet.events_ensure_partitions(${utcDay(from)}::date, ${days}::integer) as created`;
  return row?.created ?? 0;
}

/** Drops the day partitions of days before `before`'s UTC day; returns how many it dropped. */
export async function eventsDropBefore(sql: Queryable, before: Date): Promise<number> {
  const [row] = await sql<{ dropped: number }[]>`select ratchet.events_drop_partitions_before(${utcDay(before)}::date) as dropped`;
  return row?.dropped ?? 0;
}

/**
 * Takes the partition lock for the rest of the transaction if no other session holds it; false when
 * one does. Also bounds how long this transaction's DDL waits for ratchet.events (lock_timeout), so a
 * long reader cannot make maintenance queue every insert behind it for long.
 */
export async function eventsTryPartitionLock(tx: TransactionSql): Promise<boolean> {
  await tx`set local lock_timeout = '5s'`;
  const [row] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${eventsPartitionLockKey.toString()}::bigint) as locked`;
  return row?.locked ?? false;
}

/** The names of the partitions attached to ratchet.events, in name order (day partitions oldest first). */
export async function eventsListPartitions(sql: Queryable): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'ratchet.events'::regclass order by c.relname`;
  return rows.map((row) => row.name);
}
