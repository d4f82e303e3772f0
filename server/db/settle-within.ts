// Starting a LISTEN must not hold up a server's start: with Postgres down, postgres.js retries the
// listener's connection with a growing delay, and a server that waits for it never answers /readyz
// (which is how an operator learns the database is down). What did not settle in time goes on in
// the background.

/** How long a server's start waits for each of its LISTENs. */
export const listenStartWaitMs = 2_000;

/** Resolves when `work` settles or after `ms`, whichever is first; never rejects. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  try {
    await Promise.race([work.then(() => undefined, () => undefined), elapsed]);
  } finally {
    clearTimeout(timer);
  }
}
