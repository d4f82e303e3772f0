// The per-environment signing secret (sql/0015_realtime.sql): created once, by whichever server
// process needs it first; every replica reads the same one.
import { randomBytes } from "node:crypto";
import type { Sql } from "../db/client.ts";

export async function environmentSigningSecret(sql: Sql, environmentId: string): Promise<Buffer> {
  const [row] = await sql<{ secret: Buffer }[]>`
    with inserted as (
      insert into ratchet.environment_secrets (environment_id, signing_secret)
      values (${environmentId}, ${randomBytes(32)})
      on conflict (environment_id) do nothing
      returning signing_secret
    )
    select signing_secret as secret from inserted
    union all
    select signing_secret from ratchet.environment_secrets where environment_id = ${environmentId}
    limit 1`;
  if (row) return row.secret;
  // Another process inserted it after this statement's snapshot was taken: it is visible now.
  const [existing] = await sql<{ secret: Buffer }[]>`
    select signing_secret as secret from ratchet.environment_secrets where environment_id = ${environmentId}`;
  return existing!.secret;
}

/** The secret if one was ever created: verifying needs no new one (nothing was signed without it). */
export async function environmentSigningSecretIfAny(sql: Sql, environmentId: string): Promise<Buffer | null> {
  const [row] = await sql<{ secret: Buffer }[]>`
    select signing_secret as secret from ratchet.environment_secrets where environment_id = ${environmentId}`;
  return row?.secret ?? null;
}
