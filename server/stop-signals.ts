// SIGINT and SIGTERM as "stop gracefully, then stop now". A terminal's Ctrl-C reaches every process
// of the foreground group: both the launcher in bin/ (which runs the CLI in a Node 24 child when the
// system Node is older) and this process. The launcher forwards what it receives as SIGUSR2
// (RATCHET_FORWARDED_SIGNAL), so one Ctrl-C arrives here once directly and once forwarded: the
// number of stop requests is the larger of the two counts, never their sum, whatever the timing.
// Without a launcher, a repeat within 100 ms still counts as the same signal.

export const sameSignalWithinMs = 100;

const forwardedSignal = process.env.RATCHET_FORWARDED_SIGNAL === "SIGUSR2" ? "SIGUSR2" : null;
// Read once: processes this one starts are not behind the launcher.
delete process.env.RATCHET_FORWARDED_SIGNAL;

/** Calls `onStop(1, signal)` for the first stop request and `onStop(n, signal)` for each later one. */
export function onStopSignals(onStop: (count: number, signal: NodeJS.Signals) => void, now: () => number = () => performance.now()): () => void {
  let direct = 0;
  let forwarded = 0;
  let stops = 0;
  let last = -Infinity;
  const report = (signal: NodeJS.Signals) => {
    while (stops < Math.max(direct, forwarded)) {
      stops += 1;
      onStop(stops, signal);
    }
  };
  const onDirect = (signal: NodeJS.Signals) => {
    const at = now();
    const repeat = at - last < sameSignalWithinMs;
    last = at;
    if (repeat) return;
    direct += 1;
    report(signal);
  };
  const onForwarded = () => {
    forwarded += 1;
    report("SIGINT");
  };
  process.on("SIGINT", onDirect);
  process.on("SIGTERM", onDirect);
  if (forwardedSignal) process.on(forwardedSignal, onForwarded);
  return () => {
    process.off("SIGINT", onDirect);
    process.off("SIGTERM", onDirect);
    if (forwardedSignal) process.off(forwardedSignal, onForwarded);
  };
}
