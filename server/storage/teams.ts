// Named queries for members of organizations and projects, invitations, password resets and new
// projects. Only hashes of invitation and reset links are stored.
import type { Sql, TransactionSql } from "../db/client.ts";
import { newProjectRef } from "../ids.ts";
import { environmentTypes, type ProjectRow } from "./tenancy.ts";

type Queryable = Sql | TransactionSql;

export type Role = "admin" | "member";

export interface OrganizationRow {
  id: string;
  slug: string;
  name: string;
  role: Role;
}

/** The organizations a user belongs to, oldest first. */
export async function organizationsForUser(sql: Queryable, userId: string): Promise<OrganizationRow[]> {
  return sql<OrganizationRow[]>`
    select o.id, o.slug, o.name, m.role from ratchet.organization_members m join ratchet.organizations o on o.id = m.organization_id
    where m.user_id = ${userId} order by o.created_at, o.slug`;
}

export async function organizationsFindBySlug(sql: Queryable, slug: string): Promise<{ id: string; slug: string; name: string } | null> {
  const [row] = await sql<{ id: string; slug: string; name: string }[]>`select id, slug, name from ratchet.organizations where slug = ${slug}`;
  return row ?? null;
}

export async function organizationsList(sql: Queryable): Promise<Array<{ id: string; slug: string; name: string }>> {
  return sql<Array<{ id: string; slug: string; name: string }>>`select id, slug, name from ratchet.organizations order by created_at, slug`;
}

/** Creates a project with its four environments. */
export async function projectsInsertWithEnvironments(tx: TransactionSql, organizationId: string, project: { name: string; slug: string }): Promise<ProjectRow> {
  const [row] = await tx<ProjectRow[]>`
    insert into ratchet.projects (organization_id, ref, slug, name) values (${organizationId}, ${newProjectRef()}, ${project.slug}, ${project.name})
    returning id, ref, name, slug, organization_id as "organizationId"`;
  for (const type of environmentTypes) {
    await tx`insert into ratchet.environments (project_id, type, slug) values (${row!.id}, ${type}, ${type})`;
  }
  return row!;
}

export async function projectsSlugTaken(tx: Queryable, organizationId: string, slug: string): Promise<boolean> {
  const [row] = await tx`select 1 from ratchet.projects where organization_id = ${organizationId} and slug = ${slug}`;
  return row !== undefined;
}

export async function projectsOfOrganization(sql: Queryable, organizationId: string): Promise<ProjectRow[]> {
  return sql<ProjectRow[]>`
    select id, ref, name, slug, organization_id as "organizationId" from ratchet.projects
    where organization_id = ${organizationId} order by created_at, ref`;
}

/** Gives the user these projects (only those of `organizationId`); returns how many were added. */
export async function projectMembersAdd(tx: Queryable, organizationId: string, userId: string, projectIds: string[], prodAccess: boolean): Promise<number> {
  const rows = await tx`
    insert into ratchet.project_members (project_id, user_id, prod_access)
    select p.id, ${userId}, ${prodAccess} from ratchet.projects p
    where p.organization_id = ${organizationId} and p.id = any(${projectIds}::uuid[])
    on conflict (project_id, user_id) do update set prod_access = excluded.prod_access
    returning project_id`;
  return rows.length;
}

/** Replaces the user's projects of this organization (and prod access on them). */
export async function projectMembersReplace(tx: TransactionSql, organizationId: string, userId: string, projectIds: string[], prodAccess: boolean): Promise<void> {
  await tx`delete from ratchet.project_members pm using ratchet.projects p
    where pm.project_id = p.id and p.organization_id = ${organizationId} and pm.user_id = ${userId}`;
  await projectMembersAdd(tx, organizationId, userId, projectIds, prodAccess);
}

export async function organizationMembersSetRole(tx: Queryable, organizationId: string, userId: string, role: Role): Promise<void> {
  await tx`update ratchet.organization_members set role = ${role} where organization_id = ${organizationId} and user_id = ${userId}`;
}

export async function organizationMembersInsert(tx: Queryable, organizationId: string, userId: string, role: Role): Promise<void> {
  await tx`insert into ratchet.organization_members (organization_id, user_id, role) values (${organizationId}, ${userId}, ${role})
    on conflict (organization_id, user_id) do nothing`;
}

export interface MemberRow {
  userId: string;
  email: string;
  name: string;
  role: Role;
  joinedAt: Date;
  projects: Array<{ ref: string; name: string; prodAccess: boolean }>;
}

export async function organizationMembersList(sql: Queryable, organizationId: string): Promise<MemberRow[]> {
  return sql<MemberRow[]>`
    select u.id as "userId", u.email, u.name, m.role, m.created_at as "joinedAt",
      coalesce((select jsonb_agg(jsonb_build_object('ref', p.ref, 'name', p.name, 'prodAccess', pm.prod_access) order by p.created_at)
        from ratchet.project_members pm join ratchet.projects p on p.id = pm.project_id
        where pm.user_id = u.id and p.organization_id = ${organizationId}), '[]'::jsonb) as projects
    from ratchet.organization_members m join ratchet.users u on u.id = m.user_id
    where m.organization_id = ${organizationId} order by m.created_at, u.email`;
}

export async function organizationAdminsCount(tx: Queryable, organizationId: string): Promise<number> {
  const [row] = await tx<{ count: number }[]>`
    select count(*)::int as count from ratchet.organization_members where organization_id = ${organizationId} and role = 'admin'`;
  return row!.count;
}

export async function organizationMemberRole(tx: Queryable, organizationId: string, userId: string): Promise<Role | null> {
  const [row] = await tx<{ role: Role }[]>`
    select role from ratchet.organization_members where organization_id = ${organizationId} and user_id = ${userId}`;
  return row?.role ?? null;
}

/**
 * Takes the user out of the organization and its projects and ends every session of theirs at once.
 * A user left in no organization is deleted (with anything else that hangs off the account).
 */
export async function organizationMembersRemove(tx: TransactionSql, organizationId: string, userId: string): Promise<boolean> {
  const removed = await tx`delete from ratchet.organization_members where organization_id = ${organizationId} and user_id = ${userId} returning user_id`;
  if (removed.length === 0) return false;
  await tx`delete from ratchet.project_members pm using ratchet.projects p
    where pm.project_id = p.id and p.organization_id = ${organizationId} and pm.user_id = ${userId}`;
  await tx`delete from ratchet.sessions where user_id = ${userId}`;
  await tx`delete from ratchet.users u where u.id = ${userId}
    and not exists (select 1 from ratchet.organization_members m where m.user_id = u.id)`;
  return true;
}

export interface InvitationRow {
  organizationId: string;
  organizationName: string;
  email: string | null;
  role: Role;
  projectIds: string[];
  prodAccess: boolean;
  expiresAt: Date;
}

export async function invitationsInsert(
  tx: Queryable,
  invitation: { tokenHash: Buffer; organizationId: string; email: string | null; role: Role; projectIds: string[]; prodAccess: boolean; createdBy: string; now: Date; expiresAt: Date },
): Promise<void> {
  await tx`
    insert into ratchet.invitations (token_hash, organization_id, email, role, project_ids, prod_access, created_by, created_at, expires_at)
    values (${invitation.tokenHash}, ${invitation.organizationId}, ${invitation.email}, ${invitation.role}, ${invitation.projectIds}::uuid[],
      ${invitation.prodAccess}, ${invitation.createdBy}, ${invitation.now}, ${invitation.expiresAt})`;
}

const invitationColumns = (sql: Queryable) => sql`
  i.organization_id as "organizationId", o.name as "organizationName", i.email, i.role, i.project_ids as "projectIds",
  i.prod_access as "prodAccess", i.expires_at as "expiresAt"`;

export async function invitationsFindValid(sql: Queryable, tokenHash: Buffer, now: Date): Promise<InvitationRow | null> {
  const [row] = await sql<InvitationRow[]>`
    select ${invitationColumns(sql)} from ratchet.invitations i join ratchet.organizations o on o.id = i.organization_id
    where i.token_hash = ${tokenHash} and i.used_at is null and i.expires_at > ${now}`;
  return row ?? null;
}

/** Uses up an invitation; returns it when it was valid and unused. */
export async function invitationsConsume(tx: TransactionSql, tokenHash: Buffer, now: Date): Promise<InvitationRow | null> {
  const [used] = await tx<{ tokenHash: Buffer }[]>`
    update ratchet.invitations set used_at = ${now} where token_hash = ${tokenHash} and used_at is null and expires_at > ${now}
    returning token_hash as "tokenHash"`;
  if (!used) return null;
  const [row] = await tx<InvitationRow[]>`
    select ${invitationColumns(tx)} from ratchet.invitations i join ratchet.organizations o on o.id = i.organization_id
    where i.token_hash = ${tokenHash}`;
  return row ?? null;
}

export async function invitationsPending(sql: Queryable, organizationId: string, now: Date): Promise<Array<{ email: string | null; role: Role; createdAt: Date; expiresAt: Date }>> {
  return sql<Array<{ email: string | null; role: Role; createdAt: Date; expiresAt: Date }>>`
    select email, role, created_at as "createdAt", expires_at as "expiresAt" from ratchet.invitations
    where organization_id = ${organizationId} and used_at is null and expires_at > ${now} order by created_at`;
}

export async function usersInsert(tx: Queryable, user: { email: string; name: string; passwordHash: string }): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    insert into ratchet.users (email, name, password_hash) values (${user.email.toLowerCase()}, ${user.name}, ${user.passwordHash})
    returning id`;
  return row!.id;
}

export async function usersFindById(sql: Queryable, userId: string): Promise<{ id: string; email: string; passwordHash: string } | null> {
  const [row] = await sql<{ id: string; email: string; passwordHash: string }[]>`
    select id, email, password_hash as "passwordHash" from ratchet.users where id = ${userId}`;
  return row ?? null;
}

export async function usersSetPassword(tx: Queryable, userId: string, passwordHash: string): Promise<void> {
  await tx`update ratchet.users set password_hash = ${passwordHash} where id = ${userId}`;
}

/** Ends the user's sessions, but the one given (the session that changed the password). */
export async function sessionsDeleteForUser(tx: Queryable, userId: string, keep: Buffer | null = null): Promise<void> {
  await tx`delete from ratchet.sessions where user_id = ${userId} and (${keep}::bytea is null or token_hash <> ${keep}::bytea)`;
}

export async function passwordResetsInsert(tx: Queryable, reset: { tokenHash: Buffer; userId: string; now: Date; expiresAt: Date }): Promise<void> {
  await tx`insert into ratchet.password_resets (token_hash, user_id, created_at, expires_at)
    values (${reset.tokenHash}, ${reset.userId}, ${reset.now}, ${reset.expiresAt})`;
}

export async function passwordResetsValid(sql: Queryable, tokenHash: Buffer, now: Date): Promise<boolean> {
  const [row] = await sql`select 1 from ratchet.password_resets where token_hash = ${tokenHash} and used_at is null and expires_at > ${now}`;
  return row !== undefined;
}

/** Uses up a reset link; returns its user when it was valid and unused. */
export async function passwordResetsConsume(tx: TransactionSql, tokenHash: Buffer, now: Date): Promise<string | null> {
  const [row] = await tx<{ userId: string }[]>`
    update ratchet.password_resets set used_at = ${now} where token_hash = ${tokenHash} and used_at is null and expires_at > ${now}
    returning user_id as "userId"`;
  return row?.userId ?? null;
}
