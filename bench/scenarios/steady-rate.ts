// Trigger → start latency under a steady arrival rate: runs are enqueued one by one on a fixed
// schedule (open loop: the next one goes out on time whether or not the previous call has returned),
// each carrying the moment it was sent; the task's body notes when it started.
import { sleep } from "../wait.ts";

export interface PacedTarget {
  /** Enqueues one run whose payload is `{ t }`, `t` being when it was sent (ms since the epoch). */
  enqueuePaced(t: number): Promise<void>;
  /** Waits until `count` paced runs have started; returns when each was sent and when it started. */
  pacedStarts(count: number): Promise<PacedStart[]>;
}

/** Milliseconds since the epoch, on this machine's clock (every process involved runs here). */
export interface PacedStart {
  sent: number;
  started: number;
}

export interface SteadyRateResult {
  latencies: number[];
  /** The arrival rate achieved: runs over the span from the first send to the last. */
  sentPerSecond: number;
  /** Runs that started per second, from the first send to the last start. */
  startedPerSecond: number;
}

/** Sends `ratePerSecond × durationMs` runs evenly over `durationMs`, then waits for all to start.
 * `earlier` paced runs of a previous call on the same target are counted and left out. */
export async function steadyRate(target: PacedTarget, ratePerSecond: number, durationMs: number, earlier = 0): Promise<SteadyRateResult> {
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  const interval = 1000 / ratePerSecond;
  const calls: Promise<void>[] = [];
  const firstSent = Date.now();
  const start = performance.now();
  let lastSent = firstSent;
  while (calls.length < total) {
    // Timers are coarser than 2 ms: every tick sends whatever the schedule says is due by now.
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    while (calls.length < due) {
      lastSent = Date.now();
      calls.push(target.enqueuePaced(lastSent));
    }
    await sleep(1);
  }
  await Promise.all(calls);
  const starts = (await target.pacedStarts(earlier + total)).filter((run) => run.sent >= firstSent);
  const lastStart = Math.max(...starts.map((run) => run.started));
  return {
    latencies: starts.map((run) => run.started - run.sent),
    sentPerSecond: total / Math.max(0.001, (lastSent - firstSent) / 1000),
    startedPerSecond: total / Math.max(0.001, (lastStart - firstSent) / 1000),
  };
}
