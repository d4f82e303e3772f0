// The benchmark's tasks: see bench/compare.ts.
import { task } from "ratchet/sdk";

export const noop = task({ id: "noop", queue: { concurrencyLimit: 1000 }, run: async () => {} });

/** Returns when its body started (ms since the epoch), for trigger → start latency. */
export const stamp = task({ id: "stamp", queue: { concurrencyLimit: 1000 }, run: async () => Date.now() });

/** Like stamp, for runs triggered at a steady rate or by a second environment; the payload carries the trigger time. */
export const paced = task({ id: "paced", queue: { concurrencyLimit: 1000 }, run: async () => Date.now() });

/** A no-op whose queue holds a seeded backlog (bench/scenarios/backlog.ts, fairness.ts). */
export const backlog = task({ id: "backlog", queue: { concurrencyLimit: 1000 }, run: async () => {} });

/** A no-op for the equal-demand fairness window (bench/scenarios/fairness.ts). */
export const fair = task({ id: "fair", queue: { concurrencyLimit: 1000 }, run: async () => {} });

/** Holds a slot for a moment, on a queue limited to 5 at once. */
export const limited = task({
  id: "limited",
  queue: { concurrencyLimit: 5 },
  run: async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
  },
});
