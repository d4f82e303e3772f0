// Resolves `Authorization: Bearer <secret key>` to the environment every API route acts in.
import type { FastifyRequest } from "fastify";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import type { ApiKeyCache } from "./api-key-cache.ts";
import { ApiError } from "../errors.ts";
import { apiKeysFindActiveByHash, apiKeysStillActive, apiKeysTouch, type AuthenticatedEnvironment } from "../storage/api-keys.ts";
import { environmentsFindForToken } from "../storage/public-tokens.ts";
import { looksLikeJwt, verifyPublicToken, type PublicToken } from "./public-tokens.ts";
import { hashesEqual, hashSecretKey, looksLikeSecretKey } from "./secret-keys.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Set on every route behind the API key check. */
    environment: AuthenticatedEnvironment;
    /** Set when the request came with a public access token instead of a secret key. */
    publicToken?: PublicToken;
  }
  interface FastifyContextConfig {
    /** The route also takes public access tokens (it checks their scopes itself). */
    publicAccess?: boolean;
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== "string") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * A preHandler hook that rejects the request with 401 unless it carries an active secret key. With a
 * cache (server/auth/api-key-cache.ts), a key seen recently is not looked up again.
 */
export function requireSecretKey(db: Db, clock: Clock, cache?: ApiKeyCache) {
  return async function checkSecretKey(request: FastifyRequest): Promise<void> {
    const token = bearerToken(request);
    if (token === null) throw new ApiError("UNAUTHORIZED");
    if (looksLikeJwt(token)) {
      await acceptPublicToken(db, clock, request, token);
      return;
    }
    if (!looksLikeSecretKey(token)) throw new ApiError("UNAUTHORIZED", "Invalid API key");
    const hash = hashSecretKey(token);
    const hashHex = hash.toString("hex");
    let environment = cache?.get(hashHex);
    if (!environment) {
      const generation = cache?.generation ?? 0;
      const found = await apiKeysFindActiveByHash(db.sql, hash);
      if (!found || !hashesEqual(found.keyHash, hash)) {
        throw new ApiError("UNAUTHORIZED", "Invalid API key");
      }
      cache?.set(hashHex, found, generation);
      environment = found;
    }
    request.environment = environment;
    const now = clock.now();
    if (environment.lastUsedAt === null || now.getTime() - environment.lastUsedAt.getTime() > 60_000) {
      // Noted on the cached answer too, so a busy key still records its use about once a minute.
      environment.lastUsedAt = now;
      apiKeysTouch(db.sql, environment.apiKeyId, now).catch((error: unknown) =>
        request.log.warn({ err: error }, "could not record API key use"),
      );
    }
  };
}

/** A public access token, on the routes that take one: the environment it was issued for. */
export async function acceptPublicToken(db: Db, clock: Clock, request: FastifyRequest, token: string): Promise<void> {
  if (request.routeOptions.config.publicAccess !== true) {
    throw new ApiError("UNAUTHORIZED", "This route takes a secret key, not a public access token");
  }
  const publicToken = await verifyPublicToken(db.sql, token, clock.now());
  const environment = await environmentsFindForToken(db.sql, publicToken.environmentId);
  if (!environment) throw new ApiError("UNAUTHORIZED", "The public access token's environment no longer exists");
  request.environment = { ...environment, apiKeyId: "", keyHash: Buffer.alloc(0), lastUsedAt: null };
  request.publicToken = publicToken;
}

/**
 * For requests that wait (long polls): throws 401 once the request's key has been revoked (or no
 * longer belongs to its environment) since the request was authenticated, so that a waiting request
 * hands out no work to a key that lost its rights meanwhile.
 */
export function keyStillValid(db: Db, environment: AuthenticatedEnvironment, cache?: ApiKeyCache): () => Promise<void> {
  return async () => {
    // A fresh cached answer means no revocation has been heard of since: no lookup needed.
    if (cache?.holds(environment.apiKeyId, environment.environmentId)) return;
    if (!(await apiKeysStillActive(db.sql, environment.apiKeyId, environment.environmentId))) {
      throw new ApiError("UNAUTHORIZED", "The API key was revoked while this request waited");
    }
  };
}
