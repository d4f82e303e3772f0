// SIGINT and SIGTERM as "stop gracefully, then stop now". A terminal's Ctrl-C reaches every process
// of the foreground group, so a launcher that also forwards it delivers the same Ctrl-C twice: a
// repeat within 100 ms counts as that one signal, and only a later one means "stop now".

export const sameSignalWithinMs = 100;

/** Calls `onStop(1, signal)` for the first stop signal and `onStop(n, signal)` for each later one. */
export function onStopSignals(onStop: (count: number, signal: NodeJS.Signals) => void, now: () => number = () => performance.now()): () => void {
  let count = 0;
  let last = -Infinity;
  const handle = (signal: NodeJS.Signals) => {
    const at = now();
    const repeat = at - last < sameSignalWithinMs;
    last = at;
    if (repeat) return;
    count += 1;
    onStop(count, signal);
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
  return () => {
    process.off("SIGINT", handle);
    process.off("SIGTERM", handle);
  };
}
