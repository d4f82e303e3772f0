// Named queries for the per-account sign-in throttle (see dashboard/sign-in-lockout.ts, which decides).
import type { Sql, TransactionSql } from "../db/client.ts";

export interface SignInThrottleRow {
  failures: number;
  windowStartedAt: Date;
  lockouts: number;
  lockedUntil: Date | null;
  lastAttemptAt: Date;
}

/** The address's row, created when missing, locked until the transaction ends (replicas take turns). */
export async function signInThrottleLock(tx: TransactionSql, emailHash: Buffer, now: Date): Promise<SignInThrottleRow> {
  await tx`
    insert into ratchet.sign_in_throttle (email_hash, window_started_at, last_attempt_at) values (${emailHash}, ${now}, ${now})
    on conflict (email_hash) do nothing`;
  const [row] = await tx<SignInThrottleRow[]>`
    select failures, window_started_at as "windowStartedAt", lockouts, locked_until as "lockedUntil", last_attempt_at as "lastAttemptAt"
    from ratchet.sign_in_throttle where email_hash = ${emailHash} for update`;
  return row!;
}

export async function signInThrottleSave(tx: TransactionSql, emailHash: Buffer, row: SignInThrottleRow): Promise<void> {
  await tx`
    update ratchet.sign_in_throttle set failures = ${row.failures}, window_started_at = ${row.windowStartedAt}, lockouts = ${row.lockouts},
      locked_until = ${row.lockedUntil}, last_attempt_at = ${row.lastAttemptAt}
    where email_hash = ${emailHash}`;
}

/** A successful sign-in forgets the address's failures and lockouts. */
export async function signInThrottleClear(sql: Sql, emailHash: Buffer): Promise<void> {
  await sql`delete from ratchet.sign_in_throttle where email_hash = ${emailHash}`;
}

/** Forgets addresses with no attempt since `before` (their state would be reset anyway). */
export async function signInThrottlePrune(tx: TransactionSql, before: Date): Promise<void> {
  await tx`delete from ratchet.sign_in_throttle where last_attempt_at < ${before} and (locked_until is null or locked_until < ${before})`;
}
