// GET /api/v1/timezones: the IANA time zones schedules accept. Public, as on Trigger.dev.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { allTimezones } from "../engine/cron.ts";

export async function timezoneRoutes(app: FastifyInstance): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    "/api/v1/timezones",
    { schema: { querystring: z.object({ excludeUtc: z.enum(["true", "false"]).optional() }) } },
    async (request) => {
      const zones = allTimezones();
      return { timezones: request.query.excludeUtc === "true" ? zones : ["UTC", ...zones.filter((zone) => zone !== "UTC")] };
    },
  );
}
