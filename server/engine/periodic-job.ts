// A background pass repeated on a timer, the shape shared by the server's housekeeping (event
// partitions, run retention, checkpoint orphans): one pass at start, the next `intervalMs` after the
// last one ended (never two at once in a process), a failure logged and retried at the next tick,
// and stop() waiting for the pass in flight. Replicas take turns inside the pass (advisory locks or
// SKIP LOCKED), not here.
import type { Logger } from "pino";

/** One pass; `again: true` asks for the next pass at once (the pass stopped at its bound). */
export type PeriodicPass = () => Promise<{ again?: boolean } | void>;

export class PeriodicJob {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #started = false;
  readonly #pass: PeriodicPass;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #failure: string;

  /** `failure` is the log message of a failed pass, e.g. "run retention pass failed; retrying". */
  constructor(pass: PeriodicPass, options: { intervalMs: number; logger: Logger; failure: string }) {
    this.#pass = pass;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
    this.#failure = options.failure;
  }

  /** Starts a pass now (stop() waits for it) and schedules the next ones. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const tick = () => {
      this.#timer = null;
      let again = false;
      this.#running = this.#pass()
        .then((result) => {
          again = result?.again === true;
        })
        .catch((error: unknown) => this.#logger.warn({ err: error }, this.#failure))
        .finally(() => {
          this.#running = null;
          if (this.#started) this.#timer = setTimeout(tick, again ? 0 : this.#intervalMs);
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
