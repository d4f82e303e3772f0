// Named queries for batches.
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

export interface BatchRow {
  id: string;
  environmentId: string;
  status: "PENDING" | "PROCESSING" | "COMPLETED" | "PARTIAL_FAILED" | "ABORTED";
  runCount: number;
  sealed: boolean;
  idempotencyKey: string | null;
  errors: Array<{ index: number; taskIdentifier: string; error: string; errorCode?: string }>;
  createdAt: Date;
  updatedAt: Date;
  /** SHA-256 of the public access token that created the batch, if one did. */
  publicTokenHash: Buffer | null;
}

const batchColumns = `id, environment_id as "environmentId", status, run_count as "runCount", sealed,
  idempotency_key as "idempotencyKey", errors, created_at as "createdAt", updated_at as "updatedAt",
  public_token_hash as "publicTokenHash"`;

/** Creates a batch, or returns the one holding the same idempotency key (created: false). */
export async function batchesCreate(
  sql: Queryable,
  batch: {
    id: string;
    environmentId: string;
    runCount: number;
    idempotencyKey: string | null;
    parentRunId: string | null;
    resumeParentOnCompletion: boolean;
    publicTokenHash?: Buffer | null;
  },
  now: Date,
): Promise<{ batch: BatchRow; created: boolean }> {
  const [inserted] = await sql<BatchRow[]>`
    insert into ratchet.batches (id, environment_id, run_count, idempotency_key, parent_run_id, resume_parent_on_completion, public_token_hash, created_at, updated_at)
    values (${batch.id}, ${batch.environmentId}, ${batch.runCount}, ${batch.idempotencyKey}, ${batch.parentRunId}, ${batch.resumeParentOnCompletion},
      ${batch.publicTokenHash ?? null}, ${now}, ${now})
    on conflict (environment_id, idempotency_key) where idempotency_key is not null do nothing
    returning ${sql.unsafe(batchColumns)}`;
  if (inserted) return { batch: inserted, created: true };
  const [existing] = await sql<BatchRow[]>`
    select ${sql.unsafe(batchColumns)} from ratchet.batches where environment_id = ${batch.environmentId} and idempotency_key = ${batch.idempotencyKey}`;
  return { batch: existing!, created: false };
}

export async function batchesFind(sql: Sql, environmentId: string, id: string): Promise<BatchRow | null> {
  const [row] = await sql<BatchRow[]>`select ${sql.unsafe(batchColumns)} from ratchet.batches where id = ${id} and environment_id = ${environmentId}`;
  return row ?? null;
}

export async function batchesRunIds(sql: Queryable, batchId: string): Promise<Array<{ id: string; index: number }>> {
  return sql<Array<{ id: string; index: number }>>`
    select id, batch_index as index from ratchet.runs where batch_id = ${batchId} order by batch_index`;
}

/** Records item errors and seals the batch once every item has a run or an error. */
export async function batchesRecordProgress(
  sql: Queryable,
  id: string,
  errors: BatchRow["errors"],
  now: Date,
): Promise<BatchRow> {
  const [row] = await sql<BatchRow[]>`
    update ratchet.batches b set
      errors = (select coalesce(jsonb_agg(e order by (e->>'index')::int), '[]'::jsonb) from (
        select distinct on ((e->>'index')::int) e from jsonb_array_elements(b.errors || ${sql.json(errors as never)}::jsonb) e
        where not exists (select 1 from ratchet.runs r where r.batch_id = b.id and r.batch_index = (e->>'index')::int)
        order by (e->>'index')::int) x(e)),
      updated_at = ${now}
    where id = ${id}
    returning ${sql.unsafe(batchColumns)}`;
  const [counts] = await sql<{ runs: number }[]>`select count(*)::int as runs from ratchet.runs where batch_id = ${id}`;
  const done = (counts?.runs ?? 0) + row!.errors.length >= row!.runCount;
  const status = done ? (row!.errors.length > 0 ? "PARTIAL_FAILED" : "COMPLETED") : "PROCESSING";
  const [sealed] = await sql<BatchRow[]>`
    update ratchet.batches set sealed = ${done}, status = ${status}, items_accepted = ${counts?.runs ?? 0}, updated_at = ${now}
    where id = ${id} returning ${sql.unsafe(batchColumns)}`;
  return sealed!;
}

export async function batchesList(sql: Sql, environmentId: string, limit: number): Promise<BatchRow[]> {
  return sql<BatchRow[]>`
    select ${sql.unsafe(batchColumns)} from ratchet.batches where environment_id = ${environmentId} order by id desc limit ${limit}`;
}
