// Alert channels of the key's environment, and the history of what was sent: /api/v1/alerts/channels
// (list, create), /{channelId} (get, delete), /api/v1/alerts/deliveries. See docs/alerts.md.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { taskIdentifierSchema } from "../../api/trigger-schema.ts";
import { channelObject, createAlertChannel } from "../../engine/alerts.ts";
import { ApiError } from "../../errors.ts";
import { alertChannelsDelete, alertChannelsFind, alertChannelsList, alertDeliveriesList } from "../../storage/alerts.ts";

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).max(2000);

export const channelBody = z.object({
  type: z.enum(["webhook", "email", "slack"]),
  name: z.string().max(200).optional(),
  url: httpUrl.optional(),
  emails: z.array(z.email().max(320)).min(1).max(20).optional(),
  tasks: z.array(taskIdentifierSchema).max(100).optional(),
  secret: z.string().min(16).max(200).optional(),
  backlogMinutes: z.number().int().min(1).max(10_080).optional(),
});

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function channelId(id: string): string {
  if (!uuidPattern.test(id)) throw new ApiError("NOT_FOUND", `No alert channel ${id}`);
  return id;
}

export function deliveryObject(row: Awaited<ReturnType<typeof alertDeliveriesList>>[number]) {
  return {
    id: row.id,
    channelId: row.channelId,
    kind: row.kind,
    task: row.taskIdentifier,
    runCount: row.runCount,
    status: row.status,
    attempts: row.attempts,
    lastError: row.lastError ?? undefined,
    createdAt: row.createdAt.toISOString(),
    deliveredAt: row.deliveredAt?.toISOString(),
    nextAttemptAt: row.status === "pending" ? row.nextAttemptAt.toISOString() : undefined,
  };
}

export async function alertRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ channelId: z.string().min(1).max(64) });

  routes.get("/api/v1/alerts/channels", async (request) => ({
    data: (await alertChannelsList(context.db.sql, request.environment.environmentId)).map(channelObject),
  }));

  routes.post("/api/v1/alerts/channels", { schema: { body: channelBody } }, async (request) => {
    const { channel, secret } = await createAlertChannel(context.alertDeps, request.environment.environmentId, request.body);
    // The signing secret is shown here only; it is stored sealed.
    return { ...channelObject(channel), ...(secret ? { secret } : {}) };
  });

  routes.get("/api/v1/alerts/channels/:channelId", { schema: { params } }, async (request) => {
    const channel = await alertChannelsFind(context.db.sql, request.environment.environmentId, channelId(request.params.channelId));
    if (!channel) throw new ApiError("NOT_FOUND", `No alert channel ${request.params.channelId}`);
    return channelObject(channel);
  });

  routes.delete("/api/v1/alerts/channels/:channelId", { schema: { params } }, async (request) => {
    if (!(await alertChannelsDelete(context.db.sql, request.environment.environmentId, channelId(request.params.channelId)))) {
      throw new ApiError("NOT_FOUND", `No alert channel ${request.params.channelId}`);
    }
    return { success: true };
  });

  routes.get(
    "/api/v1/alerts/deliveries",
    { schema: { querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }) } },
    async (request) => ({
      data: (await alertDeliveriesList(context.db.sql, request.environment.environmentId, request.query.limit)).map(deliveryObject),
    }),
  );
}
