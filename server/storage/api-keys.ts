// Named queries for secret API keys. Keys are looked up by their hash; the plaintext never reaches
// the database.
import type { Sql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";

export interface ApiKeyListRow {
  publicId: string;
  keyHint: string;
  name: string;
  environmentType: EnvironmentType;
  projectRef: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** What an API request acts as once its key is accepted. */
export interface AuthenticatedEnvironment {
  apiKeyId: string;
  keyHash: Buffer;
  environmentId: string;
  environmentType: EnvironmentType;
  environmentSlug: string;
  concurrencyLimit: number;
  projectId: string;
  projectRef: string;
  projectName: string;
  organizationId: string;
  organizationSlug: string;
  lastUsedAt: Date | null;
}

export async function apiKeysInsert(
  sql: Sql,
  key: { publicId: string; environmentId: string; keyHash: Buffer; keyHint: string; name: string },
): Promise<void> {
  await sql`
    insert into ratchet.api_keys (public_id, environment_id, key_hash, key_hint, name)
    values (${key.publicId}, ${key.environmentId}, ${key.keyHash}, ${key.keyHint}, ${key.name})`;
}

/** The environment behind an active (not revoked) key, found by the key's hash. */
export async function apiKeysFindActiveByHash(sql: Sql, keyHash: Buffer): Promise<AuthenticatedEnvironment | null> {
  const [row] = await sql<AuthenticatedEnvironment[]>`
    select k.id as "apiKeyId", k.key_hash as "keyHash", k.last_used_at as "lastUsedAt",
      e.id as "environmentId", e.type as "environmentType", e.slug as "environmentSlug",
      e.concurrency_limit as "concurrencyLimit",
      p.id as "projectId", p.ref as "projectRef", p.name as "projectName",
      o.id as "organizationId", o.slug as "organizationSlug"
    from ratchet.api_keys k
    join ratchet.environments e on e.id = k.environment_id
    join ratchet.projects p on p.id = e.project_id
    join ratchet.organizations o on o.id = p.organization_id
    where k.key_hash = ${keyHash} and k.revoked_at is null`;
  return row ?? null;
}

/**
 * Whether a key accepted earlier is still active and still of the same environment: what a request
 * that waits (a long poll) looks up again before handing out work. One primary-key lookup.
 */
export async function apiKeysStillActive(sql: Sql, apiKeyId: string, environmentId: string): Promise<boolean> {
  const [row] = await sql`
    select 1 from ratchet.api_keys where id = ${apiKeyId} and environment_id = ${environmentId} and revoked_at is null`;
  return row !== undefined;
}

/** Records use at most once a minute per key, so busy keys do not write on every request. */
export async function apiKeysTouch(sql: Sql, apiKeyId: string, now: Date): Promise<void> {
  await sql`
    update ratchet.api_keys set last_used_at = ${now}
    where id = ${apiKeyId} and (last_used_at is null or last_used_at < ${now}::timestamptz - interval '1 minute')`;
}

export async function apiKeysList(sql: Sql, projectId?: string): Promise<ApiKeyListRow[]> {
  return sql<ApiKeyListRow[]>`
    select k.public_id as "publicId", k.key_hint as "keyHint", k.name, e.type as "environmentType",
      p.ref as "projectRef", k.created_at as "createdAt", k.last_used_at as "lastUsedAt", k.revoked_at as "revokedAt"
    from ratchet.api_keys k
    join ratchet.environments e on e.id = k.environment_id
    join ratchet.projects p on p.id = e.project_id
    where ${projectId ?? null}::uuid is null or p.id = ${projectId ?? null}::uuid
    order by k.created_at, k.public_id`;
}

const revokedHere = new Set<() => void>();

/**
 * Calls `listener` whenever this process revokes a key, right after the change committed: caches of
 * this process drop the key without waiting for the notification (which tells the other servers).
 */
export function onApiKeysRevokedHere(listener: () => void): () => void {
  revokedHere.add(listener);
  return () => revokedHere.delete(listener);
}

/** Revokes by public id or by hash of the full key. Returns false when no active key matched. */
export async function apiKeysRevoke(
  sql: Sql,
  match: { publicId: string } | { keyHash: Buffer },
  now: Date,
): Promise<boolean> {
  const rows =
    "publicId" in match
      ? await sql`update ratchet.api_keys set revoked_at = ${now}
          where public_id = ${match.publicId} and revoked_at is null returning id`
      : await sql`update ratchet.api_keys set revoked_at = ${now}
          where key_hash = ${match.keyHash} and revoked_at is null returning id`;
  for (const listener of revokedHere) listener();
  return rows.length > 0;
}
