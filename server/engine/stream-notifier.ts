// Wake-ups for stream readers: "run R's stream K has new chunks". Like the queue notifier, a NOTIFY
// per stream per flush (coalesced), through Postgres so readers on every replica hear it; only a
// hint, readers also look again every second.
import type { Sql } from "../db/client.ts";
import { KeyedWaiters } from "./keyed-waiters.ts";

const channel = "ratchet_streams";

export class StreamNotifier {
  readonly #sql: Sql;
  /** LISTEN's connection: the pool's own, or a direct one behind a transaction pooler. NOTIFY uses the pool. */
  readonly #listener: Sql;
  readonly #waiters = new KeyedWaiters();
  #pending = new Set<string>();
  #scheduled = false;
  #unlisten: (() => Promise<void>) | null = null;
  #stopped = false;
  #retry: NodeJS.Timeout | null = null;

  constructor(sql: Sql, listener: Sql = sql) {
    this.#sql = sql;
    this.#listener = listener;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    try {
      const subscription = await this.#listener.listen(channel, (stream) => this.#wake(stream));
      if (this.#stopped) return void (await subscription.unlisten().catch(() => {}));
      this.#unlisten = () => subscription.unlisten();
    } catch {
      // Readers poll meanwhile; the LISTEN is tried again.
      if (this.#stopped) return;
      this.#retry = setTimeout(() => void this.start(), 2_000);
      this.#retry.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
  }

  /** Call after storing chunks of a stream. */
  chunksAdded(runId: string, key: string): void {
    const stream = `${runId}:${key}`;
    this.#wake(stream);
    this.#pending.add(stream);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const streams = [...this.#pending];
      this.#pending = new Set();
      this.#sql`select pg_notify(${channel}, s) from unnest(${streams}::text[]) as s`.catch(() => {});
    });
  }

  /** Resolves on new chunks of the stream, after `ms`, or when `signal` aborts. */
  async wait(runId: string, key: string, ms: number, signal: AbortSignal): Promise<void> {
    await this.#waiters.wait(`${runId}:${key}`, ms, signal);
  }

  #wake(stream: string): void {
    this.#waiters.wake(stream);
  }
}
