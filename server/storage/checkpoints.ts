// Named queries for checkpoints (sql/0018_checkpoints.sql): suspended containers kept as large
// objects. Deleting a row unlinks its large object (a trigger), so these never call lo_unlink
// for a referenced object themselves.
import type { Sql, TransactionSql } from "../db/client.ts";

export interface CheckpointRow {
  id: string;
  runId: string;
  environmentId: string;
  attempt: number;
  workerVersion: string | null;
  image: string;
  containerConfig: Record<string, unknown>;
  sizeRaw: number;
  sizeStored: number;
  loOid: number;
  createdAt: Date;
}

export interface NewCheckpoint {
  id: string;
  runId: string;
  environmentId: string;
  attempt: number;
  workerVersion: string | null;
  image: string;
  containerConfig: Record<string, unknown>;
  sizeRaw: number;
  sizeStored: number;
  loOid: number;
}

const columns = (sql: Sql | TransactionSql) => sql`
  id, run_id as "runId", environment_id as "environmentId", attempt, worker_version as "workerVersion",
  image, container_config as "containerConfig", size_raw::float8 as "sizeRaw",
  size_stored::float8 as "sizeStored", lo_oid::int8::float8 as "loOid", created_at as "createdAt"`;

export async function checkpointsInsert(tx: TransactionSql, row: NewCheckpoint): Promise<void> {
  await tx`
    insert into ratchet.checkpoints
      (id, run_id, environment_id, attempt, worker_version, image, container_config, size_raw, size_stored, lo_oid)
    values (${row.id}, ${row.runId}, ${row.environmentId}, ${row.attempt}, ${row.workerVersion}, ${row.image},
      ${tx.json(row.containerConfig as postgresJson)}, ${row.sizeRaw}, ${row.sizeStored}, ${row.loOid})`;
}

type postgresJson = Parameters<Sql["json"]>[0];

export async function checkpointsGet(sql: Sql | TransactionSql, id: string): Promise<CheckpointRow | null> {
  const [row] = await sql<CheckpointRow[]>`select ${columns(sql)} from ratchet.checkpoints where id = ${id}`;
  return row ?? null;
}

/** The run's newest checkpoint: the one a resume restores. */
export async function checkpointsLatestForRun(sql: Sql, runId: string): Promise<CheckpointRow | null> {
  const [row] = await sql<CheckpointRow[]>`
    select ${columns(sql)} from ratchet.checkpoints where run_id = ${runId} order by created_at desc limit 1`;
  return row ?? null;
}

/** Bytes the environment's checkpoints keep in Postgres now (stored, i.e. compressed). */
export async function checkpointsEnvironmentBytes(sql: Sql | TransactionSql, environmentId: string): Promise<number> {
  const [row] = await sql<{ bytes: number }[]>`
    select coalesce(sum(size_stored), 0)::float8 as bytes from ratchet.checkpoints where environment_id = ${environmentId}`;
  return row!.bytes;
}

/** Deletes a checkpoint; its large object goes with it (trigger). Returns whether it existed. */
export async function checkpointsDelete(sql: Sql | TransactionSql, id: string): Promise<boolean> {
  const result = await sql`delete from ratchet.checkpoints where id = ${id}`;
  return result.count > 0;
}

/** Deletes every checkpoint of a run (it finished, was canceled or expired). */
export async function checkpointsDeleteForRun(sql: Sql | TransactionSql, runId: string): Promise<number> {
  const result = await sql`delete from ratchet.checkpoints where run_id = ${runId}`;
  return result.count;
}

/** The key of the advisory lock one sweeper holds at a time, across server replicas. */
export const checkpointSweepLockKey = 0x52415443_4b505357n; // "RATCKPSW"

/**
 * Unlinks large objects that no checkpoint row references and that are older than the grace
 * period's start (vacuumlo-style), under a transaction-scoped advisory lock so two replicas never
 * sweep at once; a replica that finds the lock taken returns null. Only objects owned by the
 * current role are considered, so objects of other applications sharing the database are left.
 * An object still being written is invisible to this query until its transaction commits (its
 * pg_largeobject_metadata row is uncommitted) and a committed one has its row in the same commit.
 */
export async function checkpointsSweepOrphans(sql: Sql): Promise<number | null> {
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${checkpointSweepLockKey.toString()}::bigint) as locked`;
    if (!lock!.locked) return null;
    const orphans = await tx<{ oid: number }[]>`
      select m.oid::int8::float8 as oid from pg_catalog.pg_largeobject_metadata m
      where m.lomowner = (select oid from pg_catalog.pg_roles where rolname = current_user)
        and not exists (select 1 from ratchet.checkpoints c where c.lo_oid = m.oid)`;
    for (const { oid } of orphans) await tx`select pg_catalog.lo_unlink(${oid})`;
    return orphans.length;
  });
}

/**
 * The checkpoint each dequeued run resumes from: its newest one of the attempt it continues (an
 * older attempt's would restore a process that is no longer the run's). Runs without one are absent.
 */
export async function checkpointsForAttempts(sql: Sql, runs: Array<{ runId: string; attemptNumber: number }>): Promise<Map<string, string>> {
  if (runs.length === 0) return new Map();
  const rows = await sql<{ runId: string; id: string }[]>`
    select distinct on (c.run_id) c.run_id as "runId", c.id
    from ratchet.checkpoints c
    join unnest(${runs.map((run) => run.runId)}::uuid[], ${runs.map((run) => run.attemptNumber)}::int[]) as r(run_id, attempt)
      on r.run_id = c.run_id and r.attempt = c.attempt
    order by c.run_id, c.created_at desc`;
  return new Map(rows.map((row) => [row.runId, row.id]));
}

/** Whether the checkpoint exists and belongs to the run in the environment. */
export async function checkpointsBelongsToRun(sql: Sql | TransactionSql, id: string, runId: string, environmentId: string): Promise<boolean> {
  const [row] = await sql`select 1 from ratchet.checkpoints where id = ${id} and run_id = ${runId} and environment_id = ${environmentId}`;
  return row !== undefined;
}

/** Deletes the checkpoints of runs a worker that cannot restore them dequeued; they replay. */
export async function checkpointsDeleteForRuns(sql: Sql, runIds: string[]): Promise<number> {
  if (runIds.length === 0) return 0;
  const result = await sql`delete from ratchet.checkpoints where run_id = any(${runIds}::uuid[])`;
  return result.count;
}

/**
 * Notes on the attempt a worker holds how its wait is suspended: `checkpointed` counts a suspension
 * by checkpoint, `fallback` says why a wait that could have been checkpointed suspends by replay.
 */
export async function attemptsNoteSuspension(
  tx: TransactionSql,
  lease: { runId: string; workerId: string },
  note: { checkpointed: boolean; fallback: string | null },
): Promise<void> {
  await tx`
    update ratchet.attempts a
    set checkpoints = a.checkpoints + ${note.checkpointed ? 1 : 0},
      checkpoint_fallback = coalesce(${note.fallback}, a.checkpoint_fallback)
    from ratchet.executions x
    where x.run_id = ${lease.runId} and x.worker_id = ${lease.workerId}
      and a.run_id = x.run_id and a.number = x.attempt_number`;
}

/** Notes why a resume did not restore its checkpoint (the run replays instead). */
export async function attemptsNoteCheckpointFallback(sql: Sql, runs: Array<{ runId: string; attemptNumber: number }>, reason: string): Promise<void> {
  if (runs.length === 0) return;
  await sql`
    update ratchet.attempts a set checkpoint_fallback = ${reason}
    from unnest(${runs.map((run) => run.runId)}::uuid[], ${runs.map((run) => run.attemptNumber)}::int[]) as r(run_id, attempt)
    where a.run_id = r.run_id and a.number = r.attempt`;
}
