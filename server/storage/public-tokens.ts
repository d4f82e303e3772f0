// Named queries behind public access tokens (sql/0015_realtime.sql).
import type { Sql } from "../db/client.ts";
import type { AuthenticatedEnvironment } from "./api-keys.ts";

export async function signingCopiesPut(sql: Sql, apiKeyId: string, environmentId: string, sealed: Buffer): Promise<void> {
  await sql`
    insert into ratchet.api_key_signing_copies (api_key_id, environment_id, sealed)
    values (${apiKeyId}, ${environmentId}, ${sealed})
    on conflict (api_key_id) do nothing`;
}

/** Sealed copies of the environment's active (not revoked) keys. */
export async function signingCopiesOfActiveKeys(sql: Sql, environmentId: string): Promise<Buffer[]> {
  const rows = await sql<{ sealed: Buffer }[]>`
    select c.sealed from ratchet.api_key_signing_copies c
    join ratchet.api_keys k on k.id = c.api_key_id
    where c.environment_id = ${environmentId} and k.environment_id = ${environmentId} and k.revoked_at is null`;
  return rows.map((row) => row.sealed);
}

/** Spends a one-time token: false when it was spent before. */
export async function publicTokensSpend(sql: Sql, tokenHash: Buffer, expiresAt: Date, now: Date): Promise<boolean> {
  await sql`delete from ratchet.spent_public_tokens where expires_at < ${now}`;
  const rows = await sql`
    insert into ratchet.spent_public_tokens (token_hash, expires_at) values (${tokenHash}, ${expiresAt})
    on conflict (token_hash) do nothing returning 1`;
  return rows.length === 1;
}

/** The environment a public token acts in: what a secret key gives, less the key itself. */
export type TokenEnvironment = Omit<AuthenticatedEnvironment, "apiKeyId" | "keyHash" | "lastUsedAt">;

export async function environmentsFindForToken(sql: Sql, environmentId: string): Promise<TokenEnvironment | null> {
  const [row] = await sql<TokenEnvironment[]>`
    select e.id as "environmentId", e.type as "environmentType", e.slug as "environmentSlug",
      e.concurrency_limit as "concurrencyLimit",
      p.id as "projectId", p.ref as "projectRef", p.name as "projectName",
      o.id as "organizationId", o.slug as "organizationSlug"
    from ratchet.environments e
    join ratchet.projects p on p.id = e.project_id
    join ratchet.organizations o on o.id = p.organization_id
    where e.id = ${environmentId}`;
  return row ?? null;
}
