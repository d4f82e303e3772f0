// Wake-ups for long-polling workers: "environment E has new work". Notifications are coalesced (one
// NOTIFY per environment per flush, never one per row) and go through Postgres so that every server
// process hears them. They are only hints: dequeuers also poll, so a lost notification costs
// latency, never a run.
import type { Sql } from "../db/client.ts";
import { notifyEnvironments } from "../storage/notifications.ts";
import { KeyedWaiters } from "./keyed-waiters.ts";

const channel = "ratchet_queue";
/** Anything about an environment's runs changed: the dashboard's live views listen here. */
const changesChannel = "ratchet_changes";
/** Logs or spans were stored for runs of an environment: live trace views listen here. */
const eventsChannel = "ratchet_events";
/**
 * A run in hand was canceled or a lease was taken away: what a worker must hear before its next
 * heartbeat. A channel of its own so that waiting heartbeats sleep through every completion.
 */
const leasesChannel = "ratchet_leases";

type Listener = () => void;

export class QueueNotifier {
  readonly #sql: Sql;
  /** LISTEN's connection: the pool's own, or a direct one behind a transaction pooler. NOTIFY uses the pool. */
  readonly #listener: Sql;
  readonly #waiters = new KeyedWaiters();
  readonly #leaseWaiters = new KeyedWaiters();
  #pending = new Set<string>();
  #pendingChanges = new Set<string>();
  #pendingEvents = new Set<string>();
  #pendingLeases = new Set<string>();
  readonly #changeListeners = new Map<string, Set<Listener>>();
  readonly #eventListeners = new Map<string, Set<Listener>>();
  #flushScheduled = false;
  #eventsTimer: NodeJS.Timeout | null = null;
  #unlisten: (() => Promise<void>) | null = null;

  constructor(sql: Sql, listener: Sql = sql) {
    this.#sql = sql;
    this.#listener = listener;
  }

  #retry: NodeJS.Timeout | null = null;
  #stopped = false;

  /**
   * Opens the dedicated LISTEN connection (postgres.js re-establishes it if it drops). When the
   * database cannot be reached yet, it keeps trying in the background; polling covers the gap.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    try {
      const subscription = await this.#listener.listen(
        channel,
        (environmentId) => this.#wakeLocal(environmentId),
        () => this.#wakeAll(),
      );
      const changes = await this.#listener.listen(changesChannel, (environmentId) => this.#emitChange(environmentId));
      const events = await this.#listener.listen(eventsChannel, (environmentId) => this.#emit(this.#eventListeners, environmentId));
      const leases = await this.#listener.listen(leasesChannel, (environmentId) => this.#leaseWaiters.wake(environmentId));
      this.#unlisten = async () => {
        await subscription.unlisten();
        await changes.unlisten();
        await events.unlisten();
        await leases.unlisten();
      };
    } catch {
      if (this.#stopped) return;
      this.#retry = setTimeout(() => void this.start(), 2_000);
      this.#retry.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#eventsTimer) clearTimeout(this.#eventsTimer);
    this.#eventsTimer = null;
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
    this.#wakeAll();
  }

  /** Call after committing work for an environment: new runs, freed slots, resumed runs. */
  queueChanged(environmentId: string): void {
    this.#wakeLocal(environmentId);
    this.#pending.add(environmentId);
    this.runsChanged(environmentId);
  }

  /**
   * Call after committing a cancel request for running runs or taking leases away (expired, worker
   * lost, past the deadline): wakes the environment's long-polling heartbeats, and only those.
   */
  leasesChanged(environmentId: string): void {
    this.#leaseWaiters.wake(environmentId);
    this.#pendingLeases.add(environmentId);
    this.#scheduleFlush();
  }

  /** Call after runs of an environment changed in a way nobody needs to dequeue for (started, …). */
  runsChanged(environmentId: string): void {
    this.#emitChange(environmentId);
    this.#pendingChanges.add(environmentId);
    this.#scheduleFlush();
  }

  /**
   * Call after storing logs or spans of an environment's runs. A channel of its own, so that pages
   * showing runs (not their events) are not re-fetched whenever a task writes a log line.
   */
  eventsAdded(environmentId: string): void {
    this.#emit(this.#eventListeners, environmentId);
    this.#pendingEvents.add(environmentId);
    // Workers send logs in many small batches: other processes hear of them at most every 250 ms
    // (this one's own listeners were told at once).
    this.#eventsTimer ??= setTimeout(() => {
      this.#eventsTimer = null;
      this.#scheduleFlush();
    }, 250);
    this.#eventsTimer.unref();
  }

  /** Calls `listener` (coalesced by the caller) whenever runs of the environment change. */
  onChanges(environmentId: string, listener: Listener): () => void {
    return this.#subscribe(this.#changeListeners, environmentId, listener);
  }

  /** Calls `listener` (coalesced by the caller) whenever logs or spans of the environment's runs are stored. */
  onEvents(environmentId: string, listener: Listener): () => void {
    return this.#subscribe(this.#eventListeners, environmentId, listener);
  }

  #subscribe(registry: Map<string, Set<Listener>>, environmentId: string, listener: Listener): () => void {
    let listeners = registry.get(environmentId);
    if (!listeners) {
      listeners = new Set();
      registry.set(environmentId, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) registry.delete(environmentId);
    };
  }

  #emitChange(environmentId: string): void {
    this.#emit(this.#changeListeners, environmentId);
  }

  #emit(registry: Map<string, Set<Listener>>, environmentId: string): void {
    for (const listener of [...(registry.get(environmentId) ?? [])]) listener();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => void this.#flush());
  }

  /** How many requests are waiting on the environment (for metrics and tests). */
  waiting(environmentId: string): number {
    return this.#waiters.count(environmentId);
  }

  /** Resolves when the environment may have new work, or after `timeoutMs`. */
  async waitForWork(environmentId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.#waiters.wait(environmentId, timeoutMs, signal);
  }

  /** Resolves with true when leases of the environment may have changed (leasesChanged), with false after `timeoutMs`. */
  waitForLeaseChange(environmentId: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.#leaseWaiters.wait(environmentId, timeoutMs, signal);
  }

  /** How many heartbeats are waiting on the environment's leases (for tests). */
  heartbeatsWaiting(environmentId: string): number {
    return this.#leaseWaiters.count(environmentId);
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    const environments = [...this.#pending];
    const changed = [...this.#pendingChanges];
    const events = [...this.#pendingEvents];
    const leases = [...this.#pendingLeases];
    this.#pending = new Set();
    this.#pendingChanges = new Set();
    this.#pendingEvents = new Set();
    this.#pendingLeases = new Set();
    if (environments.length === 0 && changed.length === 0 && events.length === 0 && leases.length === 0) return;
    try {
      await notifyEnvironments(this.#sql, [
        { channel, environmentIds: environments },
        { channel: changesChannel, environmentIds: changed },
        { channel: eventsChannel, environmentIds: events },
        { channel: leasesChannel, environmentIds: leases },
      ]);
    } catch {
      // A hint only: pollers pick the work up.
    }
  }

  #wakeLocal(environmentId: string): void {
    this.#waiters.wake(environmentId);
  }

  #wakeAll(): void {
    this.#waiters.wakeAll();
    this.#leaseWaiters.wakeAll();
  }
}
