// Named queries for the engine's periodic sweeps. Each takes its rows with SKIP LOCKED, so any
// number of server processes may sweep at once without doing the same work twice.
import { currentVersionOf } from "./workers.ts";
import type { TransactionSql } from "../db/client.ts";

/**
 * The queue a run goes to once a version declares its task: the one it asked for, or, when it asked
 * for none (its queue is still the default `task/<id>` it got while no version knew the task), the
 * queue the newest version declares for the task (a named queue, or a shared `queue()`).
 */
const resolvedQueueName = (run: string) => `case when ${run}.queue_name = 'task/' || ${run}.task_identifier
  then coalesce((select t.queue_name from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
    where t.environment_id = ${run}.environment_id and t.slug = ${run}.task_identifier
    order by v.created_at desc, v.id desc limit 1), ${run}.queue_name)
  else ${run}.queue_name end`;

/**
 * Moves DELAYED runs whose time has come into their queue (or to PENDING_VERSION when no registered
 * version has the task or its queue). The TTL clock starts when a run is first queued.
 */
export async function runsPromoteDue(tx: TransactionSql, now: Date, limit: number): Promise<string[]> {
  const rows = await tx<{ environmentId: string; queued: boolean }[]>`
    with due as (
      select r.id, r.environment_id, r.task_identifier, ${tx.unsafe(resolvedQueueName("r"))} as queue_name, r.concurrency_key,
        r.priority_ms, r.delay_until, r.ttl,
        -- Outside dev a run triggered before any version was promoted is pinned now, to the current one.
        coalesce(r.lock_to_version, case when (select e.type from ratchet.environments e where e.id = r.environment_id) <> 'dev'
          then (${tx.unsafe(currentVersionOf("r.environment_id"))}) end) as pin
      from ratchet.runs r
      where r.status = 'DELAYED' and r.delay_until <= ${now}
      order by r.delay_until limit ${limit} for update skip locked
    ), resolved as (
      select d.*, q.id as queue_id,
        exists (select 1 from ratchet.tasks t where t.environment_id = d.environment_id and t.slug = d.task_identifier) as task_known
      from due d left join ratchet.queues q on q.environment_id = d.environment_id and q.name = d.queue_name
    ), updated as (
      update ratchet.runs r set
        status = case when s.task_known and s.queue_id is not null then 'QUEUED' else 'PENDING_VERSION' end,
        queue_name = s.queue_name,
        queued_at = case when s.task_known and s.queue_id is not null then ${now}::timestamptz else null end,
        ttl_expires_at = case when s.ttl is not null and s.task_known and s.queue_id is not null
          then ${now}::timestamptz + (s.ttl_ms * interval '1 millisecond') else null end,
        debounce_key = null,
        lock_to_version = s.pin,
        updated_at = ${now}
      from (select resolved.*, ratchet.duration_ms(resolved.ttl) as ttl_ms from resolved) s
      where r.id = s.id
      returning r.id, r.environment_id, r.status
    ), entries as (
      insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
      select s.id, s.environment_id, s.queue_id, coalesce(s.concurrency_key, ''),
        s.delay_until - (s.priority_ms * interval '1 millisecond'), ${now}, coalesce(s.pin, '')
      from resolved s join updated u on u.id = s.id where u.status = 'QUEUED'
      on conflict (run_id) do nothing
    )
    select distinct environment_id as "environmentId", status = 'QUEUED' as queued from updated`;
  return rows.filter((row) => row.queued).map((row) => row.environmentId);
}

/** Expires runs not started before their TTL: queue entry first, then the run (the dequeue's lock order). */
export async function runsExpireTtl(tx: TransactionSql, now: Date, limit: number): Promise<string[]> {
  const due = await tx<{ id: string }[]>`
    select id from ratchet.runs
    where status in ('QUEUED', 'PENDING_VERSION') and ttl_expires_at <= ${now}
    order by ttl_expires_at limit ${limit}`;
  if (due.length === 0) return [];
  const ids = due.map((row) => row.id);
  const removed = await tx<{ runId: string }[]>`
    delete from ratchet.queue_entries where run_id in (
      select run_id from ratchet.queue_entries where run_id = any(${ids}::uuid[]) for update skip locked)
    returning run_id as "runId"`;
  const expired = await tx<{ id: string }[]>`
    update ratchet.runs set status = 'EXPIRED', expired_at = ${now}, finished_at = ${now}, updated_at = ${now},
      error = ${tx.json({ type: "STRING_ERROR", message: "Run expired: it was not started before its TTL" })}
    where (id = any(${removed.map((row) => row.runId)}::uuid[]) and status = 'QUEUED')
       or (id = any(${ids}::uuid[]) and status = 'PENDING_VERSION' and ttl_expires_at <= ${now})
    returning id`;
  return expired.map((row) => row.id);
}

/**
 * Queues PENDING_VERSION runs whose task and queue a newly registered (in dev) or promoted version
 * provides. Outside dev they are pinned to the current version, and only its tasks count.
 */
export async function runsPromotePendingVersion(tx: TransactionSql, environmentId: string, now: Date, pinned: boolean): Promise<number> {
  const rows = await tx`
    with pending as (
      select r.id, r.concurrency_key, r.priority_ms, r.created_at, r.ttl, ${tx.unsafe(resolvedQueueName("r"))} as queue_name,
        coalesce(r.lock_to_version, case when ${pinned} then (${tx.unsafe(currentVersionOf("r.environment_id"))}) end) as pin
      from ratchet.runs r
      where r.environment_id = ${environmentId} and r.status = 'PENDING_VERSION'
        and exists (select 1 from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
          where t.environment_id = r.environment_id and t.slug = r.task_identifier
            and (not ${pinned} or v.version = coalesce(r.lock_to_version, (${tx.unsafe(currentVersionOf("r.environment_id"))}))))
      for update of r skip locked
    ), ready as (
      select p.*, q.id as queue_id from pending p
      join ratchet.queues q on q.environment_id = ${environmentId} and q.name = p.queue_name
    ), updated as (
      update ratchet.runs r set status = 'QUEUED', queue_name = s.queue_name, queued_at = ${now}, updated_at = ${now},
        lock_to_version = s.pin,
        ttl_expires_at = case when s.ttl is null then null
          else ${now}::timestamptz + (ratchet.duration_ms(s.ttl) * interval '1 millisecond') end
      from ready s where r.id = s.id
      returning r.id
    )
    insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
    select s.id, ${environmentId}, s.queue_id, coalesce(s.concurrency_key, ''), s.created_at - (s.priority_ms * interval '1 millisecond'), ${now},
      coalesce(s.pin, '')
    from ready s join updated u on u.id = s.id
    on conflict (run_id) do nothing
    returning run_id`;
  return rows.length;
}

/**
 * Records this sweep and, when `afterOutage` and nobody swept for longer than `thresholdMs`, moves
 * live leases and deadlines on by that gap: while no server could reach the database (or none was
 * running), workers could neither heartbeat nor complete. Only leases last renewed before the gap
 * and attempts started before it move. Returns the gap covered, in ms (0 when none). The row lock
 * makes servers take turns: the first to sweep after an outage covers it, the others see no gap.
 */
export async function sweepsRecordAndCoverOutage(
  tx: TransactionSql,
  now: Date,
  options: { afterOutage: boolean; thresholdMs: number; leaseSeconds: number },
): Promise<number> {
  const [row] = await tx<{ sweptAt: Date | null }[]>`select swept_at as "sweptAt" from ratchet.instance where id = 1 for update`;
  await tx`update ratchet.instance set swept_at = greatest(swept_at, ${now}) where id = 1`;
  const previous = row?.sweptAt ?? null;
  if (!options.afterOutage || previous === null) return 0;
  const gapMs = now.getTime() - previous.getTime();
  if (gapMs <= options.thresholdMs) return 0;
  await tx`
    update ratchet.executions set
      lease_expires_at = case when lease_expires_at <= ${previous}::timestamptz + make_interval(secs => ${options.leaseSeconds})
        then lease_expires_at + ${gapMs} * interval '1 millisecond' else lease_expires_at end,
      deadline_at = case when started_at <= ${previous} then deadline_at + ${gapMs} * interval '1 millisecond' else deadline_at end,
      connection_lost_at = null`;
  return gapMs;
}
