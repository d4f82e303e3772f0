// Named queries for schedules.
import type { Sql, TransactionSql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";

type Queryable = Sql | TransactionSql;

export interface ScheduleRow {
  id: string;
  projectId: string;
  environmentId: string;
  environmentType: EnvironmentType;
  type: "DECLARATIVE" | "IMPERATIVE";
  taskIdentifier: string;
  cron: string;
  timezone: string;
  deduplicationKey: string | null;
  externalId: string | null;
  active: boolean;
  /** "30m", "2h", "30%": ticks fire at a stable offset within it (engine/schedule-window.ts). */
  window: string | null;
  /** The next tick's nominal time (the payload's timestamp). */
  nextRunAt: Date | null;
  /** When that tick fires: nextRunAt plus the schedule's offset within its window. */
  nextFireAt: Date | null;
  lastRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const scheduleColumns = `s.id, s.project_id as "projectId", s.environment_id as "environmentId", e.type as "environmentType",
  s.type, s.task_identifier as "taskIdentifier", s.cron, s.timezone, s.deduplication_key as "deduplicationKey",
  s.external_id as "externalId", s.active, s.run_window as "window", s.next_run_at as "nextRunAt",
  s.next_fire_at as "nextFireAt", s.last_run_at as "lastRunAt",
  s.created_at as "createdAt", s.updated_at as "updatedAt"`;

/** The next tick: when it is nominally (nextRunAt) and when it fires (nextFireAt). */
export interface NextTick {
  nextRunAt: Date | null;
  nextFireAt: Date | null;
}

export interface ScheduleFields extends NextTick {
  taskIdentifier: string;
  cron: string;
  timezone: string;
  window: string | null;
  externalId: string | null;
}

/** Tells whether any registered version of the environment has the task. */
export async function schedulesTaskIsKnown(tx: Queryable, environmentId: string, taskIdentifier: string): Promise<boolean> {
  const [row] = await tx<{ known: boolean }[]>`
    select exists (select 1 from ratchet.tasks where environment_id = ${environmentId} and slug = ${taskIdentifier}) as known`;
  return row?.known ?? false;
}

/** Creates an imperative schedule, or updates the one of the project with the same deduplication key. */
export async function schedulesUpsert(
  tx: Queryable,
  schedule: ScheduleFields & { id: string; projectId: string; environmentId: string; deduplicationKey: string | null },
  now: Date,
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    insert into ratchet.schedules (id, project_id, environment_id, type, task_identifier, cron, timezone, run_window, deduplication_key,
      external_id, next_run_at, next_fire_at, created_at, updated_at)
    values (${schedule.id}, ${schedule.projectId}, ${schedule.environmentId}, 'IMPERATIVE', ${schedule.taskIdentifier},
      ${schedule.cron}, ${schedule.timezone}, ${schedule.window}, ${schedule.deduplicationKey}, ${schedule.externalId},
      ${schedule.nextRunAt}, ${schedule.nextFireAt}, ${now}, ${now})
    on conflict (project_id, deduplication_key) where deduplication_key is not null do update set
      task_identifier = excluded.task_identifier, cron = excluded.cron, timezone = excluded.timezone, run_window = excluded.run_window,
      external_id = excluded.external_id, next_run_at = excluded.next_run_at, next_fire_at = excluded.next_fire_at,
      updated_at = excluded.updated_at
    returning id`;
  return row!.id;
}

export async function schedulesFind(tx: Queryable, environmentId: string, id: string, lock = false): Promise<ScheduleRow | null> {
  const [row] = lock
    ? await tx<ScheduleRow[]>`select ${tx.unsafe(scheduleColumns)} from ratchet.schedules s join ratchet.environments e on e.id = s.environment_id
        where s.id = ${id} and s.environment_id = ${environmentId} for update of s`
    : await tx<ScheduleRow[]>`select ${tx.unsafe(scheduleColumns)} from ratchet.schedules s join ratchet.environments e on e.id = s.environment_id
        where s.id = ${id} and s.environment_id = ${environmentId}`;
  return row ?? null;
}

export async function schedulesList(sql: Sql, environmentId: string, page: { offset: number; limit: number }): Promise<{ rows: ScheduleRow[]; total: number }> {
  const rows = await sql<ScheduleRow[]>`
    select ${sql.unsafe(scheduleColumns)} from ratchet.schedules s join ratchet.environments e on e.id = s.environment_id
    where s.environment_id = ${environmentId} order by s.id limit ${page.limit} offset ${page.offset}`;
  const [total] = await sql<{ count: number }[]>`select count(*)::int as count from ratchet.schedules where environment_id = ${environmentId}`;
  return { rows, total: total?.count ?? 0 };
}

export async function schedulesUpdate(tx: Queryable, id: string, fields: ScheduleFields, now: Date): Promise<void> {
  await tx`
    update ratchet.schedules set task_identifier = ${fields.taskIdentifier}, cron = ${fields.cron}, timezone = ${fields.timezone},
      run_window = ${fields.window}, external_id = ${fields.externalId}, next_run_at = ${fields.nextRunAt},
      next_fire_at = ${fields.nextFireAt}, updated_at = ${now}
    where id = ${id}`;
}

export async function schedulesSetActive(tx: Queryable, id: string, active: boolean, next: NextTick, now: Date): Promise<void> {
  await tx`
    update ratchet.schedules set active = ${active}, next_run_at = ${next.nextRunAt}, next_fire_at = ${next.nextFireAt}, updated_at = ${now}
    where id = ${id}`;
}

export async function schedulesDelete(tx: Queryable, id: string): Promise<void> {
  await tx`delete from ratchet.schedules where id = ${id}`;
}

/** Makes the environment's declarative schedules exactly those of a newly registered version. */
export async function schedulesSyncDeclarative(
  tx: TransactionSql,
  environment: { environmentId: string; projectId: string },
  schedules: Array<ScheduleFields & { id: string }>,
  now: Date,
): Promise<void> {
  for (const schedule of schedules) {
    await tx`
      insert into ratchet.schedules (id, project_id, environment_id, type, task_identifier, cron, timezone, run_window,
        next_run_at, next_fire_at, created_at, updated_at)
      values (${schedule.id}, ${environment.projectId}, ${environment.environmentId}, 'DECLARATIVE', ${schedule.taskIdentifier},
        ${schedule.cron}, ${schedule.timezone}, ${schedule.window}, ${schedule.nextRunAt}, ${schedule.nextFireAt}, ${now}, ${now})
      on conflict (environment_id, task_identifier) where type = 'DECLARATIVE' do update set
        cron = excluded.cron, timezone = excluded.timezone, run_window = excluded.run_window, updated_at = excluded.updated_at,
        next_run_at = case when ratchet.schedules.cron = excluded.cron and ratchet.schedules.timezone = excluded.timezone
          then ratchet.schedules.next_run_at else excluded.next_run_at end,
        next_fire_at = case when ratchet.schedules.cron = excluded.cron and ratchet.schedules.timezone = excluded.timezone
          and ratchet.schedules.run_window is not distinct from excluded.run_window
          then ratchet.schedules.next_fire_at else excluded.next_fire_at end`;
  }
  await tx`
    delete from ratchet.schedules where environment_id = ${environment.environmentId} and type = 'DECLARATIVE'
      and not (task_identifier = any(${schedules.map((schedule) => schedule.taskIdentifier)}::text[]))`;
}

/** Due schedules, locked with SKIP LOCKED, so each tick is taken by one server process only. */
export async function schedulesTakeDue(tx: TransactionSql, now: Date, limit: number): Promise<Array<ScheduleRow & { workerSeenAt: Date | null }>> {
  return tx<Array<ScheduleRow & { workerSeenAt: Date | null }>>`
    select ${tx.unsafe(scheduleColumns)}, e.worker_seen_at as "workerSeenAt"
    from ratchet.schedules s join ratchet.environments e on e.id = s.environment_id
    where s.active and s.next_fire_at <= ${now}
    order by s.next_fire_at limit ${limit}
    for update of s skip locked`;
}

export async function schedulesAdvance(tx: TransactionSql, id: string, next: NextTick, fired: Date | null, now: Date): Promise<void> {
  await tx`
    update ratchet.schedules set next_run_at = ${next.nextRunAt}, next_fire_at = ${next.nextFireAt},
      last_run_at = coalesce(${fired}::timestamptz, last_run_at), updated_at = ${now}
    where id = ${id}`;
}

/** Records that a worker asked for work (at most once every 10 s per environment). */
export async function environmentsTouchWorkerSeen(sql: Sql, environmentId: string, now: Date): Promise<void> {
  await sql`
    update ratchet.environments set worker_seen_at = ${now}
    where id = ${environmentId} and (worker_seen_at is null or worker_seen_at < ${now}::timestamptz - interval '10 seconds')`;
}
