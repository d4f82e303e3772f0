// The alerts page: the environment's channels (create, delete; a webhook's signing secret shown once)
// and the history of deliveries with their attempts and last error. Changes in prod are for admins.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { channelObject, createAlertChannel } from "../../engine/alerts.ts";
import { ApiError } from "../../errors.ts";
import { alertChannelsDelete, alertChannelsList, alertDeliveriesList } from "../../storage/alerts.ts";
import { channelBody, deliveryObject } from "../api/alerts.ts";
import { mayManageVariables } from "./envvar-pages.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };

const list = (text: string | undefined) =>
  (text ?? "")
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);

export async function alertPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const page = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, extra: { error?: string; secret?: string } = {}) => {
    const environmentId = scope.environment.environmentId;
    const [channels, deliveries] = await Promise.all([alertChannelsList(context.db.sql, environmentId), alertDeliveriesList(context.db.sql, environmentId, 100)]);
    const names = new Map(channels.map((channel) => [channel.id, channel.name || channel.type]));
    return render(
      request,
      reply,
      "alerts",
      {
        title: "Alerts",
        ...extra,
        manage: mayManageVariables(scope),
        smtp: context.config.smtpUrl !== undefined,
        channels: channels.map(channelObject),
        deliveries: deliveries.map((row) => ({ ...deliveryObject(row), channel: names.get(row.channelId) ?? row.channelId })),
      },
      scope,
      "alerts",
    );
  };

  app.get<{ Params: Params }>("/p/:ref/:env/alerts", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    return page(request, reply, scope);
  });

  app.post<{ Params: Params; Body: { type?: string; name?: string; url?: string; emails?: string; tasks?: string; backlogMinutes?: string } }>(
    "/p/:ref/:env/alerts",
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const scope = await scopeOf(request, reply);
      if (!scope) return reply;
      if (!mayManageVariables(scope)) throw new ApiError("FORBIDDEN", "Only admins and members with prod access change prod's alerts");
      const body = request.body ?? {};
      const parsed = channelBody.safeParse({
        type: body.type,
        name: body.name || undefined,
        url: body.type === "email" ? undefined : body.url?.trim() || undefined,
        emails: body.type === "email" ? list(body.emails) : undefined,
        tasks: list(body.tasks),
        backlogMinutes: body.backlogMinutes?.trim() ? Number(body.backlogMinutes) : undefined,
      });
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return page(request, reply.code(400), scope, { error: `${issue.path.join(".")}: ${issue.message}` });
      }
      try {
        const { secret } = await createAlertChannel(context.alertDeps, scope.environment.environmentId, parsed.data);
        return page(request, reply, scope, { secret: secret ?? undefined });
      } catch (error) {
        if (error instanceof ApiError && error.statusCode === 400) return page(request, reply.code(400), scope, { error: error.message });
        throw error;
      }
    },
  );

  app.post<{ Params: Params & { channelId: string } }>("/p/:ref/:env/alerts/:channelId/delete", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    if (!mayManageVariables(scope)) throw new ApiError("FORBIDDEN", "Only admins and members with prod access change prod's alerts");
    const id = request.params.channelId;
    if (!/^[0-9a-f-]{36}$/.test(id) || !(await alertChannelsDelete(context.db.sql, scope.environment.environmentId, id))) {
      throw new ApiError("NOT_FOUND", "No such alert channel in this environment");
    }
    return reply.redirect(`${scope.base}/alerts`, 303);
  });
}
