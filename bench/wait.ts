// Waiting in benchmarks: sleeping, and polling a probe until its answer is good enough.
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Calls `probe` every `interval` ms until `done` accepts its value; throws after `timeoutMs`. */
export async function waitUntil<T>(label: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, interval = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${label}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(interval);
  }
}
