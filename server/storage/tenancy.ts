// Named queries for organizations, projects and environments.
import type { Sql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";
import { newProjectRef } from "../ids.ts";

export const environmentTypes: EnvironmentType[] = ["dev", "staging", "prod", "preview"];

/** Serializes first-start setup across processes starting together. */
const bootstrapLockKey = 7_245_110_202n;

export interface ProjectRow {
  id: string;
  ref: string;
  name: string;
  slug: string;
  organizationId: string;
}

export interface EnvironmentRow {
  id: string;
  type: EnvironmentType;
  slug: string;
  projectId: string;
}

/**
 * Creates the default organization, project and its four environments when the database has no
 * organization yet. Returns the project it created, or null when setup had already been done.
 */
export async function tenancyBootstrap(sql: Sql): Promise<ProjectRow | null> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${bootstrapLockKey.toString()}::bigint)`;
    const [existing] = await tx`select 1 from ratchet.organizations limit 1`;
    if (existing) return null;
    const [organization] = await tx<{ id: string }[]>`
      insert into ratchet.organizations (slug, name) values ('default', 'Default organization')
      returning id`;
    const [project] = await tx<ProjectRow[]>`
      insert into ratchet.projects (organization_id, ref, slug, name)
      values (${organization!.id}, ${newProjectRef()}, 'default', 'Default project')
      returning id, ref, name, slug, organization_id as "organizationId"`;
    for (const type of environmentTypes) {
      await tx`insert into ratchet.environments (project_id, type, slug) values (${project!.id}, ${type}, ${type})`;
    }
    return project!;
  });
}

export async function projectsList(sql: Sql): Promise<ProjectRow[]> {
  return sql<ProjectRow[]>`
    select id, ref, name, slug, organization_id as "organizationId"
    from ratchet.projects order by created_at, ref`;
}

export async function environmentsFindByProjectAndType(
  sql: Sql,
  projectId: string,
  type: EnvironmentType,
): Promise<EnvironmentRow | null> {
  const [row] = await sql<EnvironmentRow[]>`
    select id, type, slug, project_id as "projectId"
    from ratchet.environments where project_id = ${projectId} and type = ${type}`;
  return row ?? null;
}
