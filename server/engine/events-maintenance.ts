// Keeps ratchet.events' day partitions in shape: creates them ahead of time and drops the days that
// are past retention. Runs hourly in every server process; a transaction-scoped advisory lock taken
// with pg_try_advisory_xact_lock lets one process do it while the others skip their turn. Tests call
// maintainEventPartitions with a fixed clock instead of waiting for the timer. See docs/events.md.
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
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
export class EventPartitionMaintainer {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #started = false;
  readonly #deps: EventMaintenanceDeps;
  readonly #options: EventMaintenanceOptions;
  readonly #intervalMs: number;
  readonly #logger: Logger;

  constructor(
    deps: EventMaintenanceDeps,
    options: { retentionDays: number; aheadDays?: number; intervalMs?: number },
    logger: Logger,
  ) {
    this.#deps = deps;
    this.#options = { retentionDays: options.retentionDays, aheadDays: options.aheadDays ?? defaultEventsAheadDays };
    this.#intervalMs = options.intervalMs ?? eventMaintenanceIntervalMs;
    this.#logger = logger;
  }

  /** Starts a pass now (stop() waits for it) and schedules the next ones. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const tick = () => {
      this.#timer = null;
      this.#running = maintainEventPartitions(this.#deps, this.#options)
        .then((result) => {
          if (result.created > 0 || result.dropped > 0) {
            this.#logger.info(result, "event partitions maintained");
          }
        })
        .catch((error: unknown) => this.#logger.warn({ err: error }, "event partition maintenance failed; retrying next hour"))
        .finally(() => {
          this.#running = null;
          if (this.#started) this.#timer = setTimeout(tick, this.#intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
