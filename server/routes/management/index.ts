// Management routes for the CLI, authenticated by a personal access token instead of a secret key:
// who the token belongs to, the projects that user may see (and creating one, for admins), and the
// secret keys of their environments. Who may do what is dashboard/permissions.ts, as on the dashboard.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { requireAccessToken } from "../../auth/authenticate-user.ts";
import { issueSecretKey } from "../../auth/issue-key.ts";
import { mayAdministerOrganization, mayHandleSecrets } from "../../dashboard/permissions.ts";
import { createProject } from "../../engine/teams.ts";
import { ApiError } from "../../errors.ts";
import { apiKeysList, apiKeysRevoke } from "../../storage/api-keys.ts";
import { organizationsForUser } from "../../storage/teams.ts";
import { environmentTypes } from "../../storage/tenancy.ts";
import { environmentsForUser, type DashboardEnvironment } from "../../storage/users.ts";
import { projectRunRoutes } from "./project-runs.ts";

const environmentParams = z.object({
  ref: z.string().min(1).max(100),
  env: z.enum(environmentTypes as [string, ...string[]]),
});

export async function managementRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const { db, clock } = context;
  app.addHook("preHandler", requireAccessToken(db, clock));
  const routes = app.withTypeProvider<ZodTypeProvider>();
  await app.register(async (scope) => projectRunRoutes(scope, context));

  /** The environment named by the URL, if the token's user may see it (404 otherwise, as if absent). */
  const environmentOf = async (userId: string, ref: string, env: string): Promise<DashboardEnvironment> => {
    const environments = await environmentsForUser(db.sql, userId);
    const environment = environments.find((candidate) => candidate.projectRef === ref && candidate.environmentType === env);
    if (!environment) throw new ApiError("NOT_FOUND", `No project ${ref} with a ${env} environment that you may see`);
    return environment;
  };
  const requireKeyAccess = (environment: DashboardEnvironment) => {
    if (!mayHandleSecrets(environment)) throw new ApiError("FORBIDDEN", "Only admins and members with prod access see and make prod's keys");
  };

  routes.get("/api/v1/me", async (request) => ({
    user: { id: request.accessUser.userId, email: request.accessUser.email, name: request.accessUser.name },
  }));

  routes.get("/api/v1/projects", async (request) => {
    const environments = await environmentsForUser(db.sql, request.accessUser.userId);
    const projects = new Map<string, { ref: string; name: string; organization: string; role: string; environments: string[] }>();
    for (const environment of environments) {
      const project = projects.get(environment.projectRef) ?? {
        ref: environment.projectRef,
        name: environment.projectName,
        organization: environment.organizationSlug,
        role: environment.role,
        environments: [],
      };
      project.environments.push(environment.environmentType);
      projects.set(environment.projectRef, project);
    }
    return { data: [...projects.values()] };
  });

  // The organization is named by its slug; a user in exactly one may leave it out. An organization
  // the user is not in answers like one that does not exist.
  routes.post(
    "/api/v1/projects",
    { schema: { body: z.object({ name: z.string().min(1).max(200), organization: z.string().min(1).max(100).optional() }) } },
    async (request, reply) => {
      const organizations = await organizationsForUser(db.sql, request.accessUser.userId);
      const wanted = request.body.organization;
      const organization = wanted === undefined ? (organizations.length === 1 ? organizations[0] : undefined) : organizations.find((row) => row.slug === wanted);
      if (!organization) {
        if (wanted !== undefined) throw new ApiError("NOT_FOUND", `No organization ${wanted} that you belong to`);
        throw new ApiError("VALIDATION_FAILED", `organization: choose one of ${organizations.map((row) => row.slug).join(", ") || "(none)"}`);
      }
      if (!mayAdministerOrganization(organization.role)) throw new ApiError("FORBIDDEN", "Only admins of the organization create projects");
      const { project, devKey } = await createProject(db, { organizationId: organization.id, name: request.body.name, creatorUserId: request.accessUser.userId });
      return reply.code(201).send({
        ref: project.ref,
        name: project.name,
        organization: organization.slug,
        environments: [...environmentTypes],
        devKey,
      });
    },
  );

  routes.get("/api/v1/projects/:ref/environments/:env/keys", { schema: { params: environmentParams } }, async (request) => {
    const environment = await environmentOf(request.accessUser.userId, request.params.ref, request.params.env);
    requireKeyAccess(environment);
    const keys = (await apiKeysList(db.sql, environment.projectId)).filter((key) => key.environmentType === environment.environmentType);
    return {
      data: keys.map((key) => ({
        id: key.publicId,
        hint: key.keyHint,
        name: key.name,
        createdAt: key.createdAt.toISOString(),
        lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
        revokedAt: key.revokedAt?.toISOString() ?? null,
      })),
    };
  });

  routes.post(
    "/api/v1/projects/:ref/environments/:env/keys",
    { schema: { params: environmentParams, body: z.object({ name: z.string().max(200).default("") }).nullish() } },
    async (request, reply) => {
      const environment = await environmentOf(request.accessUser.userId, request.params.ref, request.params.env);
      requireKeyAccess(environment);
      const issued = await issueSecretKey(db.sql, {
        environment: environment.environmentType,
        projectRef: environment.projectRef,
        name: request.body?.name ?? "",
      });
      return reply.code(201).send({ id: issued.publicId, key: issued.key, project: issued.projectRef, environment: issued.environment });
    },
  );

  routes.delete(
    "/api/v1/projects/:ref/environments/:env/keys/:keyId",
    { schema: { params: environmentParams.extend({ keyId: z.string().min(1).max(100) }) } },
    async (request) => {
      const environment = await environmentOf(request.accessUser.userId, request.params.ref, request.params.env);
      requireKeyAccess(environment);
      const keys = await apiKeysList(db.sql, environment.projectId);
      const key = keys.find((candidate) => candidate.publicId === request.params.keyId && candidate.environmentType === environment.environmentType);
      if (!key || key.revokedAt) throw new ApiError("NOT_FOUND", `No active key ${request.params.keyId} in this environment`);
      await apiKeysRevoke(db.sql, { publicId: key.publicId }, clock.now());
      return { id: key.publicId, revoked: true };
    },
  );
}
