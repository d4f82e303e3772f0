// GET and PUT /api/v1/run-retention: read and change how long the key's environment keeps finished
// runs (docs/run-retention.md). Ratchet's own route: Trigger.dev has no such setting in its API.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { runRetentionBounds, runRetentionSetting } from "../../api/run-retention-setting.ts";
import { environmentsRunRetention, environmentsSetRunRetention } from "../../storage/run-retention.ts";

const body = z.object({
  days: z.number().int().min(runRetentionBounds.min).max(runRetentionBounds.max).nullable(),
});

export async function runRetentionRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const defaultDays = context.config.runRetentionDays;

  routes.get("/api/v1/run-retention", async (request) =>
    runRetentionSetting(await environmentsRunRetention(context.db.sql, request.environment.environmentId), defaultDays),
  );

  routes.put("/api/v1/run-retention", { schema: { body } }, async (request) => {
    await environmentsSetRunRetention(context.db.sql, request.environment.environmentId, request.body.days);
    return runRetentionSetting(request.body.days, defaultDays);
  });
}
