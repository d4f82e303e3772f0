// Promises waiting on a key ("environment E may have work", "stream R:K has chunks"), each settled
// by a wake of its key, its timeout or its abort signal, whichever comes first. The queue and the
// stream notifiers both hold one; an empty key's set is removed so idle keys cost nothing.
export class KeyedWaiters {
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Resolves when `key` is woken (with true), after `timeoutMs` or when `signal` aborts (false). */
  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(key);
      if (!waiters) {
        waiters = new Set();
        this.#waiters.set(key, waiters);
      }
      const settle = (woken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", notWoken);
        waiters.delete(done);
        if (waiters.size === 0) this.#waiters.delete(key);
        resolve(woken);
      };
      const done = () => settle(true);
      const notWoken = () => settle(false);
      const timer = setTimeout(notWoken, timeoutMs);
      signal?.addEventListener("abort", notWoken, { once: true });
      waiters.add(done);
    });
  }

  /** Settles every waiter of `key`. */
  wake(key: string): void {
    for (const done of [...(this.#waiters.get(key) ?? [])]) done();
  }

  /** Settles every waiter of every key. */
  wakeAll(): void {
    for (const waiters of [...this.#waiters.values()]) for (const done of [...waiters]) done();
  }

  /** How many wait on `key`. */
  count(key: string): number {
    return this.#waiters.get(key)?.size ?? 0;
  }
}
