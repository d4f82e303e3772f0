// Packets no run came to refer to (an upload whose trigger failed or never came) are deleted a day
// after their upload; packets of runs go with their run (a foreign key). Runs hourly; the delete is
// idempotent, so every server process may run it.
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { packetsDeleteUnattached } from "../storage/packets.ts";

export const unattachedPacketGraceMs = 86_400_000;

export function deleteUnattachedPackets(deps: { db: Db; clock: Clock }): Promise<number> {
  return packetsDeleteUnattached(deps.db.sql, new Date(deps.clock.now().getTime() - unattachedPacketGraceMs));
}

export class PacketMaintainer {
  #timer: NodeJS.Timeout | null = null;
  readonly #deps: { db: Db; clock: Clock };
  readonly #logger: Logger;

  constructor(deps: { db: Db; clock: Clock }, logger: Logger) {
    this.#deps = deps;
    this.#logger = logger;
  }

  start(): void {
    this.#timer = setInterval(() => {
      deleteUnattachedPackets(this.#deps)
        .then((deleted) => deleted > 0 && this.#logger.info({ deleted }, "unattached packets deleted"))
        .catch((error: unknown) => this.#logger.warn({ err: error }, "deleting unattached packets failed; retrying next hour"));
    }, 3_600_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
