// Pages of the organization and the account: projects (create), members (invite by link or email,
// remove), password (change), and the public pages behind one-time links: accept an invitation,
// reset a password, ask for a reset link by email.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { mayAdministerOrganization } from "../../dashboard/permissions.ts";
import { hashSecret, newSecret, sessionCookie, sessionLifetimeMs } from "../../dashboard/sessions.ts";
import { acceptInvitation, changePassword, createProject, inviteMember, passwordResetLink, removeMember, resetPassword, updateMember, type TeamDeps } from "../../engine/teams.ts";
import { sendEmail } from "../../engine/mailer.ts";
import { ApiError } from "../../errors.ts";
import { invitationsFindValid, invitationsPending, organizationMembersList, organizationsForUser, passwordResetsValid, type OrganizationRow } from "../../storage/teams.ts";
import { environmentsForUser, sessionsInsert } from "../../storage/users.ts";
import { render } from "./render.ts";

type Form = Record<string, string | string[] | undefined>;

const text = (value: string | string[] | undefined) => (Array.isArray(value) ? (value[0] ?? "") : (value ?? ""));
const many = (value: string | string[] | undefined) => (Array.isArray(value) ? value : value ? [value] : []);

export async function teamPages(app: FastifyInstance, context: AppContext): Promise<void> {
  const { db, clock } = context;
  const deps: TeamDeps = { db, now: () => clock.now(), publicUrl: context.config.publicUrl, mail: { smtpUrl: context.config.smtpUrl, emailFrom: context.config.emailFrom } };
  const secure = context.config.publicUrl.startsWith("https://");

  const signIn = async (reply: FastifyReply, userId: string) => {
    const token = newSecret();
    const now = clock.now();
    await sessionsInsert(db.sql, { tokenHash: hashSecret(token), userId, expiresAt: new Date(now.getTime() + sessionLifetimeMs) }, now);
    void reply.setCookie(sessionCookie, token, { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: sessionLifetimeMs / 1000 });
  };

  /** The signed-in user's organization (the first one), or a redirect to sign in. */
  const organizationOf = async (request: FastifyRequest, reply: FastifyReply): Promise<OrganizationRow | null> => {
    if (!request.user) {
      await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
      return null;
    }
    const [organization] = await organizationsForUser(db.sql, request.user.userId);
    if (!organization) throw new ApiError("FORBIDDEN", "You are not a member of any organization");
    return organization;
  };
  const requireAdmin = (organization: OrganizationRow) => {
    if (!mayAdministerOrganization(organization.role)) throw new ApiError("FORBIDDEN", "Only admins of the organization do that");
  };

  /** A refused change shows its page again with the reason; anything else goes on as an error. */
  const refusal = (error: unknown): string => {
    if (error instanceof ApiError && error.statusCode < 500 && error.code !== "FORBIDDEN" && error.code !== "NOT_FOUND") return error.message;
    throw error;
  };

  // Projects ------------------------------------------------------------------------------------

  const projectsPage = async (request: FastifyRequest, reply: FastifyReply, organization: OrganizationRow, extra: Record<string, unknown> = {}) => {
    const environments = await environmentsForUser(db.sql, request.user!.userId);
    const projects = [...new Map(environments.map((environment) => [environment.projectRef, { ref: environment.projectRef, name: environment.projectName }])).values()];
    return render(request, reply, "projects", { title: "Projects", organization: organization.name, admin: organization.role === "admin", projects, ...extra }, undefined, "/settings/projects");
  };

  app.get("/settings/projects", async (request, reply) => {
    const organization = await organizationOf(request, reply);
    if (!organization) return reply;
    return projectsPage(request, reply, organization);
  });

  app.post<{ Body: Form }>("/settings/projects", { preHandler: app.csrfProtection }, async (request, reply) => {
    const organization = await organizationOf(request, reply);
    if (!organization) return reply;
    requireAdmin(organization);
    try {
      const { project, devKey } = await createProject(db, { organizationId: organization.id, name: text(request.body?.name), creatorUserId: request.user!.userId });
      return projectsPage(request, reply, organization, { created: { ref: project.ref, name: project.name, devKey } });
    } catch (error) {
      return projectsPage(request, reply.code(400), organization, { error: refusal(error) });
    }
  });

  // Members -------------------------------------------------------------------------------------

  const membersPage = async (request: FastifyRequest, reply: FastifyReply, organization: OrganizationRow, extra: Record<string, unknown> = {}) => {
    const [members, pending, environments] = await Promise.all([
      organizationMembersList(db.sql, organization.id),
      invitationsPending(db.sql, organization.id, clock.now()),
      environmentsForUser(db.sql, request.user!.userId),
    ]);
    const projects = [...new Map(environments.filter((environment) => environment.organizationId === organization.id).map((environment) => [environment.projectRef, { ref: environment.projectRef, name: environment.projectName }])).values()];
    return render(
      request,
      reply,
      "members",
      {
        title: "Members",
        organization: organization.name,
        smtp: context.config.smtpUrl !== undefined,
        me: request.user!.userId,
        members: members.map((member) => ({ ...member, joinedAt: member.joinedAt.toISOString().slice(0, 10) })),
        pending: pending.map((invitation) => ({ ...invitation, expiresAt: invitation.expiresAt.toISOString().slice(0, 16).replace("T", " ") })),
        projects,
        ...extra,
      },
      undefined,
      "/settings/members",
    );
  };

  app.get("/settings/members", async (request, reply) => {
    const organization = await organizationOf(request, reply);
    if (!organization) return reply;
    requireAdmin(organization);
    return membersPage(request, reply, organization);
  });

  app.post<{ Body: Form }>("/settings/members/invite", { preHandler: app.csrfProtection }, async (request, reply) => {
    const organization = await organizationOf(request, reply);
    if (!organization) return reply;
    requireAdmin(organization);
    const body = request.body ?? {};
    const role = text(body.role) === "admin" ? "admin" : "member";
    try {
      const { link, emailed } = await inviteMember(deps, {
        organizationId: organization.id,
        invitedBy: request.user!.userId,
        email: text(body.email),
        role,
        projectRefs: many(body.projects),
        prodAccess: text(body.prodAccess) === "on",
      });
      return membersPage(request, reply, organization, { link, emailed: emailed ? text(body.email) : undefined });
    } catch (error) {
      return membersPage(request, reply.code(400), organization, { error: refusal(error) });
    }
  });

  app.post<{ Params: { userId: string } }>("/settings/members/:userId/remove", { preHandler: app.csrfProtection }, async (request, reply) => {
    const organization = await organizationOf(request, reply);
    if (!organization) return reply;
    requireAdmin(organization);
    if (!/^[0-9a-f-]{36}$/.test(request.params.userId)) throw new ApiError("NOT_FOUND", "No such member of this organization");
    try {
      await removeMember(db, organization.id, request.params.userId);
    } catch (error) {
      return membersPage(request, reply.code(409), organization, { error: refusal(error) });
    }
    return reply.redirect("/settings/members", 303);
  });

  app.post<{ Params: { userId: string }; Body: Form }>("/settings/members/:userId", { preHandler: app.csrfProtection }, async (request, reply) => {
    const organization = await organizationOf(request, reply);
    if (!organization) return reply;
    requireAdmin(organization);
    if (!/^[0-9a-f-]{36}$/.test(request.params.userId)) throw new ApiError("NOT_FOUND", "No such member of this organization");
    const body = request.body ?? {};
    try {
      await updateMember(db, organization.id, request.params.userId, {
        role: text(body.role) === "admin" ? "admin" : "member",
        projectRefs: many(body.projects),
        prodAccess: text(body.prodAccess) === "on",
      });
    } catch (error) {
      return membersPage(request, reply.code(400), organization, { error: refusal(error) });
    }
    return reply.redirect("/settings/members", 303);
  });

  // Password ------------------------------------------------------------------------------------

  app.get("/settings/password", async (request, reply) => {
    if (!request.user) return reply.redirect("/login?next=/settings/password");
    return render(request, reply, "password", { title: "Password" }, undefined, "/settings/password");
  });

  app.post<{ Body: Form }>("/settings/password", { preHandler: app.csrfProtection }, async (request, reply) => {
    if (!request.user) return reply.redirect("/login?next=/settings/password");
    const token = request.cookies[sessionCookie];
    try {
      await changePassword(db, request.user.userId, text(request.body?.current), text(request.body?.password), token ? hashSecret(token) : null);
    } catch (error) {
      return render(request, reply.code(400), "password", { title: "Password", error: refusal(error) }, undefined, "/settings/password");
    }
    return render(request, reply, "password", { title: "Password", notice: "Your password is changed; your other sessions have ended." }, undefined, "/settings/password");
  });

  // One-time links ------------------------------------------------------------------------------

  app.get<{ Querystring: { token?: string } }>("/invite", async (request, reply) => {
    const token = request.query.token ?? "";
    const invitation = await invitationsFindValid(db.sql, hashSecret(token), clock.now());
    if (!invitation) return reply.code(404).type("text/plain").send("This invitation link is invalid, used or expired.");
    return render(request, reply, "invite", { title: "Join Ratchet", token, organization: invitation.organizationName, role: invitation.role, email: invitation.email ?? "" });
  });

  app.post<{ Body: Form }>("/invite", { preHandler: app.csrfProtection }, async (request, reply) => {
    const body = request.body ?? {};
    const token = text(body.token);
    const invitation = await invitationsFindValid(db.sql, hashSecret(token), clock.now());
    if (!invitation) return reply.code(404).type("text/plain").send("This invitation link is invalid, used or expired.");
    try {
      const userId = await acceptInvitation(deps, token, { email: invitation.email ?? text(body.email), name: text(body.name), password: text(body.password) });
      await signIn(reply, userId);
      return reply.redirect("/", 303);
    } catch (error) {
      const message = refusal(error);
      return render(request, reply.code(400), "invite", { title: "Join Ratchet", token, organization: invitation.organizationName, role: invitation.role, email: invitation.email ?? text(body.email), error: message });
    }
  });

  app.get<{ Querystring: { token?: string } }>("/reset", async (request, reply) => {
    const token = request.query.token ?? "";
    if (!(await passwordResetsValid(db.sql, hashSecret(token), clock.now()))) {
      return reply.code(404).type("text/plain").send("This reset link is invalid, used or expired.");
    }
    return render(request, reply, "reset", { title: "Choose a new password", token });
  });

  app.post<{ Body: Form }>("/reset", { preHandler: app.csrfProtection }, async (request, reply) => {
    const token = text(request.body?.token);
    try {
      const userId = await resetPassword(deps, token, text(request.body?.password));
      await signIn(reply, userId);
      return reply.redirect("/", 303);
    } catch (error) {
      if (error instanceof ApiError && error.code === "NOT_FOUND") return reply.code(404).type("text/plain").send("This reset link is invalid, used or expired.");
      return render(request, reply.code(400), "reset", { title: "Choose a new password", token, error: refusal(error) });
    }
  });

  app.get("/forgot", async (request, reply) => render(request, reply, "forgot", { title: "Reset your password", smtp: context.config.smtpUrl !== undefined }));

  app.post<{ Body: Form }>(
    "/forgot",
    { preHandler: app.csrfProtection, config: { rateLimit: { max: 5, timeWindow: "1 minute" } } },
    async (request, reply) => {
      const email = text(request.body?.email).trim().toLowerCase();
      const smtp = context.config.smtpUrl !== undefined;
      if (smtp && email.length <= 320 && email.isWellFormed() && !email.includes("\u0000")) {
        const link = await passwordResetLink(deps, email);
        // The same answer whether or not the address has an account.
        if (link) {
          await sendEmail(deps.mail, { to: email, subject: "Reset your Ratchet password", text: `Choose a new password with this link (valid for 1 hour, once):\n${link}\n\nIf you did not ask for it, ignore this email.` }).catch(
            (error: unknown) => request.log.warn({ err: error }, "could not send a password reset email"),
          );
        }
      }
      return render(request, reply, "forgot", { title: "Reset your password", smtp, sent: smtp });
    },
  );
}
