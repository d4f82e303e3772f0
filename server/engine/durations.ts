// The one reader of durations, as Trigger.dev writes them: "30s", "10m", "1h30m", "2d", "1w", a
// plain number of seconds ("90", "1.5"), or a number of seconds. Every API field that takes a
// duration (delays, TTLs, idempotency key TTLs, debounce delays, token timeouts, periods) goes through
// it. SQL's ratchet.duration_ms (sql/0010_input_limits.sql) reads stored TTLs the same way; a test
// feeds both the same inputs.
import { limits } from "../api/limits.ts";

const unitMs: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** The longest duration accepted anywhere, and how docs and messages name it. */
export const maxDurationMs = limits.durationMaxDays * 86_400_000;
const maxDurationText = `${limits.durationMaxDays}d (about ${Math.round(limits.durationMaxDays / 365)} years)`;

type Reading = { ms: number } | { problem: string; readable: boolean };

/** Spaces around the text are ignored: ASCII whitespace only, as SQL's btrim(…, E' \t\n\r\f\v') does. */
const edges = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;

/** Seconds written in decimal, to milliseconds rounded half up on the exact digits (as SQL's numeric round). */
function decimalSecondsMs(text: string): number {
  const [whole = "0", fraction = ""] = text.split(".");
  const digits = fraction.padEnd(4, "0");
  return Number(whole) * 1000 + Number(digits.slice(0, 3)) + (digits[3]! >= "5" ? 1 : 0);
}

function read(value: string | number): Reading {
  let ms: number;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return { problem: "must be a non-negative number of seconds", readable: false };
    ms = Math.round(value * 1000);
  } else {
    const text = value.replace(edges, "");
    if (/^[0-9]+(\.[0-9]+)?$/.test(text)) ms = decimalSecondsMs(text);
    else if (/^([0-9]+[wdhms])+$/.test(text)) {
      ms = 0;
      for (const [, amount, unit] of text.matchAll(/([0-9]+)([wdhms])/g)) ms += Number(amount) * unitMs[unit!]!;
    } else return { problem: 'must be a duration like "30s", "10m", "1h30m", "2d" or a number of seconds', readable: false };
  }
  if (!(ms <= maxDurationMs)) return { problem: `must be at most ${maxDurationText}`, readable: true };
  return { ms };
}

/**
 * How a duration is stored (run and task TTLs), for SQL's ratchet.duration_ms to read back: text as
 * given, a number of seconds as the decimal of its milliseconds (never an exponent).
 */
export function storedDurationText(value: string | number): string {
  return typeof value === "string" ? value : String(Math.round(value * 1000) / 1000);
}

/** Milliseconds, or null when the value is not a duration or is longer than the maximum. */
export function parseDurationMs(value: string | number): number | null {
  const reading = read(value);
  return "ms" in reading ? reading.ms : null;
}

/** Why a value is not an acceptable duration, or null when it is one. */
export function durationProblem(value: string | number): string | null {
  const reading = read(value);
  return "problem" in reading ? reading.problem : null;
}

/** The earliest date accepted: before it, Postgres and JavaScript disagree on calendars, and no one means it. */
const earliestDate = Date.UTC(1970, 0, 1);

type DelayReading = { at: Date } | { problem: string };

function readDelay(value: string | Date, now: Date): DelayReading {
  let at: Date;
  if (value instanceof Date) at = value;
  else {
    const reading = read(value);
    if ("ms" in reading) return { at: new Date(now.getTime() + reading.ms) };
    if (reading.readable) return { problem: reading.problem };
    if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return { problem: 'must be a duration like "10m" or an ISO date' };
    at = new Date(value);
  }
  if (Number.isNaN(at.getTime())) return { problem: 'must be a duration like "10m" or an ISO date' };
  if (at.getTime() < earliestDate || at.getTime() > now.getTime() + maxDurationMs) {
    return { problem: `must be a date from 1970 to at most ${maxDurationText} from now` };
  }
  return { at };
}

/** A delay given as a duration or as a date: the moment it ends, or null when unreadable or out of range. */
export function resolveDelay(value: string | Date, now: Date): Date | null {
  const reading = readDelay(value, now);
  return "at" in reading ? reading.at : null;
}

/** Why a delay (duration or date) is not acceptable at `now`, or null when it is. */
export function delayProblem(value: string | Date, now: Date): string | null {
  const reading = readDelay(value, now);
  return "problem" in reading ? reading.problem : null;
}
