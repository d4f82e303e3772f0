// Schedules: creating and changing them, firing their ticks exactly once, and keeping declarative
// ones in step with the registered code.
import type { Logger } from "pino";
import type { TransactionSql } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import { fromPublicId, toPublicId, uuidv7 } from "../ids.ts";
import {
  schedulesAdvance,
  schedulesDelete,
  schedulesFind,
  schedulesSetActive,
  schedulesSyncDeclarative,
  schedulesTakeDue,
  schedulesUpdate,
  schedulesUpsert,
  type ScheduleRow,
} from "../storage/schedules.ts";
import { checkCron, describeCron, nextTick, nextTicks } from "./cron.ts";
import { triggerRunInTransaction, type EngineDeps } from "./trigger.ts";

/** A dev environment counts as connected while a worker asked for work this recently. */
export const devWorkerPresenceMs = 60_000;

const publicEnvironmentTypes = { dev: "DEVELOPMENT", staging: "STAGING", prod: "PRODUCTION", preview: "PREVIEW" } as const;

export function scheduleIdOrNotFound(publicId: string): string {
  const id = fromPublicId("sched", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No schedule ${publicId}`);
  return id;
}

export function scheduleObject(schedule: ScheduleRow): Record<string, unknown> {
  const object: Record<string, unknown> = {
    id: toPublicId("sched", schedule.id),
    type: schedule.type,
    task: schedule.taskIdentifier,
    active: schedule.active,
    generator: { type: "CRON", expression: schedule.cron, description: describeCron(schedule.cron) },
    timezone: schedule.timezone,
    environments: [{ id: schedule.environmentId, type: publicEnvironmentTypes[schedule.environmentType] }],
  };
  if (schedule.deduplicationKey) object.deduplicationKey = schedule.deduplicationKey;
  if (schedule.externalId) object.externalId = schedule.externalId;
  if (schedule.active && schedule.nextRunAt) object.nextRun = schedule.nextRunAt.toISOString();
  return object;
}

export interface ScheduleInput {
  task: string;
  cron: string;
  timezone?: string;
  externalId?: string;
  deduplicationKey?: string;
}

export async function createSchedule(
  deps: EngineDeps,
  environment: { environmentId: string; projectId: string },
  input: ScheduleInput,
): Promise<ScheduleRow> {
  const timezone = input.timezone ?? "UTC";
  checkCron(input.cron, timezone);
  const now = deps.clock.now();
  return deps.db.sql.begin(async (tx) => {
    const id = await schedulesUpsert(
      tx,
      {
        id: uuidv7(now),
        projectId: environment.projectId,
        environmentId: environment.environmentId,
        deduplicationKey: input.deduplicationKey ?? null,
        taskIdentifier: input.task,
        cron: input.cron,
        timezone,
        externalId: input.externalId ?? null,
        nextRunAt: nextTick(input.cron, timezone, now),
      },
      now,
    );
    const schedule = await schedulesFind(tx, environment.environmentId, id);
    if (!schedule) throw new ApiError("CONFLICT", "That deduplication key belongs to a schedule of another environment of this project");
    return schedule;
  });
}

async function mutate(
  deps: EngineDeps,
  environmentId: string,
  publicId: string,
  change: (tx: TransactionSql, schedule: ScheduleRow, now: Date) => Promise<void>,
): Promise<ScheduleRow> {
  const id = scheduleIdOrNotFound(publicId);
  const now = deps.clock.now();
  return deps.db.sql.begin(async (tx) => {
    const schedule = await schedulesFind(tx, environmentId, id, true);
    if (!schedule) throw new ApiError("NOT_FOUND", `No schedule ${publicId}`);
    await change(tx, schedule, now);
    return (await schedulesFind(tx, environmentId, id)) ?? schedule;
  });
}

export function updateSchedule(deps: EngineDeps, environmentId: string, publicId: string, input: Omit<ScheduleInput, "deduplicationKey">): Promise<ScheduleRow> {
  const timezone = input.timezone ?? "UTC";
  checkCron(input.cron, timezone);
  return mutate(deps, environmentId, publicId, async (tx, schedule, now) => {
    if (schedule.type === "DECLARATIVE") throw new ApiError("UNPROCESSABLE", "A declarative schedule is defined in code; change it there");
    await schedulesUpdate(
      tx,
      schedule.id,
      { taskIdentifier: input.task, cron: input.cron, timezone, externalId: input.externalId ?? null, nextRunAt: schedule.active ? nextTick(input.cron, timezone, now) : null },
      now,
    );
  });
}

export function setScheduleActive(deps: EngineDeps, environmentId: string, publicId: string, active: boolean): Promise<ScheduleRow> {
  return mutate(deps, environmentId, publicId, async (tx, schedule, now) => {
    await schedulesSetActive(tx, schedule.id, active, active ? nextTick(schedule.cron, schedule.timezone, now) : null, now);
  });
}

export async function deleteSchedule(deps: EngineDeps, environmentId: string, publicId: string): Promise<ScheduleRow> {
  let deleted: ScheduleRow | null = null;
  await mutate(deps, environmentId, publicId, async (tx, schedule) => {
    if (schedule.type === "DECLARATIVE") throw new ApiError("UNPROCESSABLE", "A declarative schedule is defined in code; remove it there");
    deleted = schedule;
    await schedulesDelete(tx, schedule.id);
  });
  return deleted!;
}

export async function syncDeclarativeSchedules(
  tx: TransactionSql,
  environment: { environmentId: string; projectId: string },
  tasks: Array<{ id: string; cron: string; timezone: string }>,
  now: Date,
): Promise<void> {
  for (const task of tasks) checkCron(task.cron, task.timezone, { cron: `tasks[${task.id}].schedule.cron`, timezone: `tasks[${task.id}].schedule.timezone` });
  await schedulesSyncDeclarative(
    tx,
    environment,
    tasks.map((task) => ({ id: uuidv7(now), taskIdentifier: task.id, cron: task.cron, timezone: task.timezone, externalId: null, nextRunAt: nextTick(task.cron, task.timezone, now) })),
    now,
  );
}

/**
 * Fires every due tick once. After downtime a schedule fires one catch-up run (stamped with the
 * first tick it missed), then continues from the next tick after now. Dev schedules fire only while
 * a dev worker is connected.
 */
export async function fireDueSchedules(deps: EngineDeps, limit: number, logger?: Logger): Promise<number> {
  const now = deps.clock.now();
  const { fired, environments } = await deps.db.sql.begin(async (tx) => {
    const due = await schedulesTakeDue(tx, now, limit);
    const touched = new Set<string>();
    let count = 0;
    for (const schedule of due) {
      const tick = schedule.nextRunAt!;
      const next = nextTick(schedule.cron, schedule.timezone, now);
      const connected = schedule.environmentType !== "dev" || (schedule.workerSeenAt !== null && now.getTime() - schedule.workerSeenAt.getTime() <= devWorkerPresenceMs);
      if (!connected) {
        await schedulesAdvance(tx, schedule.id, next, null, now);
        continue;
      }
      const payload = {
        scheduleId: toPublicId("sched", schedule.id),
        type: schedule.type,
        timestamp: tick.toISOString(),
        ...(schedule.lastRunAt ? { lastTimestamp: schedule.lastRunAt.toISOString() } : {}),
        ...(schedule.externalId ? { externalId: schedule.externalId } : {}),
        timezone: schedule.timezone,
        upcoming: nextTicks(schedule.cron, schedule.timezone, tick, 10).map((date) => date.toISOString()),
      };
      try {
        const result = await tx.savepoint((savepoint) =>
          triggerRunInTransaction(savepoint, deps.clock, { environmentId: schedule.environmentId, environmentType: schedule.environmentType }, {
            taskIdentifier: schedule.taskIdentifier,
            payload,
            options: { idempotencyKey: `schedule:${schedule.id}:${tick.toISOString()}` },
            scheduleId: schedule.id,
          }),
        );
        if (result.queued) touched.add(schedule.environmentId);
        count += 1;
      } catch (error) {
        logger?.warn({ err: error, schedule: payload.scheduleId }, "a scheduled run could not be triggered; the tick is skipped");
      }
      await schedulesAdvance(tx, schedule.id, next, tick, now);
    }
    return { fired: count, environments: touched };
  });
  for (const environmentId of environments) deps.notifier.queueChanged(environmentId);
  return fired;
}
