// setTimeout holds at most 2^31 − 1 ms (about 24.8 days) and fires at once past it. A maxDuration
// may be far longer (the SDK's timeout.None is 2^31 − 1 seconds), so long waits go in steps.
const maxTimerMs = 2_147_483_647;

/** Calls `fire` after `ms`, however long; returns a function that cancels it. */
export function setLongTimeout(fire: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout;
  const wait = (left: number) => {
    timer = setTimeout(() => (left > maxTimerMs ? wait(left - maxTimerMs) : fire()), Math.min(left, maxTimerMs));
  };
  wait(ms);
  return () => clearTimeout(timer);
}
