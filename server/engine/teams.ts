// Small-team operations: new projects (with their environments and a first dev key), invitations by
// link (and by email when SMTP is configured), accepting one, removing a member, changing and
// resetting passwords. See docs/teams.md.
import type { Db } from "../db/client.ts";
import { hashPassword, verifyPassword } from "../dashboard/passwords.ts";
import { hashSecret, newSecret } from "../dashboard/sessions.ts";
import { ApiError } from "../errors.ts";
import { issueSecretKey } from "../auth/issue-key.ts";
import { randomString } from "../ids.ts";
import type { ProjectRow } from "../storage/tenancy.ts";
import { usersFindByEmail } from "../storage/users.ts";
import {
  invitationsConsume,
  invitationsInsert,
  organizationAdminsCount,
  organizationMemberRole,
  organizationMembersInsert,
  organizationMembersRemove,
  passwordResetsConsume,
  passwordResetsInsert,
  projectMembersAdd,
  projectMembersReplace,
  organizationMembersSetRole,
  projectsInsertWithEnvironments,
  projectsOfOrganization,
  projectsSlugTaken,
  sessionsDeleteForUser,
  usersFindById,
  usersInsert,
  usersSetPassword,
  type Role,
} from "../storage/teams.ts";
import { sendEmail, type MailSettings } from "./mailer.ts";

export const invitationLifetimeMs = 7 * 86_400_000;
export const resetLifetimeMs = 60 * 60_000;
export const minimumPasswordLength = 10;

export interface TeamDeps {
  db: Db;
  now: () => Date;
  publicUrl: string;
  mail: MailSettings;
}

function slugOf(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50);
  return slug || "project";
}

export function checkPassword(password: string, field = "password"): void {
  if (password.length < minimumPasswordLength) throw new ApiError("VALIDATION_FAILED", `${field}: at least ${minimumPasswordLength} characters`);
  if (password.length > 1000) throw new ApiError("VALIDATION_FAILED", `${field}: at most 1000 characters`);
}

/**
 * Creates a project with dev, staging, prod and preview environments and a first dev key (returned
 * once). The creator, when given, becomes a member of it.
 */
export async function createProject(
  db: Db,
  options: { organizationId: string; name: string; creatorUserId?: string },
): Promise<{ project: ProjectRow; devKey: string }> {
  const name = options.name.trim();
  if (name.length < 1 || name.length > 200) throw new ApiError("VALIDATION_FAILED", "name: 1 to 200 characters");
  const project = await db.sql.begin(async (tx) => {
    let slug = slugOf(name);
    if (await projectsSlugTaken(tx, options.organizationId, slug)) slug = `${slug}-${randomString(6, "abcdefghijklmnopqrstuvwxyz0123456789")}`;
    const created = await projectsInsertWithEnvironments(tx, options.organizationId, { name, slug });
    if (options.creatorUserId) await projectMembersAdd(tx, options.organizationId, options.creatorUserId, [created.id], false);
    return created;
  });
  const devKey = await issueSecretKey(db.sql, { environment: "dev", projectRef: project.ref, name: "created with the project" });
  return { project, devKey: devKey.key };
}

export interface InvitationInput {
  organizationId: string;
  invitedBy: string;
  email?: string;
  role: Role;
  projectRefs: string[];
  prodAccess: boolean;
}

/** An invitation link (valid 7 days), emailed as well when SMTP is configured and an address given. */
export async function inviteMember(deps: TeamDeps, input: InvitationInput): Promise<{ link: string; emailed: boolean }> {
  const email = input.email?.trim().toLowerCase() || null;
  if (email !== null && !/^[^@\s]+@[^@\s]+$/.test(email)) throw new ApiError("VALIDATION_FAILED", "email: not an email address");
  const projects = await projectsOfOrganization(deps.db.sql, input.organizationId);
  const projectIds = input.projectRefs.map((ref) => {
    const project = projects.find((candidate) => candidate.ref === ref);
    if (!project) throw new ApiError("VALIDATION_FAILED", `projects: no project ${ref} in this organization`);
    return project.id;
  });
  if (input.role === "member" && projectIds.length === 0) throw new ApiError("VALIDATION_FAILED", "projects: a member needs at least one project");
  const token = newSecret();
  const now = deps.now();
  await invitationsInsert(deps.db.sql, {
    tokenHash: hashSecret(token),
    organizationId: input.organizationId,
    email,
    role: input.role,
    projectIds,
    prodAccess: input.prodAccess,
    createdBy: input.invitedBy,
    now,
    expiresAt: new Date(now.getTime() + invitationLifetimeMs),
  });
  const link = `${deps.publicUrl}/invite?token=${token}`;
  let emailed = false;
  if (email !== null && deps.mail.smtpUrl) {
    await sendEmail(deps.mail, {
      to: email,
      subject: "You are invited to Ratchet",
      text: `You are invited to join Ratchet as ${input.role}.\n\nCreate your account with this link (valid for 7 days, once):\n${link}\n`,
    });
    emailed = true;
  }
  return { link, emailed };
}

/** Creates the invited user and their memberships; returns the new user's id. */
export async function acceptInvitation(deps: TeamDeps, token: string, account: { email: string; name: string; password: string }): Promise<string> {
  const email = account.email.trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(email) || email.length > 320) throw new ApiError("VALIDATION_FAILED", "email: not an email address");
  checkPassword(account.password);
  if (await usersFindByEmail(deps.db.sql, email)) throw new ApiError("CONFLICT", "email: there is already an account with this address; sign in instead");
  const passwordHash = await hashPassword(account.password);
  const userId = await deps.db.sql.begin(async (tx) => {
    const invitation = await invitationsConsume(tx, hashSecret(token), deps.now());
    if (!invitation) return null;
    if (invitation.email !== null && invitation.email !== email) {
      throw new ApiError("VALIDATION_FAILED", `email: this invitation is for ${invitation.email}`);
    }
    const id = await usersInsert(tx, { email, name: account.name.slice(0, 200), passwordHash });
    await organizationMembersInsert(tx, invitation.organizationId, id, invitation.role);
    await projectMembersAdd(tx, invitation.organizationId, id, invitation.projectIds, invitation.prodAccess);
    return id;
  });
  if (!userId) throw new ApiError("NOT_FOUND", "This invitation link is invalid, used or expired");
  return userId;
}

/** Removes a member; their sessions end at once. The last admin cannot be removed. */
export async function removeMember(db: Db, organizationId: string, userId: string): Promise<void> {
  await db.sql.begin(async (tx) => {
    const role = await organizationMemberRole(tx, organizationId, userId);
    if (role === null) throw new ApiError("NOT_FOUND", "No such member of this organization");
    if (role === "admin" && (await organizationAdminsCount(tx, organizationId)) <= 1) {
      throw new ApiError("CONFLICT", "The last admin of an organization cannot be removed");
    }
    await organizationMembersRemove(tx, organizationId, userId);
  });
}

/**
 * Changes a member's role, projects and prod access in place. Their sessions stay: every page
 * checks access on each request, so the change applies to their next one.
 */
export async function updateMember(
  db: Db,
  organizationId: string,
  userId: string,
  change: { role: Role; projectRefs: string[]; prodAccess: boolean },
): Promise<void> {
  const projects = await projectsOfOrganization(db.sql, organizationId);
  const projectIds = change.projectRefs.map((ref) => {
    const project = projects.find((candidate) => candidate.ref === ref);
    if (!project) throw new ApiError("VALIDATION_FAILED", `projects: no project ${ref} in this organization`);
    return project.id;
  });
  if (change.role === "member" && projectIds.length === 0) throw new ApiError("VALIDATION_FAILED", "projects: a member needs at least one project");
  await db.sql.begin(async (tx) => {
    const role = await organizationMemberRole(tx, organizationId, userId);
    if (role === null) throw new ApiError("NOT_FOUND", "No such member of this organization");
    if (role === "admin" && change.role === "member" && (await organizationAdminsCount(tx, organizationId)) <= 1) {
      throw new ApiError("CONFLICT", "The last admin of an organization cannot become a member");
    }
    await organizationMembersSetRole(tx, organizationId, userId, change.role);
    await projectMembersReplace(tx, organizationId, userId, projectIds, change.prodAccess);
  });
}

/** Changes the password after checking the current one; every other session of the user ends. */
export async function changePassword(db: Db, userId: string, current: string, next: string, keepSession: Buffer | null): Promise<void> {
  const user = await usersFindById(db.sql, userId);
  if (!user || !(await verifyPassword(current, user.passwordHash))) throw new ApiError("VALIDATION_FAILED", "current: the current password is wrong");
  checkPassword(next, "password");
  const hash = await hashPassword(next);
  await db.sql.begin(async (tx) => {
    await usersSetPassword(tx, userId, hash);
    await sessionsDeleteForUser(tx, userId, keepSession);
  });
}

/** A one-time reset link (valid 1 hour) for the account of `email`, or null when there is none. */
export async function passwordResetLink(deps: Pick<TeamDeps, "db" | "now" | "publicUrl">, email: string): Promise<string | null> {
  const user = await usersFindByEmail(deps.db.sql, email);
  if (!user) return null;
  const token = newSecret();
  const now = deps.now();
  await passwordResetsInsert(deps.db.sql, { tokenHash: hashSecret(token), userId: user.id, now, expiresAt: new Date(now.getTime() + resetLifetimeMs) });
  return `${deps.publicUrl}/reset?token=${token}`;
}

/** Sets a new password through a reset link; every session of the user ends. Returns the user. */
export async function resetPassword(deps: Pick<TeamDeps, "db" | "now">, token: string, password: string): Promise<string> {
  checkPassword(password);
  const hash = await hashPassword(password);
  const userId = await deps.db.sql.begin(async (tx) => {
    const id = await passwordResetsConsume(tx, hashSecret(token), deps.now());
    if (!id) return null;
    await usersSetPassword(tx, id, hash);
    await sessionsDeleteForUser(tx, id);
    return id;
  });
  if (!userId) throw new ApiError("NOT_FOUND", "This reset link is invalid, used or expired");
  return userId;
}
