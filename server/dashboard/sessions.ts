// Dashboard sign-in: sessions in HttpOnly SameSite cookies (only a hash is stored), and the one-time
// link that creates the first admin.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/client.ts";
import { setupTokensInsert, usersCount } from "../storage/users.ts";

export const sessionCookie = "ratchet_session";
export const sessionLifetimeMs = 14 * 86_400_000;

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** A setup link when nobody can sign in yet (valid 24 h), or null. */
export async function firstSetupLink(db: Db, publicUrl: string, now: Date): Promise<string | null> {
  if ((await usersCount(db.sql)) > 0) return null;
  const token = newSecret();
  await setupTokensInsert(db.sql, hashSecret(token), new Date(now.getTime() + 86_400_000), now);
  return `${publicUrl}/setup?token=${token}`;
}
