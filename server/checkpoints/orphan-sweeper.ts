// Collects checkpoint large objects no row references (a runner that died while streaming one in
// leaves nothing behind: its transaction rolls back; this catches objects left by hand or by older
// code). Every server runs it; the advisory lock in checkpointsSweepOrphans lets one replica sweep
// at a time and the others skip that pass.
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { checkpointsSweepOrphans } from "../storage/checkpoints.ts";

const sweepIntervalMs = 10 * 60_000;

export class CheckpointOrphanSweeper {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #started = false;
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #intervalMs: number;

  constructor(db: Db, logger: Logger, intervalMs = sweepIntervalMs) {
    this.#db = db;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const tick = () => {
      this.#timer = null;
      this.#running = checkpointsSweepOrphans(this.#db.sql)
        .then((unlinked) => {
          if (unlinked) this.#logger.info({ unlinked }, "orphaned checkpoint large objects unlinked");
        })
        .catch((error: unknown) => this.#logger.warn({ err: error }, "checkpoint orphan sweep failed; retrying"))
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
