// Resolves `Authorization: Bearer <personal access token>` to the dashboard user the management
// routes act as (what `ratchet login`, `whoami` and `keys` call).
import type { FastifyRequest } from "fastify";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import { accessTokensFindActiveByHash, accessTokensTouch, type AccessTokenUser } from "../storage/access-tokens.ts";
import { hashAccessToken, looksLikeAccessToken } from "./access-tokens.ts";
import { bearerToken } from "./authenticate.ts";
import { hashesEqual } from "./secret-keys.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Set on every route behind the access token check. */
    accessUser: AccessTokenUser;
  }
}

const message = "Missing or invalid personal access token: send `Authorization: Bearer tr_pat_…` (create one on the dashboard's Access tokens page)";

export function requireAccessToken(db: Db, clock: Clock) {
  return async function checkAccessToken(request: FastifyRequest): Promise<void> {
    const token = bearerToken(request);
    if (token === null || !looksLikeAccessToken(token)) throw new ApiError("UNAUTHORIZED", message);
    const hash = hashAccessToken(token);
    const user = await accessTokensFindActiveByHash(db.sql, hash);
    if (!user || !hashesEqual(user.tokenHash, hash)) throw new ApiError("UNAUTHORIZED", message);
    request.accessUser = user;
    const now = clock.now();
    if (user.lastUsedAt === null || now.getTime() - user.lastUsedAt.getTime() > 60_000) {
      accessTokensTouch(db.sql, user.tokenId, now).catch((error: unknown) => request.log.warn({ err: error }, "could not record access token use"));
    }
  };
}
