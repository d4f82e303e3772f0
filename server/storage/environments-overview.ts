// The environments overview: for every environment a user may see, its runs that finished in a time
// range by final status, and its runs queued and running now. One statement for all of them (a
// lateral group per environment over runs_finished_idx, queue_entries_dequeue_idx through the
// environment's queues, and executions_environment_idx), not one query per environment.
import type { Sql } from "../db/client.ts";
import type { TimeRange } from "./overview.ts";

/** The final statuses, exactly as runs_finished_idx's predicate lists them (the planner must see it implied). */
export const finalStatuses = ["COMPLETED", "CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"] as const;

export interface EnvironmentActivity {
  environmentId: string;
  /** Finished in the range, by final status (statuses with none are left out). */
  finished: Array<{ status: string; count: number }>;
  queued: number;
  running: number;
}

export async function environmentsActivity(sql: Sql, environmentIds: string[], range: TimeRange): Promise<EnvironmentActivity[]> {
  if (environmentIds.length === 0) return [];
  const rows = await sql<Array<{ environmentId: string; counts: number[]; queued: number; running: number }>>`
    select e.id as "environmentId", f.counts, d.queued, x.running
    from unnest(${environmentIds}::uuid[]) as e(id)
    cross join lateral (
      select array[${sql.unsafe(finalStatuses.map((status) => `count(*) filter (where status = '${status}')::integer`).join(", "))}] as counts
      from ratchet.runs r
      where r.environment_id = e.id
        and r.finished_at is not null and r.status in ${sql(finalStatuses)}
        and r.finished_at >= ${range.from} and r.finished_at < ${range.to}
    ) f
    cross join lateral (
      select count(*)::integer as queued
      from ratchet.queues q join ratchet.queue_entries qe on qe.queue_id = q.id
      where q.environment_id = e.id
    ) d
    cross join lateral (select count(*)::integer as running from ratchet.executions ex where ex.environment_id = e.id) x`;
  return rows.map((row) => ({
    environmentId: row.environmentId,
    finished: finalStatuses.map((status, index) => ({ status, count: row.counts[index] ?? 0 })).filter((entry) => entry.count > 0),
    queued: row.queued,
    running: row.running,
  }));
}
