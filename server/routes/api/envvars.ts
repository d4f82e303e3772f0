// Environment variables, as Trigger.dev names them: /api/v1/projects/{ref}/envvars/{env} (list,
// create), /{name} (retrieve, update, delete), /import. A secret key manages the variables of its
// own environment only: a dev key, which every developer has, cannot read or change prod's.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import {
  createVariable,
  deleteVariable,
  findVariable,
  listVariables,
  setVariables,
  shownValue,
  updateVariable,
  type EnvvarsDeps,
} from "../../engine/envvars.ts";
import { ApiError } from "../../errors.ts";
import { environmentsFindByProjectRef } from "../../storage/envvars.ts";

const environmentParams = z.object({ projectRef: z.string().min(1).max(64), slug: z.string().min(1).max(64) });
const variableParams = environmentParams.extend({ name: z.string().min(1).max(256) });

/** The environment the path names, when the caller's key may manage it. */
async function environmentOf(context: AppContext, request: FastifyRequest, params: { projectRef: string; slug: string }): Promise<string> {
  const caller = request.environment;
  // Another project's ref answers as if it did not exist: a key learns nothing of other projects.
  if (params.projectRef !== caller.projectRef) throw new ApiError("NOT_FOUND", `No project ${params.projectRef}`);
  const target = await environmentsFindByProjectRef(context.db.sql, params.projectRef, params.slug);
  if (!target) throw new ApiError("NOT_FOUND", `No environment ${params.slug} in project ${params.projectRef}`);
  if (target.environmentId !== caller.environmentId) {
    throw new ApiError("FORBIDDEN", `This key belongs to the ${caller.environmentSlug} environment; use a key of ${target.environmentSlug} to manage its variables`);
  }
  return target.environmentId;
}

export async function envvarRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const deps: EnvvarsDeps = { db: context.db, keyring: context.keyring, now: () => context.clock.now() };
  const base = "/api/v1/projects/:projectRef/envvars/:slug";

  routes.get(base, { schema: { params: environmentParams } }, async (request) => {
    const environmentId = await environmentOf(context, request, request.params);
    return (await listVariables(deps, environmentId)).map(shownValue);
  });

  routes.post(
    base,
    { schema: { params: environmentParams, body: z.object({ name: z.string().min(1).max(256), value: z.string(), isSecret: z.boolean().optional() }) } },
    async (request) => {
      const environmentId = await environmentOf(context, request, request.params);
      await createVariable(deps, environmentId, request.body);
      return { success: true };
    },
  );

  routes.post(
    `${base}/import`,
    {
      schema: {
        params: environmentParams,
        body: z.object({
          variables: z.record(z.string(), z.string()),
          parentVariables: z.record(z.string(), z.string()).optional(),
          override: z.boolean().optional(),
          isSecret: z.boolean().optional(),
          source: z.unknown().optional(),
        }),
      },
    },
    async (request) => {
      const environmentId = await environmentOf(context, request, request.params);
      const { variables, parentVariables, override, isSecret } = request.body;
      // Variables of a parent environment come first; the environment's own win over them.
      const merged = { ...parentVariables, ...variables };
      const inputs = Object.entries(merged).map(([name, value]) => ({ name, value, isSecret }));
      await setVariables(deps, environmentId, inputs, { override: override ?? false, field: "body.variables" });
      return { success: true };
    },
  );

  routes.get(`${base}/:name`, { schema: { params: variableParams } }, async (request) => {
    const environmentId = await environmentOf(context, request, request.params);
    return shownValue(await findVariable(deps, environmentId, request.params.name));
  });

  routes.put(`${base}/:name`, { schema: { params: variableParams, body: z.object({ value: z.string() }) } }, async (request) => {
    const environmentId = await environmentOf(context, request, request.params);
    await updateVariable(deps, environmentId, request.params.name, request.body.value);
    return { success: true };
  });

  routes.delete(`${base}/:name`, { schema: { params: variableParams } }, async (request) => {
    const environmentId = await environmentOf(context, request, request.params);
    await deleteVariable(deps, environmentId, request.params.name);
    return { success: true };
  });
}
