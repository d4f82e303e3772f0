// Named queries for purging finished runs past their environment's retention. Every batch takes its
// runs with SKIP LOCKED, so several server processes may purge at once without waiting on each other
// or on the engine, and a run still being worked on (not final) is never selected.
import type { Sql, TransactionSql } from "../db/client.ts";

const finalStatuses = ["COMPLETED", "CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"];

/** Environments whose finished runs age out, with the cutoff for each (the default when unset; 0: keep). */
export async function environmentsWithRunRetention(sql: Sql, now: Date, defaultDays: number): Promise<Array<{ id: string; before: Date }>> {
  return sql<{ id: string; before: Date }[]>`
    select id, ${now}::timestamptz - make_interval(days => coalesce(run_retention_days, ${defaultDays}::int)) as before
    from ratchet.environments
    where coalesce(run_retention_days, ${defaultDays}::int) > 0
    order by id`;
}

/**
 * Deletes up to `limit` finished runs of one environment that finished before `before`, with what
 * hangs off them: events, alert records, change-feed rows, the waitpoints only they used (tokens stay: they are the user's own objects); attempts,
 * journal, packets, streams and their chunks go by the foreign keys. Returns how many runs went.
 */
export async function runsPurgeFinished(tx: TransactionSql, environmentId: string, before: Date, limit: number): Promise<number> {
  const doomed = await tx<{ id: string }[]>`
    select id from ratchet.runs
    where environment_id = ${environmentId} and finished_at is not null and finished_at < ${before}
      and status in ${tx(finalStatuses)}
    order by finished_at limit ${limit}
    for update skip locked`;
  if (doomed.length === 0) return 0;
  const ids = doomed.map((row) => row.id);
  // Events have no foreign key (they age out by partition); their primary key starts with run_id.
  await tx`delete from ratchet.events where run_id = any(${ids}::uuid[])`;
  await tx`delete from ratchet.alert_run_failures where environment_id = ${environmentId} and run_id = any(${ids}::uuid[])`;
  await tx`delete from ratchet.run_changes where run_id = any(${ids}::uuid[])`;
  // Waitpoints that only these runs used (their waits, their children's run waitpoints), once settled.
  await tx`
    delete from ratchet.waitpoints w
    where w.environment_id = ${environmentId} and w.status <> 'WAITING' and w.type <> 'MANUAL'
      and w.id in (
        select rw.waitpoint_id from ratchet.run_waitpoints rw where rw.run_id = any(${ids}::uuid[])
        union
        select w2.id from ratchet.waitpoints w2 where w2.completed_by_run_id = any(${ids}::uuid[]))
      and not exists (
        select 1 from ratchet.run_waitpoints other
        where other.waitpoint_id = w.id and other.run_id <> all(${ids}::uuid[]))`;
  const deleted = await tx`delete from ratchet.runs where id = any(${ids}::uuid[])`;
  return deleted.count;
}

/** An environment's own retention in days (null: the server-wide default). */
export async function environmentsRunRetention(sql: Sql, environmentId: string): Promise<number | null> {
  const [row] = await sql<{ days: number | null }[]>`select run_retention_days as days from ratchet.environments where id = ${environmentId}`;
  return row?.days ?? null;
}

export async function environmentsSetRunRetention(sql: Sql, environmentId: string, days: number | null): Promise<void> {
  await sql`update ratchet.environments set run_retention_days = ${days} where id = ${environmentId}`;
}
