// Named queries behind the gauges of /metrics (server/observability/run-metrics.ts). They run at
// scrape time, so each is bounded: a LIMIT on what it returns and a statement timeout on the whole.
import type { Sql, TransactionSql } from "../db/client.ts";

/** At most this many queues are reported: the deepest first. More would make the series unbounded. */
export const metricsQueueLimit = 500;

export interface QueueDepthRow {
  project: string;
  environment: string;
  queue: string;
  depth: number;
  /** Seconds since the run first in line joined the queue (its real queued_at, not the priority-shifted sort key). */
  oldestAgeSeconds: number;
}

/**
 * Queued runs per queue and the age of the run first in line. The count is an index-only scan of
 * queue_entries_dequeue_idx grouped by queue; the first in line is one probe of the same index per
 * queue, joined to its run for queued_at.
 */
export async function metricsQueueDepths(tx: TransactionSql, now: Date): Promise<QueueDepthRow[]> {
  return tx<QueueDepthRow[]>`
    with depths as (
      select queue_id, count(*)::integer as depth from ratchet.queue_entries group by queue_id
      order by depth desc limit ${metricsQueueLimit})
    select p.ref as project, e.slug as environment, q.name as queue, d.depth,
      greatest(0, extract(epoch from (${now}::timestamptz - coalesce(r.queued_at, r.created_at))))::double precision as "oldestAgeSeconds"
    from depths d
    join ratchet.queues q on q.id = d.queue_id
    join ratchet.environments e on e.id = q.environment_id
    join ratchet.projects p on p.id = e.project_id
    cross join lateral (
      select qe.run_id from ratchet.queue_entries qe where qe.queue_id = d.queue_id
      order by qe.queue_id, qe.sort_key limit 1) as first
    left join ratchet.runs r on r.id = first.run_id`;
}

export interface ExecutingRow {
  project: string;
  environment: string;
  /** Distinct workers holding at least one lease. */
  workers: number;
  executions: number;
}

/** Workers holding leases and runs executing, per environment (the executions table is small: one row per slot). */
export async function metricsExecuting(tx: TransactionSql): Promise<ExecutingRow[]> {
  return tx<ExecutingRow[]>`
    select p.ref as project, e.slug as environment, count(distinct x.worker_id)::integer as workers,
      count(*)::integer as executions
    from ratchet.executions x
    join ratchet.environments e on e.id = x.environment_id
    join ratchet.projects p on p.id = e.project_id
    group by p.ref, e.slug
    limit ${metricsQueueLimit}`;
}

export interface PartitionSizeRow {
  partition: string;
  bytes: number;
}

/** The size of each day partition of ratchet.events (catalog reads only; retention bounds the count). */
export async function metricsEventPartitionSizes(tx: TransactionSql): Promise<PartitionSizeRow[]> {
  return tx<PartitionSizeRow[]>`
    select c.relname as partition, pg_total_relation_size(c.oid)::double precision as bytes
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'ratchet.events'::regclass order by c.relname limit 4000`;
}

export interface ConnectionStateRow {
  state: string;
  connections: number;
}

/**
 * Connections to this database opened under this session's application name, by state (active,
 * idle, idle in transaction): every server replica with the same name counts.
 */
export async function metricsDbConnections(tx: TransactionSql): Promise<ConnectionStateRow[]> {
  return tx<ConnectionStateRow[]>`
    select coalesce(state, 'unknown') as state, count(*)::integer as connections
    from pg_stat_activity
    where datname = current_database() and application_name = current_setting('application_name')
    group by 1`;
}

export interface AttemptTiming {
  taskIdentifier: string;
  environmentId: string;
  durationSeconds: number | null;
}

/** One attempt's task and how long it ran (a primary-key lookup), for the attempt duration histogram. */
export async function metricsAttemptTiming(tx: TransactionSql | Sql, runId: string, attemptNumber: number): Promise<AttemptTiming | null> {
  const [row] = await tx<AttemptTiming[]>`
    select r.task_identifier as "taskIdentifier", r.environment_id as "environmentId",
      extract(epoch from (coalesce(a.finished_at, r.updated_at) - coalesce(a.started_at, a.created_at)))::double precision as "durationSeconds"
    from ratchet.runs r left join ratchet.attempts a on a.run_id = r.id and a.number = ${attemptNumber}
    where r.id = ${runId}`;
  return row ?? null;
}

/** Bounds a scrape: a slow catalog or a huge queue must not hold a connection for long. */
export async function metricsStatementTimeout(tx: TransactionSql): Promise<void> {
  await tx`set local statement_timeout = '2s'`;
}
