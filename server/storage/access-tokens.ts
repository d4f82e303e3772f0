// Named queries for personal access tokens. Tokens are looked up by their hash; the plaintext never
// reaches the database.
import type { Sql } from "../db/client.ts";

export interface AccessTokenListRow {
  publicId: string;
  tokenHint: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** The user a request acts as once its token is accepted. */
export interface AccessTokenUser {
  tokenId: string;
  tokenHash: Buffer;
  lastUsedAt: Date | null;
  userId: string;
  email: string;
  name: string;
}

export async function accessTokensInsert(
  sql: Sql,
  token: { publicId: string; userId: string; tokenHash: Buffer; tokenHint: string; name: string },
): Promise<void> {
  await sql`
    insert into ratchet.personal_access_tokens (public_id, user_id, token_hash, token_hint, name)
    values (${token.publicId}, ${token.userId}, ${token.tokenHash}, ${token.tokenHint}, ${token.name})`;
}

/** The user behind an active (not revoked) token, found by the token's hash. */
export async function accessTokensFindActiveByHash(sql: Sql, tokenHash: Buffer): Promise<AccessTokenUser | null> {
  const [row] = await sql<AccessTokenUser[]>`
    select t.id as "tokenId", t.token_hash as "tokenHash", t.last_used_at as "lastUsedAt",
      u.id as "userId", u.email, u.name
    from ratchet.personal_access_tokens t
    join ratchet.users u on u.id = t.user_id
    where t.token_hash = ${tokenHash} and t.revoked_at is null`;
  return row ?? null;
}

/** Records use at most once a minute per token. */
export async function accessTokensTouch(sql: Sql, tokenId: string, now: Date): Promise<void> {
  await sql`
    update ratchet.personal_access_tokens set last_used_at = ${now}
    where id = ${tokenId} and (last_used_at is null or last_used_at < ${now}::timestamptz - interval '1 minute')`;
}

export async function accessTokensList(sql: Sql, userId: string): Promise<AccessTokenListRow[]> {
  return sql<AccessTokenListRow[]>`
    select public_id as "publicId", token_hint as "tokenHint", name, created_at as "createdAt",
      last_used_at as "lastUsedAt", revoked_at as "revokedAt"
    from ratchet.personal_access_tokens
    where user_id = ${userId}
    order by created_at, public_id`;
}

/** Revokes one of the user's own tokens. Returns false when none of theirs matched. */
export async function accessTokensRevoke(sql: Sql, userId: string, publicId: string, now: Date): Promise<boolean> {
  const rows = await sql`
    update ratchet.personal_access_tokens set revoked_at = ${now}
    where user_id = ${userId} and public_id = ${publicId} and revoked_at is null returning id`;
  return rows.length > 0;
}
