// Signatures with an environment's server-side secret: presigned packet URLs here, public access
// tokens in public-tokens.ts. The secret never leaves the server and never changes, so it is cached.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Sql } from "../db/client.ts";
import { environmentSigningSecret, environmentSigningSecretIfAny } from "../storage/environment-secrets.ts";

const cache = new Map<string, Promise<Buffer>>();

export function signingSecret(sql: Sql, environmentId: string): Promise<Buffer> {
  let secret = cache.get(environmentId);
  if (!secret) {
    secret = environmentSigningSecret(sql, environmentId);
    cache.set(environmentId, secret);
    secret.catch(() => cache.delete(environmentId));
  }
  return secret;
}

/** For verifying: null when the environment never had a secret, so nothing of it can be valid. */
export async function existingSigningSecret(sql: Sql, environmentId: string): Promise<Buffer | null> {
  const cached = cache.get(environmentId);
  if (cached) return cached;
  const secret = await environmentSigningSecretIfAny(sql, environmentId);
  if (secret) cache.set(environmentId, Promise.resolve(secret));
  return secret;
}

/** How long a presigned packet URL stays valid. */
export const presignedUrlSeconds = 3600;

function packetSignature(secret: Buffer, method: "GET" | "PUT", environmentId: string, path: string, expires: number): Buffer {
  return createHmac("sha256", secret).update(`packet\n${method}\n${environmentId}\n${path}\n${expires}`).digest();
}

/** The path and query of a presigned packet URL (the caller puts the origin in front). */
export async function presignPacket(sql: Sql, method: "GET" | "PUT", environmentId: string, path: string, now: Date): Promise<string> {
  const expires = Math.floor(now.getTime() / 1000) + presignedUrlSeconds;
  const signature = packetSignature(await signingSecret(sql, environmentId), method, environmentId, path, expires).toString("base64url");
  const encodedPath = path.split("/").map(encodeURIComponent).join("/");
  return `/packets/${environmentId}/${encodedPath}?expires=${expires}&signature=${signature}`;
}

export async function packetSignatureValid(
  sql: Sql,
  method: "GET" | "PUT",
  environmentId: string,
  path: string,
  expires: number,
  signature: string,
  now: Date,
): Promise<boolean> {
  if (expires * 1000 < now.getTime()) return false;
  const secret = await existingSigningSecret(sql, environmentId);
  if (!secret) return false;
  const expected = packetSignature(secret, method, environmentId, path, expires);
  const given = Buffer.from(signature, "base64url");
  return given.length === expected.length && timingSafeEqual(given, expected);
}
