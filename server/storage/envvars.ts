// Named queries for environment variables. Values arrive sealed (engine/envvars-crypto.ts) and leave
// sealed: nothing here sees a plaintext value. Every change bumps the environment's version in the
// same transaction.
import type { Sql, TransactionSql } from "../db/client.ts";

/** A pool or an open transaction: the reads work inside either. */
type Queryable = Sql | TransactionSql;
import type { EnvironmentType } from "../db/tables.ts";

export interface EnvironmentVariableRow {
  name: string;
  keyId: string;
  sealed: Buffer;
  isSecret: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface SealedVariable {
  name: string;
  keyId: string;
  sealed: Buffer;
  isSecret: boolean;
}

export interface ProjectEnvironment {
  environmentId: string;
  environmentType: EnvironmentType;
  environmentSlug: string;
  projectId: string;
  projectRef: string;
  organizationId: string;
}

/** The environment `slug` (or type) of the project `ref`. */
export async function environmentsFindByProjectRef(sql: Sql, projectRef: string, slug: string): Promise<ProjectEnvironment | null> {
  const [row] = await sql<ProjectEnvironment[]>`
    select e.id as "environmentId", e.type as "environmentType", e.slug as "environmentSlug",
      p.id as "projectId", p.ref as "projectRef", p.organization_id as "organizationId"
    from ratchet.projects p join ratchet.environments e on e.project_id = p.id
    where p.ref = ${projectRef} and (e.slug = ${slug} or e.type = ${slug})
    order by (e.slug = ${slug}) desc limit 1`;
  return row ?? null;
}

async function bumpVersion(sql: Queryable, environmentId: string): Promise<void> {
  await sql`
    insert into ratchet.environment_variable_versions (environment_id, version) values (${environmentId}, 1)
    on conflict (environment_id) do update set version = ratchet.environment_variable_versions.version + 1`;
}

export async function envvarsVersion(sql: Queryable, environmentId: string): Promise<number> {
  const [row] = await sql<{ version: string }[]>`
    select version from ratchet.environment_variable_versions where environment_id = ${environmentId}`;
  return row ? Number(row.version) : 0;
}

export async function envvarsList(sql: Queryable, environmentId: string): Promise<EnvironmentVariableRow[]> {
  return sql<EnvironmentVariableRow[]>`
    select name, key_id as "keyId", value_sealed as sealed, is_secret as "isSecret", created_at as "createdAt", updated_at as "updatedAt"
    from ratchet.environment_variables where environment_id = ${environmentId} order by name`;
}

/** The variables and their version read together, so the version names exactly this set. */
export async function envvarsSnapshot(sql: Sql, environmentId: string): Promise<{ version: number; variables: EnvironmentVariableRow[] }> {
  return sql.begin("isolation level repeatable read read only", async (tx) => ({
    version: await envvarsVersion(tx, environmentId),
    variables: await envvarsList(tx, environmentId),
  }));
}

export async function envvarsFind(sql: Sql, environmentId: string, name: string): Promise<EnvironmentVariableRow | null> {
  const [row] = await sql<EnvironmentVariableRow[]>`
    select name, key_id as "keyId", value_sealed as sealed, is_secret as "isSecret", created_at as "createdAt", updated_at as "updatedAt"
    from ratchet.environment_variables where environment_id = ${environmentId} and name = ${name}`;
  return row ?? null;
}

/**
 * Writes the variables. With `override`, existing ones are replaced (their secret flag only ever
 * turns on: a secret stays secret); without it, existing names are left alone. Returns the names
 * written.
 */
export async function envvarsUpsert(
  sql: Sql,
  environmentId: string,
  variables: SealedVariable[],
  options: { override: boolean; now: Date },
): Promise<string[]> {
  return sql.begin(async (tx) => {
    const written: string[] = [];
    for (const variable of variables) {
      const rows = options.override
        ? await tx`
            insert into ratchet.environment_variables (environment_id, name, value_sealed, key_id, is_secret, created_at, updated_at)
            values (${environmentId}, ${variable.name}, ${variable.sealed}, ${variable.keyId}, ${variable.isSecret}, ${options.now}, ${options.now})
            on conflict (environment_id, name) do update set value_sealed = excluded.value_sealed, key_id = excluded.key_id,
              is_secret = ratchet.environment_variables.is_secret or excluded.is_secret, updated_at = excluded.updated_at
            returning name`
        : await tx`
            insert into ratchet.environment_variables (environment_id, name, value_sealed, key_id, is_secret, created_at, updated_at)
            values (${environmentId}, ${variable.name}, ${variable.sealed}, ${variable.keyId}, ${variable.isSecret}, ${options.now}, ${options.now})
            on conflict (environment_id, name) do nothing
            returning name`;
      if (rows.length > 0) written.push(variable.name);
    }
    if (written.length > 0) await bumpVersion(tx, environmentId);
    return written;
  });
}

/** Replaces the value of an existing variable. Returns false when there is none of that name. */
export async function envvarsUpdateValue(sql: Sql, environmentId: string, variable: Omit<SealedVariable, "isSecret">, now: Date): Promise<boolean> {
  return sql.begin(async (tx) => {
    const rows = await tx`
      update ratchet.environment_variables set value_sealed = ${variable.sealed}, key_id = ${variable.keyId}, updated_at = ${now}
      where environment_id = ${environmentId} and name = ${variable.name} returning name`;
    if (rows.length > 0) await bumpVersion(tx, environmentId);
    return rows.length > 0;
  });
}

export async function envvarsDelete(sql: Sql, environmentId: string, name: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    const rows = await tx`delete from ratchet.environment_variables where environment_id = ${environmentId} and name = ${name} returning name`;
    if (rows.length > 0) await bumpVersion(tx, environmentId);
    return rows.length > 0;
  });
}

/** A batch of values sealed under any key but `currentKeyId`, locked for re-sealing. */
export async function envvarsLockStale(
  sql: Queryable,
  currentKeyId: string,
  limit: number,
): Promise<Array<{ environmentId: string; name: string; keyId: string; sealed: Buffer }>> {
  return sql<Array<{ environmentId: string; name: string; keyId: string; sealed: Buffer }>>`
    select environment_id as "environmentId", name, key_id as "keyId", value_sealed as sealed
    from ratchet.environment_variables where key_id <> ${currentKeyId}
    order by environment_id, name limit ${limit} for update skip locked`;
}

/** Re-seals a value without changing it: the version stays, since workers see the same variables. */
export async function envvarsReseal(sql: Queryable, environmentId: string, name: string, sealed: { keyId: string; sealed: Buffer }): Promise<void> {
  await sql`
    update ratchet.environment_variables set value_sealed = ${sealed.sealed}, key_id = ${sealed.keyId}
    where environment_id = ${environmentId} and name = ${name}`;
}

export async function envvarsCountByKey(sql: Sql): Promise<Array<{ keyId: string; count: number }>> {
  return sql<Array<{ keyId: string; count: number }>>`
    select key_id as "keyId", count(*)::int as count from ratchet.environment_variables group by key_id order by key_id`;
}
