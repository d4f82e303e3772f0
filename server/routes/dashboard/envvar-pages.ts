// The environment variables page: list (values hidden until revealed; secrets never shown again),
// add one, paste a whole .env file, change a value, delete. Changes in prod are for admins.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import {
  createVariable,
  deleteVariable,
  findVariable,
  listVariables,
  parseDotenv,
  setVariables,
  updateVariable,
  type EnvvarsDeps,
} from "../../engine/envvars.ts";
import { ApiError } from "../../errors.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";
import { mayHandleSecrets } from "../../dashboard/permissions.ts";

type Params = { ref: string; env: string };

/** Whether the signed-in user may change (and reveal) this environment's variables. */
export function mayManageVariables(scope: DashboardScope): boolean {
  return mayHandleSecrets(scope.environment);
}

function requireManage(scope: DashboardScope): void {
  if (!mayManageVariables(scope)) throw new ApiError("FORBIDDEN", "Only admins and members with prod access see and change prod's variables");
}

export async function envvarPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const deps: EnvvarsDeps = { db: context.db, keyring: context.keyring, now: () => context.clock.now() };

  const page = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, message?: { error?: string; notice?: string }) => {
    const variables = await listVariables(deps, scope.environment.environmentId);
    return render(
      request,
      reply,
      "envvars",
      {
        title: "Environment variables",
        ...message,
        manage: mayManageVariables(scope),
        // Only names reach the page: a value is sent when someone asks to reveal it.
        variables: variables.map((variable) => ({ name: variable.name, isSecret: variable.isSecret })),
      },
      scope,
      "envvars",
    );
  };

  /** Runs a change; a refused one (bad name, too large) shows the page again with the reason. */
  const change = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, action: (scope: DashboardScope) => Promise<string | void>) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    requireManage(scope);
    try {
      const notice = await action(scope);
      if (notice) return page(request, reply, scope, { notice });
    } catch (error) {
      if (error instanceof ApiError && error.statusCode < 500 && error.code !== "FORBIDDEN") {
        return page(request, reply.code(error.statusCode), scope, { error: error.message });
      }
      throw error;
    }
    return reply.redirect(`${scope.base}/envvars`, 303);
  };

  app.get<{ Params: Params }>("/p/:ref/:env/envvars", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    requireManage(scope);
    return page(request, reply, scope);
  });

  // A POST (with the CSRF token), so that no link or image on another site can make it answer.
  app.post<{ Params: Params & { name: string } }>("/p/:ref/:env/envvars/:name/reveal", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    requireManage(scope);
    const variable = await findVariable(deps, scope.environment.environmentId, request.params.name);
    if (variable.isSecret) throw new ApiError("FORBIDDEN", "A secret's value cannot be shown again; set a new one instead");
    void reply.header("cache-control", "no-store");
    return reply.type("text/plain; charset=utf-8").send(variable.value);
  });

  app.post<{ Params: Params; Body: { name?: string; value?: string; secret?: string } }>(
    "/p/:ref/:env/envvars",
    { preHandler: app.csrfProtection },
    async (request, reply) =>
      change(request, reply, async (scope) => {
        const name = (request.body?.name ?? "").trim();
        await createVariable(deps, scope.environment.environmentId, { name, value: request.body?.value ?? "", isSecret: request.body?.secret === "on" });
      }),
  );

  app.post<{ Params: Params; Body: { dotenv?: string; override?: string; secret?: string } }>(
    "/p/:ref/:env/envvars/import",
    { preHandler: app.csrfProtection },
    async (request, reply) =>
      change(request, reply, async (scope) => {
        const parsed = parseDotenv(request.body?.dotenv ?? "");
        const inputs = Object.entries(parsed).map(([name, value]) => ({ name, value, isSecret: request.body?.secret === "on" }));
        if (inputs.length === 0) throw new ApiError("VALIDATION_FAILED", "dotenv: no NAME=value lines found");
        const written = await setVariables(deps, scope.environment.environmentId, inputs, { override: request.body?.override === "on", field: "dotenv" });
        const skipped = inputs.length - written.length;
        return `Saved ${written.length} variable${written.length === 1 ? "" : "s"}${skipped > 0 ? `; ${skipped} already existed and were kept (tick "replace existing" to overwrite them)` : ""}.`;
      }),
  );

  app.post<{ Params: Params & { name: string }; Body: { value?: string } }>(
    "/p/:ref/:env/envvars/:name",
    { preHandler: app.csrfProtection },
    async (request, reply) => change(request, reply, (scope) => updateVariable(deps, scope.environment.environmentId, request.params.name, request.body?.value ?? "")),
  );

  app.post<{ Params: Params & { name: string } }>(
    "/p/:ref/:env/envvars/:name/delete",
    { preHandler: app.csrfProtection },
    async (request, reply) => change(request, reply, (scope) => deleteVariable(deps, scope.environment.environmentId, request.params.name)),
  );
}
