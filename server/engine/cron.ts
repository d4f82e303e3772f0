// Cron expressions (five fields, with L, ranges and steps) in IANA time zones, by croner, which
// handles daylight-saving changes: a time skipped by spring-forward fires at the jump, and a time
// repeated by fall-back fires once.
import { Cron } from "croner";
import cronstrue from "cronstrue";
import { ApiError } from "../errors.ts";

export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** A cron with no tick this many years after it is saved never fires (e.g. "0 0 30 2 *"). */
export const cronHorizonYears = 5;

/**
 * Throws a 400 naming the field when the expression or the zone is not usable, or when the
 * expression has no tick within cronHorizonYears of `now`.
 */
export function checkCron(expression: string, timezone: string, now: Date, fields = { cron: "body.cron", timezone: "body.timezone" }): void {
  if (expression.trim().split(/\s+/).length !== 5) {
    throw new ApiError("VALIDATION_FAILED", `${fields.cron}: a cron expression has five fields (minute hour day-of-month month day-of-week)`);
  }
  if (!isValidTimezone(timezone)) throw new ApiError("VALIDATION_FAILED", `${fields.timezone}: "${timezone}" is not an IANA time zone`);
  let next: Date | null;
  try {
    next = new Cron(expression, { timezone, paused: true }).nextRun(now);
  } catch (error) {
    throw new ApiError("VALIDATION_FAILED", `${fields.cron}: ${(error as Error).message}`);
  }
  const horizon = new Date(now);
  horizon.setUTCFullYear(horizon.getUTCFullYear() + cronHorizonYears);
  if (next === null || next > horizon) {
    throw new ApiError("VALIDATION_FAILED", `${fields.cron}: "${expression}" never fires (no time matches it in the next ${cronHorizonYears} years)`);
  }
}

function cron(expression: string, timezone: string): Cron {
  return new Cron(expression, { timezone, paused: true });
}

/** The first tick strictly after `after`. */
export function nextTick(expression: string, timezone: string, after: Date): Date | null {
  return cron(expression, timezone).nextRun(after);
}

export function nextTicks(expression: string, timezone: string, after: Date, count: number): Date[] {
  return cron(expression, timezone).nextRuns(count, after);
}

export function describeCron(expression: string): string {
  try {
    return cronstrue.toString(expression);
  } catch {
    return expression;
  }
}

export function allTimezones(): string[] {
  return Intl.supportedValuesOf("timeZone");
}
