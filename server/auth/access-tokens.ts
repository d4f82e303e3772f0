// Personal access tokens: tr_pat_ followed by 40 random letters and digits (about 238 bits), made
// for a dashboard user (on the dashboard's "Access tokens" page or by `ratchet admin create-token`).
// The CLI sends one as `Authorization: Bearer …` to the management routes.
import type { Sql } from "../db/client.ts";
import { randomAlphanumeric, randomString } from "../ids.ts";
import { accessTokensInsert } from "../storage/access-tokens.ts";
import { hashSecretKey } from "./secret-keys.ts";

const accessTokenPattern = /^tr_pat_[A-Za-z0-9]{40}$/;

export function looksLikeAccessToken(value: string): boolean {
  return accessTokenPattern.test(value);
}

export const hashAccessToken = hashSecretKey;

export interface IssuedAccessToken {
  token: string;
  publicId: string;
}

/** Creates a token for a user: the one place its plaintext exists, long enough to show it once. */
export async function issueAccessToken(sql: Sql, options: { userId: string; name: string }): Promise<IssuedAccessToken> {
  const token = `tr_pat_${randomAlphanumeric(40)}`;
  const publicId = `pat_${randomString(16, "abcdefghijklmnopqrstuvwxyz0123456789")}`;
  await accessTokensInsert(sql, { publicId, userId: options.userId, tokenHash: hashAccessToken(token), tokenHint: `${token.slice(0, 11)}…`, name: options.name.slice(0, 200) });
  return { token, publicId };
}
