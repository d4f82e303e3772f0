// The deployments page: every version of the environment with its tasks and status, the current one
// marked, and a Promote button (CSRF-protected) on each other DEPLOYED version.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { promoteDeployment } from "../../engine/deployments.ts";
import { ApiError } from "../../errors.ts";
import { deploymentsList } from "../../storage/deployments.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };

export async function deploymentPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, engine } = context;

  const deploymentsPage = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, error?: string) => {
    const rows = await deploymentsList(db.sql, scope.environment.environmentId, { limit: 200 });
    return render(
      request,
      reply,
      "deployments",
      {
        title: "Deployments",
        error,
        pinned: scope.environment.environmentType !== "dev",
        deployments: rows.map((deployment) => ({
          version: deployment.version,
          shortCode: deployment.shortCode,
          status: deployment.status,
          isCurrent: deployment.isCurrent,
          tasks: deployment.tasks,
          source: deployment.imageReference ?? (deployment.hasBundle ? "bundle" : "worker"),
          createdAt: deployment.createdAt.toISOString(),
          promotable: deployment.status === "DEPLOYED" && !deployment.isCurrent && deployment.tasks.length > 0,
          error: deployment.error?.message ?? null,
        })),
      },
      scope,
      "deployments",
    );
  };

  app.get<{ Params: Params }>("/p/:ref/:env/deployments", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    return deploymentsPage(request, reply, scope);
  });

  app.post<{ Params: Params & { version: string } }>("/p/:ref/:env/deployments/:version/promote", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    try {
      await promoteDeployment(engine, scope.environment, request.params.version);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode < 500) return deploymentsPage(request, reply.code(error.statusCode), scope, error.message);
      throw error;
    }
    return reply.redirect(`${scope.base}/deployments`, 303);
  });
}
