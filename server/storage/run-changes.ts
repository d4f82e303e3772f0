// Named queries behind run subscriptions: the current rows of a shape, and the changes of the feed
// (ratchet.run_changes, sql/0015_realtime.sql) a subscriber has not seen. Offsets are Postgres
// snapshots (pg_snapshot text): "seen" means "visible in that snapshot", see docs/realtime.md.
import type { Sql } from "../db/client.ts";

export type ShapeFilter =
  | { kind: "run"; environmentId: string; runId: string }
  | { kind: "batch"; environmentId: string; batchId: string }
  | { kind: "tags"; environmentId: string; tags: string[]; createdAfter: Date | null };

/** One run as a shape row: the changing part (`state`, as the feed records it) and the rest. */
export interface ShapeRunRow {
  changeId: string | null;
  runId: string;
  taskIdentifier: string;
  createdAt: Date;
  isTest: boolean;
  ttl: string | null;
  payload: string | null;
  payloadType: string;
  output: string | null;
  state: Record<string, unknown>;
}

export interface SnapshotResult {
  rows: ShapeRunRow[];
  snapshot: string;
}

const runFields = (sql: Sql) => sql`
  r.id as "runId", r.task_identifier as "taskIdentifier", r.created_at as "createdAt", r.is_test as "isTest", r.ttl,
  ratchet.packet_text(r.payload, r.payload_type) as payload, r.payload_type as "payloadType",
  ratchet.packet_text(r.output, r.output_type) as output`;

const currentState = (sql: Sql) => sql`
  jsonb_build_object(
    'status', r.status, 'metadata', ratchet.packet_text(r.metadata, r.metadata_type), 'metadataType', r.metadata_type,
    'tags', to_jsonb(r.tags), 'outputType', r.output_type, 'error', r.error, 'attemptCount', r.attempt_count,
    'updatedAt', r.updated_at, 'startedAt', r.started_at, 'finishedAt', r.finished_at, 'delayUntil', r.delay_until,
    'queuedAt', r.queued_at, 'expiredAt', r.expired_at, 'idempotencyKey', r.idempotency_key)`;

/** At most this many runs in the first answer of a tag subscription (newest first). */
export const tagSnapshotLimit = 500;

function runFilter(sql: Sql, shape: ShapeFilter) {
  switch (shape.kind) {
    case "run":
      return sql`r.environment_id = ${shape.environmentId} and r.id = ${shape.runId}`;
    case "batch":
      return sql`r.environment_id = ${shape.environmentId} and r.batch_id = ${shape.batchId}`;
    case "tags":
      return sql`r.environment_id = ${shape.environmentId} and r.tags && ${shape.tags}::text[]
        and (${shape.createdAfter}::timestamptz is null or r.created_at >= ${shape.createdAfter})`;
  }
}

function changeFilter(sql: Sql, shape: ShapeFilter) {
  switch (shape.kind) {
    case "run":
      return sql`c.run_id = ${shape.runId} and c.environment_id = ${shape.environmentId}`;
    case "batch":
      return sql`c.batch_id = ${shape.batchId} and c.environment_id = ${shape.environmentId}`;
    case "tags":
      return sql`c.environment_id = ${shape.environmentId} and c.tags <> '{}' and c.tags && ${shape.tags}::text[]
        and (${shape.createdAfter}::timestamptz is null or r.created_at >= ${shape.createdAfter})`;
  }
}

/** The shape's runs as they are now, and the snapshot they were read in (one statement). */
export async function realtimeSnapshot(sql: Sql, shape: ShapeFilter): Promise<SnapshotResult> {
  const rows = await sql<Array<ShapeRunRow & { snapshot: string }>>`
    with s as (select pg_current_snapshot()::text as snapshot),
    shape as (
      select null::text as "changeId", ${runFields(sql)}, ${currentState(sql)} as state
      from ratchet.runs r where ${runFilter(sql, shape)}
      order by r.id desc limit ${shape.kind === "tags" ? tagSnapshotLimit : 10_000}
    )
    select shape.*, s.snapshot from s left join shape on true
    order by shape."runId" nulls first`;
  const snapshot = rows[0]!.snapshot;
  return { rows: rows.filter((row) => row.runId !== null), snapshot };
}

export interface ChangesSince {
  /** Changes already delivered: visible in `seen`, or visible in `target` with an id up to `throughId`. */
  seen: string;
  throughId?: string;
  target?: string;
}

/**
 * Changes of the shape not delivered yet, in feed order, with the snapshot read in. With a target,
 * only changes visible in the target snapshot (catching up a backlog one step at a time).
 */
export async function realtimeChangesSince(sql: Sql, shape: ShapeFilter, since: ChangesSince): Promise<SnapshotResult> {
  const target = since.target ?? null;
  const rows = await sql<Array<ShapeRunRow & { snapshot: string }>>`
    with s as (select pg_current_snapshot()::text as snapshot),
    shape as (
      select c.id::text as "changeId", ${runFields(sql)}, c.state
      from ratchet.run_changes c join ratchet.runs r on r.id = c.run_id
      where ${changeFilter(sql, shape)}
        and c.xid >= pg_snapshot_xmin(${since.seen}::pg_snapshot)
        and not pg_visible_in_snapshot(c.xid, ${since.seen}::pg_snapshot)
        and (${target}::pg_snapshot is null
          or (pg_visible_in_snapshot(c.xid, ${target}::pg_snapshot) and c.id > ${since.throughId ?? "0"}::bigint))
    )
    select shape.*, s.snapshot from s left join shape on true
    order by shape."changeId"::bigint nulls first`;
  const snapshot = rows[0]!.snapshot;
  return { rows: rows.filter((row) => row.changeId !== null), snapshot };
}

/** Drops feed entries older than the cutoff; returns how many. */
export async function runChangesDeleteBefore(sql: Sql, cutoff: Date): Promise<number> {
  const result = await sql`delete from ratchet.run_changes where changed_at < ${cutoff}`;
  return result.count;
}
