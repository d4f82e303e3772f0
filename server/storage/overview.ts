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

/** Runs that finished in [from, to), per bucket of `bucketSeconds` and final status. */
export async function overviewFinishedByBucket(sql: Sql, environmentId: string, range: TimeRange, bucketSeconds: number): Promise<FinishedBucketRow[]> {
  return sql<FinishedBucketRow[]>`
    select date_bin(make_interval(secs => ${bucketSeconds}), finished_at, ${range.from}::timestamptz) as bucket,
      status, count(*)::integer as count
    from ratchet.runs
    where environment_id = ${environmentId}
      and finished_at is not null and status in ${sql(finalStatuses)}
      and finished_at >= ${range.from} and finished_at < ${range.to}
    group by 1, 2
    order by 1, 2`;
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
 * task at once (grouping sets: the (task, status) rows carry the counts, the (task) rows the
 * percentiles), the busiest `limit` tasks first.
 */
export async function overviewTaskActivity(sql: Sql, environmentId: string, range: TimeRange, limit: number): Promise<TaskActivity[]> {
  const rows = await sql<Array<{ task: string; status: string | null; count: number; p50Ms: number | null; p95Ms: number | null }>>`
    select task_identifier as task, status, count(*)::integer as count,
      percentile_cont(0.5) within group (order by extract(epoch from finished_at - started_at) * 1000)
        filter (where started_at is not null) as "p50Ms",
      percentile_cont(0.95) within group (order by extract(epoch from finished_at - started_at) * 1000)
        filter (where started_at is not null) as "p95Ms"
    from ratchet.runs
    where environment_id = ${environmentId}
      and finished_at is not null and status in ${sql(finalStatuses)}
      and finished_at >= ${range.from} and finished_at < ${range.to}
    group by grouping sets ((task_identifier, status), (task_identifier))`;
  const byTask = new Map<string, TaskActivity>();
  const entry = (task: string) => {
    let found = byTask.get(task);
    if (!found) byTask.set(task, (found = { task, total: 0, statuses: [], p50Ms: null, p95Ms: null }));
    return found;
  };
  for (const row of rows) {
    const activity = entry(row.task);
    if (row.status === null) {
      activity.total = row.count;
      activity.p50Ms = row.p50Ms === null ? null : Number(row.p50Ms);
      activity.p95Ms = row.p95Ms === null ? null : Number(row.p95Ms);
    } else {
      activity.statuses.push({ status: row.status, count: row.count });
    }
  }
  const all = [...byTask.values()];
  for (const activity of all) activity.statuses.sort((a, b) => b.count - a.count || a.status.localeCompare(b.status));
  return all.sort((a, b) => b.total - a.total || a.task.localeCompare(b.task)).slice(0, limit);
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
