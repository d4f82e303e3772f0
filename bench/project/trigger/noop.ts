// The benchmark's tasks: see bench/compare.ts.
import { task } from "ratchet/sdk";

export const noop = task({ id: "noop", queue: { concurrencyLimit: 1000 }, run: async () => {} });

/** Returns when its body started (ms since the epoch), for trigger → start latency. */
export const stamp = task({ id: "stamp", queue: { concurrencyLimit: 1000 }, run: async () => Date.now() });

/** Holds a slot for a moment, on a queue limited to 5 at once. */
export const limited = task({
  id: "limited",
  queue: { concurrencyLimit: 5 },
  run: async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
  },
});
