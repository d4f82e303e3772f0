// Schedules, as Trigger.dev names them: /api/v1/schedules (create, list), /{id} (get, put, delete),
// /{id}/activate, /{id}/deactivate.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { taskIdentifierSchema } from "../../api/trigger-schema.ts";
import {
  createSchedule,
  deleteSchedule,
  scheduleIdOrNotFound,
  scheduleObject,
  setScheduleActive,
  updateSchedule,
} from "../../engine/schedules.ts";
import { ApiError } from "../../errors.ts";
import { schedulesFind, schedulesList } from "../../storage/schedules.ts";

const scheduleBody = z.object({
  task: taskIdentifierSchema,
  cron: z.string().min(1).max(200),
  timezone: z.string().min(1).max(64).optional(),
  // Checked in the engine (schedule-window.ts), which names the field in its 400.
  window: z.string().min(1).max(16).optional(),
  externalId: z.string().min(1).max(256).optional(),
});

export async function scheduleRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { engine } = context;
  const params = z.object({ scheduleId: z.string().min(1).max(64) });

  routes.post(
    "/api/v1/schedules",
    { schema: { body: scheduleBody.extend({ deduplicationKey: z.string().min(1).max(256) }) } },
    async (request) => scheduleObject(await createSchedule(engine, request.environment, request.body)),
  );

  routes.get(
    "/api/v1/schedules",
    { schema: { querystring: z.object({ page: z.coerce.number().int().min(1).default(1), perPage: z.coerce.number().int().min(1).max(100).default(10) }) } },
    async (request) => {
      const { page, perPage } = request.query;
      const { rows, total } = await schedulesList(context.db.sql, request.environment.environmentId, { offset: (page - 1) * perPage, limit: perPage });
      return { data: rows.map(scheduleObject), pagination: { currentPage: page, totalPages: Math.max(1, Math.ceil(total / perPage)), count: total } };
    },
  );

  routes.get("/api/v1/schedules/:scheduleId", { schema: { params } }, async (request) => {
    const schedule = await schedulesFind(context.db.sql, request.environment.environmentId, scheduleIdOrNotFound(request.params.scheduleId));
    if (!schedule) throw new ApiError("NOT_FOUND", `No schedule ${request.params.scheduleId}`);
    return scheduleObject(schedule);
  });

  routes.put("/api/v1/schedules/:scheduleId", { schema: { params, body: scheduleBody } }, async (request) =>
    scheduleObject(await updateSchedule(engine, request.environment.environmentId, request.params.scheduleId, request.body)),
  );

  routes.delete("/api/v1/schedules/:scheduleId", { schema: { params } }, async (request) =>
    scheduleObject(await deleteSchedule(engine, request.environment.environmentId, request.params.scheduleId)),
  );

  routes.post("/api/v1/schedules/:scheduleId/activate", { schema: { params } }, async (request) =>
    scheduleObject(await setScheduleActive(engine, request.environment.environmentId, request.params.scheduleId, true)),
  );

  routes.post("/api/v1/schedules/:scheduleId/deactivate", { schema: { params } }, async (request) =>
    scheduleObject(await setScheduleActive(engine, request.environment.environmentId, request.params.scheduleId, false)),
  );
}
