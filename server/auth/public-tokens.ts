// Public access tokens: HS256 JWTs as Trigger.dev issues them (issuer https://id.trigger.dev,
// audience https://api.trigger.dev, `sub` the environment, `pub: true`, `scopes`), for browsers
// and other clients that must not hold a secret key. Two kinds verify:
// - minted by the server (x-trigger-jwt on triggers, POST /api/v1/auth/public-tokens), signed with
//   the environment's server-side signing secret;
// - signed by the SDK with a secret key (auth.createPublicToken), verified with the sealed copy of
//   that key the server kept when the key asked for claims (sql/0015_realtime.sql).
// Expiry is enforced against the server's clock. See docs/realtime.md.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { SignJWT, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import type { Sql } from "../db/client.ts";
import { existingSigningSecret, signingSecret } from "../engine/signing.ts";
import { ApiError } from "../errors.ts";
import { publicTokensSpend, signingCopiesOfActiveKeys, signingCopiesPut } from "../storage/public-tokens.ts";

export const jwtIssuer = "https://id.trigger.dev";
export const jwtAudience = "https://api.trigger.dev";

export interface PublicToken {
  environmentId: string;
  scopes: string[];
  oneTimeUse: boolean;
  expiresAt: Date;
  token: string;
}

/** A JWT by shape (three base64url parts): secret keys never look like this. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

function sealingKey(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "ratchet api key signing copy", 32));
}

function seal(secret: Buffer, plaintext: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(secret), iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

function unseal(secret: Buffer, sealed: Buffer): string | null {
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(secret), sealed.subarray(0, 12));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}

/** The claims the SDK signs with its secret key; remembers (sealed) that key for verification. */
export async function claimsForKey(sql: Sql, environmentId: string, apiKeyId: string, secretKey: string): Promise<Record<string, unknown>> {
  await signingCopiesPut(sql, apiKeyId, environmentId, seal(await signingSecret(sql, environmentId), secretKey));
  return { sub: environmentId, pub: true };
}

const durationPattern = /^\d+\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|week|weeks|y|yr|yrs|year|years)$/i;

export type Expiration = string | number | undefined;

/** Checks a requested expiry ("15m", "1h" or Unix seconds) before signing with it. */
export function validExpiration(value: Expiration, field: string): Expiration {
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return Math.floor(value);
  if (typeof value === "string" && durationPattern.test(value.trim())) return value.trim();
  throw new ApiError("VALIDATION_FAILED", `${field}: must be a duration like "15m" or a time in Unix seconds`);
}

export async function mintPublicToken(
  sql: Sql,
  environmentId: string,
  claims: { scopes: string[]; oneTimeUse?: boolean; realtime?: unknown },
  expirationTime: Expiration,
  now: Date,
): Promise<string> {
  const secret = await signingSecret(sql, environmentId);
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const expiresAt = typeof expirationTime === "number" ? expirationTime : nowSeconds + (expirationTime ? relativeSeconds(expirationTime) : 900);
  // Times are the server's clock's, not jose's (which reads the system clock for relative times).
  const jwt = new SignJWT({ pub: true, scopes: claims.scopes, ...(claims.oneTimeUse ? { otu: true } : {}), ...(claims.realtime ? { realtime: claims.realtime } : {}) })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(environmentId)
    .setIssuer(jwtIssuer)
    .setAudience(jwtAudience)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(expiresAt);
  return jwt.sign(secret);
}

/** Seconds in a duration validExpiration accepted ("15m", "2 hours"). */
function relativeSeconds(duration: string): number {
  const match = /^(\d+)\s*([a-z]+)$/i.exec(duration.trim())!;
  const unit = match[2]!.toLowerCase()[0] as "s" | "m" | "h" | "d" | "w" | "y";
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_557_600 }[unit];
}

const unauthorized = (message: string) => new ApiError("UNAUTHORIZED", message);

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Verifies signature, issuer, audience and expiry; throws 401 otherwise. */
export async function verifyPublicToken(sql: Sql, token: string, now: Date): Promise<PublicToken> {
  let subject: unknown;
  try {
    if (decodeProtectedHeader(token).alg !== "HS256") throw unauthorized("Public access tokens are signed with HS256");
    subject = decodeJwt(token).sub;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw unauthorized("The public access token is malformed");
  }
  if (typeof subject !== "string" || !uuidPattern.test(subject)) throw unauthorized("The public access token names no environment");
  const environmentId = subject;
  const serverSecret = await existingSigningSecret(sql, environmentId);
  if (!serverSecret) throw unauthorized("The public access token names no environment");
  const keys: Uint8Array[] = [serverSecret];
  for (const sealed of await signingCopiesOfActiveKeys(sql, environmentId)) {
    const key = unseal(serverSecret, sealed);
    if (key !== null) keys.push(new TextEncoder().encode(key));
  }
  let lastError: unknown;
  for (const key of keys) {
    try {
      const { payload } = await jwtVerify(token, key, { issuer: jwtIssuer, audience: jwtAudience, algorithms: ["HS256"], currentDate: now, requiredClaims: ["exp"] });
      if (payload.pub !== true) throw unauthorized("Not a public access token");
      const scopes = Array.isArray(payload.scopes) ? payload.scopes.filter((scope): scope is string => typeof scope === "string") : [];
      return { environmentId, scopes, oneTimeUse: payload.otu === true, expiresAt: new Date(payload.exp! * 1000), token };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      lastError = error;
    }
  }
  const code = (lastError as { code?: string })?.code;
  throw unauthorized(code === "ERR_JWT_EXPIRED" ? "The public access token has expired" : "The public access token is invalid");
}

export function publicTokenHash(token: PublicToken): Buffer {
  return createHash("sha256").update(token.token).digest();
}

/** Spends a one-time-use token; throws 401 when it was used before. */
export async function spendIfOneTime(sql: Sql, token: PublicToken, now: Date): Promise<void> {
  if (!token.oneTimeUse) return;
  const hash = publicTokenHash(token);
  if (!(await publicTokensSpend(sql, hash, token.expiresAt, now))) throw unauthorized("This one-time public access token was used already");
}

/** Whether the token's scopes allow `action` on a resource of `type` with any of `ids`. */
export function scopeAllows(scopes: string[], action: "read" | "trigger" | "batchTrigger" | "write", type: string, ids: string[]): boolean {
  return scopes.some((scope) => {
    if (scope === "admin" || scope === `${action}:all`) return true;
    if (scope === `${action}:${type}`) return true;
    const prefix = `${action}:${type}:`;
    return scope.startsWith(prefix) && ids.includes(scope.slice(prefix.length));
  });
}

export interface ReadableRun {
  publicId: string;
  taskIdentifier: string;
  tags: string[];
  batchPublicId: string | null;
}

/** A run is readable by a token scoped to it, its task, one of its tags or its batch. */
export function tokenReadsRun(scopes: string[], run: ReadableRun): boolean {
  return (
    scopeAllows(scopes, "read", "runs", [run.publicId]) ||
    scopeAllows(scopes, "read", "tasks", [run.taskIdentifier]) ||
    (run.tags.length > 0 && scopeAllows(scopes, "read", "tags", run.tags)) ||
    (run.batchPublicId !== null && scopeAllows(scopes, "read", "batch", [run.batchPublicId]))
  );
}
