// Per-account back-off for password sign-in, on top of the per-address rate limit: after a few
// failed attempts for one email address the address is locked for a while, longer at each lockout.
// The state is in Postgres, so it holds across server replicas; time comes from the injected clock.
//
// An attempt counts as failed from the moment it begins and is forgiven only when it succeeds, so
// parallel guesses cannot slip past the limit while their passwords are being checked.
import { createHash } from "node:crypto";
import type { Db } from "../db/client.ts";
import { signInThrottleClear, signInThrottleLock, signInThrottlePrune, signInThrottleSave, type SignInThrottleRow } from "../storage/sign-in-throttle.ts";

export const signInLockout = {
  /** Failed attempts within `windowMs` that lock the address. */
  attempts: 5,
  windowMs: 15 * 60_000,
  /** The first lockout; each further one lasts twice as long as the one before, up to `maxLockMs`. */
  firstLockMs: 60_000,
  maxLockMs: 60 * 60_000,
  /** A day without attempts forgets past lockouts. */
  forgetAfterMs: 24 * 60 * 60_000,
} as const;

export function emailHash(email: string): Buffer {
  return createHash("sha256").update(email.toLowerCase(), "utf8").digest();
}

function lockMs(lockouts: number): number {
  return Math.min(signInLockout.firstLockMs * 2 ** Math.min(lockouts, 30), signInLockout.maxLockMs);
}

/** The state after an attempt begins at `now`, or the time until which the address stays locked. */
export function beginAttempt(row: SignInThrottleRow, now: Date): { refusedUntil: Date } | { row: SignInThrottleRow } {
  if (row.lockedUntil !== null && row.lockedUntil > now) return { refusedUntil: row.lockedUntil };
  const forgotten = now.getTime() - row.lastAttemptAt.getTime() >= signInLockout.forgetAfterMs;
  const lockouts = forgotten ? 0 : row.lockouts;
  const windowOver = forgotten || now.getTime() - row.windowStartedAt.getTime() >= signInLockout.windowMs;
  const failures = (windowOver ? 0 : row.failures) + 1;
  const windowStartedAt = windowOver ? now : row.windowStartedAt;
  if (failures >= signInLockout.attempts) {
    // This attempt is still checked (it may be right); the ones after it wait out the lock.
    return { row: { failures: 0, windowStartedAt: now, lockouts: lockouts + 1, lockedUntil: new Date(now.getTime() + lockMs(lockouts)), lastAttemptAt: now } };
  }
  return { row: { failures, windowStartedAt, lockouts, lockedUntil: null, lastAttemptAt: now } };
}

/**
 * Reserves a sign-in attempt for the address: `allowed: false` while it is locked. Any address is
 * throttled the same, whether an account has it or not.
 */
export async function reserveSignInAttempt(db: Db, email: string, now: Date): Promise<{ allowed: true } | { allowed: false; retryAt: Date }> {
  const hash = emailHash(email);
  return db.sql.begin(async (tx) => {
    const decision = beginAttempt(await signInThrottleLock(tx, hash, now), now);
    if ("refusedUntil" in decision) return { allowed: false, retryAt: decision.refusedUntil };
    await signInThrottleSave(tx, hash, decision.row);
    await signInThrottlePrune(tx, new Date(now.getTime() - signInLockout.forgetAfterMs));
    return { allowed: true };
  });
}

export async function signInSucceeded(db: Db, email: string): Promise<void> {
  await signInThrottleClear(db.sql, emailHash(email));
}

/** "2 minutes", "45 seconds": how long until `retryAt`, rounded up. */
export function waitText(retryAt: Date, now: Date): string {
  const seconds = Math.max(1, Math.ceil((retryAt.getTime() - now.getTime()) / 1000));
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}
