// A schedule's window, as Trigger.dev's SDK writes it: "30m", "2h" (whole minutes or hours, at most
// 24 h) or "30%" (of the interval from one tick to the next). Each tick then fires at a stable
// offset after its nominal time within the window (never at or past the next tick), so schedules
// sharing a cron spread out instead of firing together. The offset comes from a hash of the
// schedule's environment and deduplication key (or task, for declarative ones), so it stays the same
// across ticks, restarts and updates.
import { createHash } from "node:crypto";
import { ApiError } from "../errors.ts";

export type ScheduleWindow = { type: "duration"; ms: number } | { type: "percentage"; percentage: number };

const maxDurationMs = 24 * 3_600_000;

/** Throws a 400 naming `field` when the window is not of the SDK's syntax or is too large. */
export function parseScheduleWindow(value: string, field: string): ScheduleWindow {
  const duration = /^(0|[1-9]\d{0,4})([mh])$/.exec(value);
  if (duration) {
    const ms = Number(duration[1]) * (duration[2] === "m" ? 60_000 : 3_600_000);
    if (ms > maxDurationMs) throw new ApiError("VALIDATION_FAILED", `${field}: a window is at most 24 hours ("24h" or "1440m")`);
    return { type: "duration", ms };
  }
  const percentage = /^(0|[1-9]\d{0,2})%$/.exec(value);
  if (percentage) {
    const amount = Number(percentage[1]);
    if (amount > 100) throw new ApiError("VALIDATION_FAILED", `${field}: a window is at most 100%`);
    return { type: "percentage", percentage: amount };
  }
  throw new ApiError("VALIDATION_FAILED", `${field}: a window is whole minutes or hours ("30m", "2h", at most "24h") or a percentage ("30%")`);
}

/** Where in its window a schedule's ticks fire: a stable fraction in [0, 1). */
export function schedulePhase(schedule: { environmentId: string; deduplicationKey: string | null; taskIdentifier: string }): number {
  const key = schedule.deduplicationKey !== null ? `key:${schedule.deduplicationKey}` : `task:${schedule.taskIdentifier}`;
  const digest = createHash("sha256").update(JSON.stringify(["schedule-phase", schedule.environmentId, key])).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/**
 * When the tick at `nominal` fires. The window is capped at the interval to the next tick, so a
 * tick always fires before the next one's nominal time.
 */
export function fireTime(nominal: Date, nextNominal: Date | null, window: ScheduleWindow | null, phase: number): Date {
  if (!window) return nominal;
  const intervalMs = nextNominal ? nextNominal.getTime() - nominal.getTime() : null;
  const windowMs = window.type === "duration" ? window.ms : intervalMs === null ? 0 : Math.floor((intervalMs * window.percentage) / 100);
  const rangeMs = intervalMs === null ? windowMs : Math.min(windowMs, intervalMs);
  return new Date(nominal.getTime() + Math.floor(phase * rangeMs));
}
