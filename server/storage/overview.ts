// Named queries behind the dashboard's overview charts and the tasks page's activity: finished runs
// of one environment over a time range, read from runs_finished_idx (environment_id, finished_at,
// covering status, task and start: see sql/0023_overview_index.sql), and the depth of its queues.
// Each query is one statement whatever the number of tasks or queues.
import type { Sql } from "../db/client.ts";

/** The final statuses, exactly as runs_finished_idx's predicate lists them (the planner must see it implied). */
const finalStatuses = ["COMPLETED", "CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"];

export interface TimeRange {
  from: Date;
  to: Date;
}

export interface FinishedBucketRow {
  /** The bucket's start: `from` plus a whole number of buckets. */
  bucket: Date;
  status: string;
  count: number;
}

/**
 * Aggregating a day of a busy environment (100,000s of index entries) sorts or hashes them all:
 * enough memory for that keeps it off disk. Local to the statement's own transaction.
 */
const aggregateWorkMem = "32MB";

/** Runs that finished in [from, to), per bucket of `bucketSeconds` and final status. */
export async function overviewFinishedByBucket(sql: Sql, environmentId: string, range: TimeRange, bucketSeconds: number): Promise<FinishedBucketRow[]> {
  return sql.begin(async (tx) => {
    await tx`select set_config('work_mem', ${aggregateWorkMem}, true)`;
    return tx<FinishedBucketRow[]>`
      select date_bin(make_interval(secs => ${bucketSeconds}), finished_at, ${range.from}::timestamptz) as bucket,
        status, count(*)::integer as count
      from ratchet.runs
      where environment_id = ${environmentId}
        and finished_at is not null and status in ${tx(finalStatuses)}
        and finished_at >= ${range.from} and finished_at < ${range.to}
      group by 1, 2
      order by 1, 2`;
  });
}

export interface TaskActivity {
  task: string;
  total: number;
  /** Finished runs by final status, most frequent first. */
  statuses: Array<{ status: string; count: number }>;
  /** Median and 95th percentile of start → finish, in ms, over the runs that started; null when none did. */
  p50Ms: number | null;
  p95Ms: number | null;
}

/**
 * Each task's runs that finished in [from, to): counts by status and p50/p95 duration, for every
 * task at once (one group per task: a count per status, and both percentiles from one sort of the
 * task's durations), the busiest `limit` tasks first.
 */
export async function overviewTaskActivity(sql: Sql, environmentId: string, range: TimeRange, limit: number): Promise<TaskActivity[]> {
  const rows = await sql.begin(async (tx) => {
    await tx`select set_config('work_mem', ${aggregateWorkMem}, true)`;
    return tx<Array<{ task: string; total: number; counts: number[]; percentiles: number[] | null }>>`
      select task_identifier as task, count(*)::integer as total,
        array[${tx.unsafe(finalStatuses.map((status) => `count(*) filter (where status = '${status}')::integer`).join(", "))}] as counts,
        percentile_cont(array[0.5, 0.95]) within group (order by extract(epoch from finished_at - started_at) * 1000)
          filter (where started_at is not null) as percentiles
      from ratchet.runs
      where environment_id = ${environmentId}
        and finished_at is not null and status in ${tx(finalStatuses)}
        and finished_at >= ${range.from} and finished_at < ${range.to}
      group by task_identifier
      order by total desc, task_identifier
      limit ${limit}`;
  });
  return rows.map((row) => ({
    task: row.task,
    total: row.total,
    statuses: finalStatuses
      .map((status, index) => ({ status, count: row.counts[index] ?? 0 }))
      .filter((entry) => entry.count > 0)
      .sort((a, b) => b.count - a.count || a.status.localeCompare(b.status)),
    p50Ms: row.percentiles?.[0] === undefined || row.percentiles[0] === null ? null : Number(row.percentiles[0]),
    p95Ms: row.percentiles?.[1] === undefined || row.percentiles[1] === null ? null : Number(row.percentiles[1]),
  }));
}

export interface QueueDepthRow {
  name: string;
  queued: number;
  running: number;
}

/**
 * The environment's queues that have runs queued or running now, deepest first: a count per queue
 * over queue_entries_dequeue_idx (index-only; the table holds only what is queued) and over the
 * executions (one row per slot held).
 */
export async function overviewQueueDepths(sql: Sql, environmentId: string, limit: number): Promise<QueueDepthRow[]> {
  return sql<QueueDepthRow[]>`
    select q.name, d.queued, x.running
    from ratchet.queues q
    cross join lateral (select count(*)::integer as queued from ratchet.queue_entries e where e.queue_id = q.id) d
    cross join lateral (select count(*)::integer as running from ratchet.executions r where r.queue_id = q.id) x
    where q.environment_id = ${environmentId} and (d.queued > 0 or x.running > 0)
    order by d.queued desc, x.running desc, q.name
    limit ${limit}`;
}
