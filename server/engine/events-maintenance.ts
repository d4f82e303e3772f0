// Keeps ratchet.events' day partitions in shape: creates them ahead of time and drops the days that
// are past retention. Runs hourly in every server process; a transaction-scoped advisory lock taken
// with pg_try_advisory_xact_lock lets one process do it while the others skip their turn. Tests call
// maintainEventPartitions with a fixed clock instead of waiting for the timer. See docs/events.md.
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { PeriodicJob } from "./periodic-job.ts";
import { eventsDropBefore, eventsEnsurePartitions, eventsTryPartitionLock } from "../storage/events.ts";

export interface EventMaintenanceDeps {
  db: Db;
  clock: Clock;
}

export interface EventMaintenanceOptions {
  /** Days of events kept: partitions of days before today − retentionDays are dropped. */
  retentionDays: number;
  /** Partitions are ensured from today to today + aheadDays (UTC). */
  aheadDays: number;
}

export interface EventMaintenanceResult {
  /** True when another process held the lock, so this one did nothing. */
  skipped: boolean;
  created: number;
  dropped: number;
}

export const defaultEventsAheadDays = 7;
export const eventMaintenanceIntervalMs = 3_600_000;

const dayMs = 86_400_000;

/**
 * One maintenance pass in one transaction: ensures the partitions of today … today + aheadDays and
 * drops those of days before today − retentionDays (so events are kept at least retentionDays).
 */
export async function maintainEventPartitions(deps: EventMaintenanceDeps, options: EventMaintenanceOptions): Promise<EventMaintenanceResult> {
  const now = deps.clock.now();
  return deps.db.sql.begin(async (tx) => {
    if (!(await eventsTryPartitionLock(tx))) return { skipped: true, created: 0, dropped: 0 };
    const created = await eventsEnsurePartitions(tx, now, options.aheadDays + 1);
    const dropped = await eventsDropBefore(tx, new Date(now.getTime() - options.retentionDays * dayMs));
    return { skipped: false, created, dropped };
  });
}

/** Runs maintainEventPartitions once at start, then hourly, until stopped. Failures are logged. */
export class EventPartitionMaintainer extends PeriodicJob {
  constructor(
    deps: EventMaintenanceDeps,
    options: { retentionDays: number; aheadDays?: number; intervalMs?: number },
    logger: Logger,
  ) {
    const passOptions = { retentionDays: options.retentionDays, aheadDays: options.aheadDays ?? defaultEventsAheadDays };
    super(
      async () => {
        const result = await maintainEventPartitions(deps, passOptions);
        if (result.created > 0 || result.dropped > 0) logger.info(result, "event partitions maintained");
      },
      { intervalMs: options.intervalMs ?? eventMaintenanceIntervalMs, logger, failure: "event partition maintenance failed; retrying next hour" },
    );
  }
}
