// Hourly upkeep of what realtime keeps in Postgres: packets no run came to refer to (an upload whose
// trigger failed or never came) go a day after their upload, and change-feed entries go after the
// feed's retention (a subscriber with an older offset starts over), and stream chunks' day partitions
// are made ahead and dropped after their retention (stream-partitions.ts, one process at a time).
// Packets and streams of runs also go with their run (foreign keys). The deletes are idempotent, so
// every server process may run them.
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { packetsDeleteUnattached } from "../storage/packets.ts";
import { runChangesDeleteBefore } from "../storage/run-changes.ts";
import { feedRetentionMs } from "./realtime-feed.ts";
import { maintainStreamPartitions } from "./stream-partitions.ts";

export const unattachedPacketGraceMs = 86_400_000;

type Deps = { db: Db; clock: Clock };

export function deleteUnattachedPackets(deps: Deps): Promise<number> {
  return packetsDeleteUnattached(deps.db.sql, new Date(deps.clock.now().getTime() - unattachedPacketGraceMs));
}

export function deleteOldRunChanges(deps: Deps): Promise<number> {
  return runChangesDeleteBefore(deps.db.sql, new Date(deps.clock.now().getTime() - feedRetentionMs));
}

export class RealtimeMaintainer {
  #timer: NodeJS.Timeout | null = null;
  readonly #deps: Deps;
  readonly #logger: Logger;
  readonly #streamRetentionDays: number;

  constructor(deps: Deps, options: { streamRetentionDays: number }, logger: Logger) {
    this.#deps = deps;
    this.#streamRetentionDays = options.streamRetentionDays;
    this.#logger = logger;
  }

  start(): void {
    const partitions = () =>
      maintainStreamPartitions(this.#deps, this.#streamRetentionDays)
        .then((result) => {
          if (result.created > 0 || result.dropped > 0) this.#logger.info(result, "stream chunk partitions maintained");
        })
        .catch((error: unknown) => this.#logger.warn({ err: error }, "stream chunk partition upkeep failed; retrying next hour"));
    void partitions();
    this.#timer = setInterval(() => {
      void partitions();
      Promise.all([deleteUnattachedPackets(this.#deps), deleteOldRunChanges(this.#deps)])
        .then(([packets, changes]) => {
          if (packets > 0 || changes > 0) this.#logger.info({ packets, changes }, "realtime upkeep deleted old rows");
        })
        .catch((error: unknown) => this.#logger.warn({ err: error }, "realtime upkeep failed; retrying next hour"));
    }, 3_600_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
