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
  schedulesTaskIsKnown,
  schedulesUpdate,
  schedulesUpsert,
  type NextTick,
  type ScheduleRow,
} from "../storage/schedules.ts";
import { checkCron, describeCron, nextTicks } from "./cron.ts";
import { fireTime, parseScheduleWindow, schedulePhase } from "./schedule-window.ts";
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
  if (schedule.window) object.window = schedule.window;
  if (schedule.active && schedule.nextRunAt) object.nextRun = schedule.nextRunAt.toISOString();
  if (schedule.active && schedule.nextFireAt) object.nextRunEffectiveAt = schedule.nextFireAt.toISOString();
  return object;
}

export interface ScheduleInput {
  task: string;
  cron: string;
  timezone?: string;
  /** "30m", "2h", "30%": see schedule-window.ts. */
  window?: string;
  externalId?: string;
  deduplicationKey?: string;
}

type TickSource = Pick<ScheduleRow, "cron" | "timezone" | "window" | "environmentId" | "deduplicationKey" | "taskIdentifier">;

/** The first tick strictly after `after`, and when it fires within the schedule's window. */
function planNextTick(schedule: TickSource, after: Date): NextTick {
  const [nominal, following] = nextTicks(schedule.cron, schedule.timezone, after, 2);
  if (!nominal) return { nextRunAt: null, nextFireAt: null };
  const window = schedule.window ? parseScheduleWindow(schedule.window, "window") : null;
  return { nextRunAt: nominal, nextFireAt: fireTime(nominal, following ?? null, window, schedulePhase(schedule)) };
}

const inactive: NextTick = { nextRunAt: null, nextFireAt: null };

/** Checks what the API was sent, with 400s naming the field. */
function checkScheduleInput(input: ScheduleInput, now: Date): void {
  checkCron(input.cron, input.timezone ?? "UTC", now);
  if (input.window !== undefined) parseScheduleWindow(input.window, "body.window");
}

/**
 * As Trigger.dev does, a schedule is refused unless the task exists: a schedule for a task no
 * version of the environment has would show as active and never run anything.
 */
async function checkTaskIsKnown(tx: TransactionSql, environmentId: string, task: string): Promise<void> {
  if (!(await schedulesTaskIsKnown(tx, environmentId, task))) {
    throw new ApiError(
      "UNPROCESSABLE",
      `body.task: no worker version of this environment has a task "${task}"; register it (ratchet dev or deploy) before scheduling it`,
    );
  }
}

export async function createSchedule(
  deps: EngineDeps,
  environment: { environmentId: string; projectId: string },
  input: ScheduleInput,
): Promise<ScheduleRow> {
  const timezone = input.timezone ?? "UTC";
  const now = deps.clock.now();
  checkScheduleInput(input, now);
  return deps.db.sql.begin(async (tx) => {
    await checkTaskIsKnown(tx, environment.environmentId, input.task);
    const fields = {
      environmentId: environment.environmentId,
      deduplicationKey: input.deduplicationKey ?? null,
      taskIdentifier: input.task,
      cron: input.cron,
      timezone,
      window: input.window ?? null,
    };
    const id = await schedulesUpsert(
      tx,
      { ...fields, id: uuidv7(now), projectId: environment.projectId, externalId: input.externalId ?? null, ...planNextTick(fields, now) },
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
  checkScheduleInput(input, deps.clock.now());
  return mutate(deps, environmentId, publicId, async (tx, schedule, now) => {
    if (schedule.type === "DECLARATIVE") throw new ApiError("UNPROCESSABLE", "A declarative schedule is defined in code; change it there");
    await checkTaskIsKnown(tx, environmentId, input.task);
    const fields = { taskIdentifier: input.task, cron: input.cron, timezone, window: input.window ?? null, externalId: input.externalId ?? null };
    const next = schedule.active ? planNextTick({ ...schedule, ...fields }, now) : inactive;
    await schedulesUpdate(tx, schedule.id, { ...fields, ...next }, now);
  });
}

export function setScheduleActive(deps: EngineDeps, environmentId: string, publicId: string, active: boolean): Promise<ScheduleRow> {
  return mutate(deps, environmentId, publicId, async (tx, schedule, now) => {
    await schedulesSetActive(tx, schedule.id, active, active ? planNextTick(schedule, now) : inactive, now);
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
  tasks: Array<{ id: string; cron: string; timezone: string; window?: string }>,
  now: Date,
): Promise<void> {
  // The same checks as the API's, refusing the registration with the task's field named.
  for (const task of tasks) {
    const field = `tasks[${task.id}].schedule`;
    checkCron(task.cron, task.timezone, now, { cron: `${field}.cron`, timezone: `${field}.timezone` });
    if (task.window !== undefined) parseScheduleWindow(task.window, `${field}.window`);
  }
  await schedulesSyncDeclarative(
    tx,
    environment,
    tasks.map((task) => {
      const fields = { taskIdentifier: task.id, cron: task.cron, timezone: task.timezone, window: task.window ?? null };
      const next = planNextTick({ ...fields, environmentId: environment.environmentId, deduplicationKey: null }, now);
      return { ...fields, ...next, id: uuidv7(now), externalId: null };
    }),
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
      const next = planNextTick(schedule, now);
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
        if (!result.isCached) deps.metrics?.runTriggered(schedule.taskIdentifier);
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
