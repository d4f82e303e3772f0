// Named queries for dashboard users, their memberships, sessions and the first-start setup link.
import type { Sql, TransactionSql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";

type Queryable = Sql | TransactionSql;

export interface UserRow {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
}

export async function usersCount(tx: Queryable): Promise<number> {
  const [row] = await tx<{ count: number }[]>`select count(*)::int as count from ratchet.users`;
  return row?.count ?? 0;
}

export async function usersFindByEmail(tx: Queryable, email: string): Promise<UserRow | null> {
  const [row] = await tx<UserRow[]>`
    select id, email, name, password_hash as "passwordHash" from ratchet.users where email = ${email.toLowerCase()}`;
  return row ?? null;
}

/** Creates a user as admin of every organization (the first user of a fresh install). */
export async function usersInsertAdmin(tx: TransactionSql, user: { email: string; name: string; passwordHash: string }): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    insert into ratchet.users (email, name, password_hash) values (${user.email.toLowerCase()}, ${user.name}, ${user.passwordHash})
    returning id`;
  await tx`insert into ratchet.organization_members (organization_id, user_id, role)
    select id, ${row!.id}, 'admin' from ratchet.organizations`;
  return row!.id;
}

export async function sessionsInsert(tx: Queryable, session: { tokenHash: Buffer; userId: string; expiresAt: Date }, now: Date): Promise<void> {
  await tx`insert into ratchet.sessions (token_hash, user_id, created_at, expires_at)
    values (${session.tokenHash}, ${session.userId}, ${now}, ${session.expiresAt})`;
}

export interface SessionUser {
  userId: string;
  email: string;
  name: string;
}

export async function sessionsFindUser(tx: Queryable, tokenHash: Buffer, now: Date): Promise<SessionUser | null> {
  const [row] = await tx<SessionUser[]>`
    select u.id as "userId", u.email, u.name from ratchet.sessions s join ratchet.users u on u.id = s.user_id
    where s.token_hash = ${tokenHash} and s.expires_at > ${now}`;
  return row ?? null;
}

export async function sessionsDelete(tx: Queryable, tokenHash: Buffer): Promise<void> {
  await tx`delete from ratchet.sessions where token_hash = ${tokenHash}`;
}

export async function setupTokensInsert(tx: Queryable, tokenHash: Buffer, expiresAt: Date, now: Date): Promise<void> {
  await tx`insert into ratchet.setup_tokens (token_hash, created_at, expires_at) values (${tokenHash}, ${now}, ${expiresAt})`;
}

/** Uses up a setup link; true when it was valid and unused. */
export async function setupTokensConsume(tx: Queryable, tokenHash: Buffer, now: Date): Promise<boolean> {
  const rows = await tx`update ratchet.setup_tokens set used_at = ${now}
    where token_hash = ${tokenHash} and used_at is null and expires_at > ${now} returning token_hash`;
  return rows.length > 0;
}

export async function setupTokensValid(tx: Queryable, tokenHash: Buffer, now: Date): Promise<boolean> {
  const [row] = await tx`select 1 from ratchet.setup_tokens where token_hash = ${tokenHash} and used_at is null and expires_at > ${now}`;
  return Boolean(row);
}

export interface DashboardEnvironment {
  organizationId: string;
  organizationSlug: string;
  projectId: string;
  projectRef: string;
  projectName: string;
  environmentId: string;
  environmentType: EnvironmentType;
  environmentSlug: string;
  concurrencyLimit: number;
  role: "admin" | "member";
  /** May see and make prod's keys and variables: admins, and members given prod access. */
  prodAccess: boolean;
}

/**
 * Every environment the user may see: all projects of the organizations they administer, and the
 * projects they were given in the others.
 */
export async function environmentsForUser(tx: Queryable, userId: string): Promise<DashboardEnvironment[]> {
  return tx<DashboardEnvironment[]>`
    select o.id as "organizationId", o.slug as "organizationSlug", p.id as "projectId", p.ref as "projectRef",
      p.name as "projectName", e.id as "environmentId", e.type as "environmentType", e.slug as "environmentSlug",
      e.concurrency_limit as "concurrencyLimit", m.role, (m.role = 'admin' or coalesce(pm.prod_access, false)) as "prodAccess"
    from ratchet.organization_members m
    join ratchet.organizations o on o.id = m.organization_id
    join ratchet.projects p on p.organization_id = o.id
    left join ratchet.project_members pm on pm.project_id = p.id and pm.user_id = m.user_id
    join ratchet.environments e on e.project_id = p.id
    where m.user_id = ${userId} and (m.role = 'admin' or pm.user_id is not null)
    order by p.created_at, p.ref, array_position(array['dev','staging','prod','preview'], e.type)`;
}
