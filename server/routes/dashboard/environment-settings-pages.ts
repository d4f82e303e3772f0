// The environment settings page: how long this environment keeps finished runs (empty: the
// server-wide RATCHET_RUN_RETENTION_DAYS). Shortening it deletes history, so only organization
// admins change it; everyone who sees the environment sees the value.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { runRetentionBounds, runRetentionSetting } from "../../api/run-retention-setting.ts";
import { mayAdministerOrganization } from "../../dashboard/permissions.ts";
import { ApiError } from "../../errors.ts";
import { environmentsRunRetention, environmentsSetRunRetention } from "../../storage/run-retention.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };

export async function environmentSettingsPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const defaultDays = context.config.runRetentionDays;

  const page = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, extra: { error?: string; notice?: string; typed?: string } = {}) => {
    const retention = runRetentionSetting(await environmentsRunRetention(context.db.sql, scope.environment.environmentId), defaultDays);
    return render(
      request,
      reply,
      "environment-settings",
      {
        title: "Environment settings",
        retention,
        typed: extra.typed ?? (retention.days === null ? "" : String(retention.days)),
        bounds: runRetentionBounds,
        manage: mayAdministerOrganization(scope.environment.role),
        error: extra.error,
        notice: extra.notice,
      },
      scope,
      "settings",
    );
  };

  app.get<{ Params: Params }>("/p/:ref/:env/settings", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    return page(request, reply, scope);
  });

  app.post<{ Params: Params; Body: { runRetentionDays?: string } }>("/p/:ref/:env/settings/run-retention", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    if (!mayAdministerOrganization(scope.environment.role)) throw new ApiError("FORBIDDEN", "Only organization admins change how long runs are kept");
    const typed = String(request.body?.runRetentionDays ?? "").trim().slice(0, 16);
    let days: number | null = null;
    if (typed !== "") {
      days = /^\d+$/.test(typed) ? Number(typed) : Number.NaN;
      if (!Number.isInteger(days) || days < runRetentionBounds.min || days > runRetentionBounds.max) {
        return page(request, reply.code(400), scope, {
          typed,
          error: `runRetentionDays: a whole number of days from ${runRetentionBounds.min} to ${runRetentionBounds.max}, or empty for the server's default`,
        });
      }
    }
    await environmentsSetRunRetention(context.db.sql, scope.environment.environmentId, days);
    return page(request, reply, scope, { notice: days === null ? "This environment now follows the server's default." : `Finished runs are now kept for ${days} days.` });
  });
}
