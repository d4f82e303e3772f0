// Deployments as Trigger.dev names them (list, current; the official SDK's deployments.*), plus what
// `ratchet deploy` and operators need: create, finish, promote, roll back, fetch a stored bundle.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { limits } from "../../api/limits.ts";
import { createDeployment, finishDeployment, promoteDeployment, rollbackDeployment } from "../../engine/deployments.ts";
import { parseDurationMs } from "../../engine/durations.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId, toPublicId } from "../../ids.ts";
import { deploymentsBundle, deploymentsFindByVersion, deploymentsFindCurrent, deploymentsList, type DeploymentRow } from "../../storage/deployments.ts";

const versionSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, "letters, digits and . _ + - only");

/** The shape of the official SDK's ApiDeploymentListResponseItem, with Ratchet's additions. */
export function deploymentItem(deployment: DeploymentRow) {
  return {
    id: toPublicId("deployment", deployment.id),
    createdAt: deployment.createdAt.toISOString(),
    shortCode: deployment.shortCode,
    version: deployment.version,
    runtime: "node",
    runtimeVersion: null,
    status: deployment.status,
    deployedAt: deployment.deployedAt?.toISOString(),
    error: deployment.error ? { name: deployment.error.name ?? "Error", message: deployment.error.message } : undefined,
    imageReference: deployment.imageReference,
    hasBundle: deployment.hasBundle,
    isCurrent: deployment.isCurrent,
    promotedAt: deployment.promotedAt?.toISOString() ?? null,
    tasks: deployment.tasks,
  };
}

function timeParam(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new ApiError("VALIDATION_FAILED", `${name}: must be an ISO 8601 date`);
  return date;
}

export async function deploymentRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { engine } = context;
  const versionParams = z.object({ version: versionSchema });

  routes.get(
    "/api/v1/deployments",
    {
      schema: {
        querystring: z.object({
          status: z.enum(["PENDING", "BUILDING", "DEPLOYING", "DEPLOYED", "FAILED", "CANCELED", "TIMED_OUT"]).optional(),
          from: z.string().max(64).optional(),
          to: z.string().max(64).optional(),
          period: z.string().max(16).optional(),
          "page[size]": z.coerce.number().int().min(1).max(limits.pageSizeMax).optional(),
          "page[after]": z.string().max(64).optional(),
        }),
      },
    },
    async (request) => {
      const query = request.query;
      const size = query["page[size]"] ?? limits.pageSizeDefault;
      let afterId: string | undefined;
      if (query["page[after]"] !== undefined) {
        afterId = fromPublicId("deployment", query["page[after]"]) ?? undefined;
        if (!afterId) throw new ApiError("VALIDATION_FAILED", "page[after]: must be a deployment id");
      }
      let from = timeParam(query.from, "from");
      if (query.period !== undefined) {
        const periodMs = parseDurationMs(query.period);
        if (periodMs === null) throw new ApiError("VALIDATION_FAILED", 'period: must be a duration like "1d"');
        from = new Date(engine.clock.now().getTime() - periodMs);
      }
      // Statuses Ratchet never uses match nothing rather than everything.
      const status = query.status === "BUILDING" || query.status === "DEPLOYED" || query.status === "FAILED" ? query.status : undefined;
      if (query.status !== undefined && status === undefined) return { data: [], pagination: {} };
      const rows = await deploymentsList(context.db.sql, request.environment.environmentId, {
        status,
        afterId,
        from,
        to: timeParam(query.to, "to"),
        limit: size + 1,
      });
      const page = rows.slice(0, size);
      const next = rows.length > size ? toPublicId("deployment", page.at(-1)!.id) : undefined;
      return { data: page.map(deploymentItem), pagination: next ? { next } : {} };
    },
  );

  routes.get("/api/v1/deployments/current", async (request) => {
    const current = await deploymentsFindCurrent(context.db.sql, request.environment.environmentId);
    if (!current) throw new ApiError("NOT_FOUND", "No deployment is current in this environment");
    return deploymentItem(current);
  });

  routes.get("/api/v1/deployments/:version", { schema: { params: versionParams } }, async (request) => {
    const deployment = await deploymentsFindByVersion(context.db.sql, request.environment.environmentId, request.params.version);
    if (!deployment) throw new ApiError("NOT_FOUND", `No deployment of version ${request.params.version}`);
    return deploymentItem(deployment);
  });

  routes.post(
    "/api/v1/deployments",
    {
      bodyLimit: 96 * 1024 * 1024,
      schema: {
        body: z.object({
          version: versionSchema,
          // The bundle (base64), for the process runner when no image is built.
          bundle: z.string().max(90 * 1024 * 1024).optional(),
          contentHash: z.string().max(128).optional(),
          imageReference: z.string().min(1).max(512).optional(),
          // Ready now (a bundle needs no build); otherwise BUILDING until finished.
          ready: z.boolean().default(false),
        }),
      },
    },
    async (request, reply) => {
      const body = request.body;
      const deployment = await createDeployment(engine, request.environment, {
        version: body.version,
        bundle: body.bundle === undefined ? null : Buffer.from(body.bundle, "base64"),
        contentHash: body.contentHash ?? null,
        imageReference: body.imageReference ?? null,
        ready: body.ready,
      });
      return reply.code(201).send(deploymentItem(deployment));
    },
  );

  routes.post(
    "/api/v1/deployments/:version/finish",
    {
      schema: {
        params: versionParams,
        body: z.discriminatedUnion("status", [
          z.object({ status: z.literal("DEPLOYED"), imageReference: z.string().min(1).max(512).optional() }),
          z.object({ status: z.literal("FAILED"), error: z.object({ message: z.string().min(1).max(10_000) }) }),
        ]),
      },
    },
    async (request) => {
      const body = request.body;
      const outcome =
        body.status === "DEPLOYED" ? { status: "DEPLOYED" as const, imageReference: body.imageReference ?? null } : { status: "FAILED" as const, error: body.error };
      return deploymentItem(await finishDeployment(engine, request.environment, request.params.version, outcome));
    },
  );

  routes.post("/api/v1/deployments/:version/promote", { schema: { params: versionParams } }, async (request) =>
    deploymentItem(await promoteDeployment(engine, request.environment, request.params.version)),
  );

  routes.post("/api/v1/deployments/rollback", async (request) => deploymentItem(await rollbackDeployment(engine, request.environment)));

  routes.get("/api/v1/deployments/:version/bundle", { schema: { params: versionParams } }, async (request, reply) => {
    const bundle = await deploymentsBundle(context.db.sql, request.environment.environmentId, request.params.version);
    if (!bundle) throw new ApiError("NOT_FOUND", `Deployment ${request.params.version} has no stored bundle`);
    return reply.type("application/octet-stream").send(bundle);
  });
}
