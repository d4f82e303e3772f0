// schedules.task() declares a task that runs on a cron schedule (synced when the worker registers);
// schedules.create/retrieve/list/update/del/activate/deactivate/timezones manage schedules at run time.
import { apiRequest } from "./api-client.ts";
import { task, taskRegistry, type Task, type TaskOptions } from "./task.ts";

export interface ScheduledTaskPayload {
  scheduleId: string;
  type: "DECLARATIVE" | "IMPERATIVE";
  /** The tick this run is for, in UTC. */
  timestamp: Date;
  /** The previous tick that fired, if any. */
  lastTimestamp?: Date;
  externalId?: string;
  timezone: string;
  /** The next ten ticks. */
  upcoming: Date[];
}

/**
 * A cron, or one with a time zone and a window: with `window: "30m"` (whole minutes or hours up to
 * "24h", or a percentage like "30%" of the interval) each tick fires at a stable offset after its
 * time, within the window.
 */
export type CronSpec = string | { pattern: string; timezone?: string; window?: string };

interface RawPayload {
  scheduleId: string;
  type: "DECLARATIVE" | "IMPERATIVE";
  timestamp: string;
  lastTimestamp?: string;
  externalId?: string;
  timezone: string;
  upcoming: string[];
}

function fromWire(raw: RawPayload): ScheduledTaskPayload {
  return {
    ...raw,
    timestamp: new Date(raw.timestamp),
    lastTimestamp: raw.lastTimestamp ? new Date(raw.lastTimestamp) : undefined,
    upcoming: (raw.upcoming ?? []).map((date) => new Date(date)),
  };
}

export interface ScheduleObject {
  id: string;
  type: "DECLARATIVE" | "IMPERATIVE";
  task: string;
  active: boolean;
  deduplicationKey?: string;
  externalId?: string;
  generator: { type: "CRON"; expression: string; description: string };
  timezone: string;
  window?: string;
  /** The next tick's nominal time (its payload's timestamp). */
  nextRun?: string;
  /** When that tick fires: nextRun plus the schedule's offset within its window. */
  nextRunEffectiveAt?: string;
}

const scheduleKey = Symbol.for("ratchet.sdk.schedule");

/** The cron a task declared with schedules.task(), for the worker's manifest. */
export function declaredSchedule(options: object): { cron: string; timezone: string; window?: string } | undefined {
  return (options as { [scheduleKey]?: { cron: string; timezone: string; window?: string } })[scheduleKey];
}

function scheduledTask<TId extends string, TOutput>(
  options: Omit<TaskOptions<TId, ScheduledTaskPayload, TOutput>, "run"> & {
    cron?: CronSpec;
    run: TaskOptions<TId, ScheduledTaskPayload, TOutput>["run"];
  },
): Task<TId, ScheduledTaskPayload, Awaited<TOutput>> {
  const { cron, run, ...rest } = options;
  const definition = task<TId, ScheduledTaskPayload, TOutput>({
    ...rest,
    run: (payload, params) => run(fromWire(payload as unknown as RawPayload), params),
  });
  if (cron) {
    const spec =
      typeof cron === "string"
        ? { cron, timezone: "UTC" }
        : { cron: cron.pattern, timezone: cron.timezone ?? "UTC", ...(cron.window !== undefined ? { window: cron.window } : {}) };
    const registered = taskRegistry().tasks.get(options.id)!;
    (registered as unknown as { [scheduleKey]: typeof spec })[scheduleKey] = spec;
  }
  return definition;
}

export const schedules = {
  task: scheduledTask,
  create(options: { task: string; cron: string; deduplicationKey: string; externalId?: string; timezone?: string; window?: string }): Promise<ScheduleObject> {
    return apiRequest("POST", "/api/v1/schedules", { body: options });
  },
  retrieve(id: string): Promise<ScheduleObject> {
    return apiRequest("GET", `/api/v1/schedules/${id}`);
  },
  list(options: { page?: number; perPage?: number } = {}): Promise<{ data: ScheduleObject[]; pagination: { currentPage: number; totalPages: number; count: number } }> {
    const query = new URLSearchParams();
    if (options.page) query.set("page", String(options.page));
    if (options.perPage) query.set("perPage", String(options.perPage));
    const text = query.toString();
    return apiRequest("GET", `/api/v1/schedules${text ? `?${text}` : ""}`);
  },
  update(id: string, options: { task: string; cron: string; externalId?: string; timezone?: string; window?: string }): Promise<ScheduleObject> {
    return apiRequest("PUT", `/api/v1/schedules/${id}`, { body: options });
  },
  del(id: string): Promise<ScheduleObject> {
    return apiRequest("DELETE", `/api/v1/schedules/${id}`);
  },
  activate(id: string): Promise<ScheduleObject> {
    return apiRequest("POST", `/api/v1/schedules/${id}/activate`);
  },
  deactivate(id: string): Promise<ScheduleObject> {
    return apiRequest("POST", `/api/v1/schedules/${id}/deactivate`);
  },
  async timezones(options: { excludeUtc?: boolean } = {}): Promise<{ timezones: string[] }> {
    return apiRequest("GET", `/api/v1/timezones${options.excludeUtc ? "?excludeUtc=true" : ""}`);
  },
};
