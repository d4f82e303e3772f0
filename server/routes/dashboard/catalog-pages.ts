// Pages listing what an environment has: tasks (with their last 24 hours: runs finished by status,
// p50/p95 duration), schedules (create, edit, delete, activate, deactivate, with their last run and
// next five fire times in their own zone) and batches.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { allTimezones, describeCron, nextTicks } from "../../engine/cron.ts";
import { createSchedule, deleteSchedule, setScheduleActive, updateSchedule } from "../../engine/schedules.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId, toPublicId } from "../../ids.ts";
import { batchesList } from "../../storage/batches.ts";
import { overviewTaskActivity } from "../../storage/overview.ts";
import { durationText } from "../../dashboard/overview-charts.ts";
import { schedulesFind, schedulesList } from "../../storage/schedules.ts";
import { tasksListCurrent } from "../../storage/workers.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };

function inZone(date: Date, timezone: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone: timezone, dateStyle: "medium", timeStyle: "short" }).format(date);
}

export async function catalogPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, engine, clock } = context;

  app.get<{ Params: Params }>("/p/:ref/:env/tasks", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const db = context.reads.for(request);
    const environmentId = scope.environment.environmentId;
    const now = clock.now();
    // One query for every task's last 24 hours (not one per task).
    const [tasks, activity] = await Promise.all([
      tasksListCurrent(db.sql, environmentId),
      overviewTaskActivity(db.sql, environmentId, { from: new Date(now.getTime() - 86_400_000), to: new Date(now.getTime() + 1) }, 10_000),
    ]);
    const activityOf = new Map(activity.map((entry) => [entry.task, entry]));
    return render(
      request,
      reply,
      "tasks",
      {
        title: "Tasks",
        tasks: tasks.map((task) => ({
          ...task,
          retry: task.retry ? `${task.retry.maxAttempts ?? 3} attempts` : null,
          maxDuration: task.maxDurationS ? `${task.maxDurationS} s` : null,
          activity: activityOf.get(task.slug)?.statuses ?? [],
          p50: durationText(activityOf.get(task.slug)?.p50Ms ?? null),
          p95: durationText(activityOf.get(task.slug)?.p95Ms ?? null),
        })),
      },
      scope,
      "tasks",
    );
  });

  const schedulesPage = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, error?: string) => {
    const { rows } = await schedulesList(db.sql, scope.environment.environmentId, { offset: 0, limit: 500 });
    const now = clock.now();
    return render(
      request,
      reply,
      "schedules",
      {
        title: "Schedules",
        error,
        schedules: rows.map((schedule) => ({
          id: toPublicId("sched", schedule.id),
          type: schedule.type,
          task: schedule.taskIdentifier,
          cron: schedule.cron,
          description: describeCron(schedule.cron),
          timezone: schedule.timezone,
          deduplicationKey: schedule.deduplicationKey,
          active: schedule.active,
          declarative: schedule.type === "DECLARATIVE",
          lastRunAt: schedule.lastRunAt?.toISOString() ?? null,
          upcoming: schedule.active ? nextTicks(schedule.cron, schedule.timezone, now, 5).map((date) => inZone(date, schedule.timezone)) : [],
        })),
        tasks: (await tasksListCurrent(db.sql, scope.environment.environmentId)).map((task) => task.slug),
        zones: allTimezones(),
      },
      scope,
      "schedules",
    );
  };

  app.get<{ Params: Params }>("/p/:ref/:env/schedules", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    return schedulesPage(request, reply, scope);
  });

  app.post<{ Params: Params; Body: Record<string, string | undefined> }>("/p/:ref/:env/schedules", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const body = request.body ?? {};
    const task = body.task?.trim() ?? "";
    const deduplicationKey = body.deduplicationKey?.trim() ?? "";
    if (!task || !deduplicationKey) return schedulesPage(request, reply.code(400), scope, "A task and a key are needed.");
    try {
      await createSchedule(engine, scope.environment, {
        task,
        cron: body.cron?.trim() ?? "",
        timezone: body.timezone?.trim() || "UTC",
        deduplicationKey,
        externalId: body.externalId?.trim() || undefined,
      });
    } catch (error) {
      if (error instanceof ApiError && error.statusCode < 500) return schedulesPage(request, reply.code(error.statusCode), scope, error.message);
      throw error;
    }
    return reply.redirect(`${scope.base}/schedules`, 303);
  });

  type ScheduleForm = { task: string; cron: string; timezone: string; externalId: string };

  const editPage = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, id: string, values: ScheduleForm, error?: string) =>
    render(
      request,
      reply,
      "schedule-edit",
      {
        title: "Edit schedule",
        id,
        values,
        error,
        tasks: (await tasksListCurrent(db.sql, scope.environment.environmentId)).map((task) => task.slug),
        zones: allTimezones(),
      },
      scope,
      "schedules",
    );

  const scheduleOrNotFound = async (scope: DashboardScope, publicId: string) => {
    const id = fromPublicId("sched", publicId);
    const schedule = id ? await schedulesFind(db.sql, scope.environment.environmentId, id) : null;
    if (!schedule) throw new ApiError("NOT_FOUND", `No schedule ${publicId}`);
    return schedule;
  };

  app.get<{ Params: Params & { scheduleId: string } }>("/p/:ref/:env/schedules/:scheduleId/edit", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const schedule = await scheduleOrNotFound(scope, request.params.scheduleId);
    const values = { task: schedule.taskIdentifier, cron: schedule.cron, timezone: schedule.timezone, externalId: schedule.externalId ?? "" };
    return editPage(request, reply, scope, toPublicId("sched", schedule.id), values, schedule.type === "DECLARATIVE" ? "This schedule is defined in code; change it there." : undefined);
  });

  // Activate, deactivate, delete, or save the edit form (a change that is refused shows the form again as typed).
  app.post<{ Params: Params & { scheduleId: string; action: string }; Body: Record<string, string | undefined> }>(
    "/p/:ref/:env/schedules/:scheduleId/:action",
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const scope = await scopeOf(request, reply);
      if (!scope) return reply;
      const environmentId = scope.environment.environmentId;
      const { scheduleId, action } = request.params;
      if (action === "activate" || action === "deactivate") {
        await setScheduleActive(engine, environmentId, scheduleId, action === "activate");
      } else if (action === "delete") {
        await deleteSchedule(engine, environmentId, scheduleId);
      } else if (action === "edit") {
        const schedule = await scheduleOrNotFound(scope, scheduleId);
        const body = request.body ?? {};
        const values = { task: body.task?.trim() ?? "", cron: body.cron?.trim() ?? "", timezone: body.timezone?.trim() || "UTC", externalId: body.externalId?.trim() ?? "" };
        try {
          await updateSchedule(engine, environmentId, scheduleId, { task: values.task, cron: values.cron, timezone: values.timezone, externalId: values.externalId || undefined, window: schedule.window ?? undefined });
        } catch (error) {
          if (error instanceof ApiError && error.statusCode < 500) return editPage(request, reply.code(error.statusCode), scope, scheduleId, values, error.message.replace(/^body\./, ""));
          throw error;
        }
      } else {
        throw new ApiError("NOT_FOUND", "No such action");
      }
      return reply.redirect(`${scope.base}/schedules`, 303);
    },
  );

  app.get<{ Params: Params }>("/p/:ref/:env/batches", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const batches = await batchesList(context.reads.for(request).sql, scope.environment.environmentId, 200);
    return render(
      request,
      reply,
      "batches",
      {
        title: "Batches",
        batches: batches.map((batch) => ({
          id: toPublicId("batch", batch.id),
          status: batch.status,
          runCount: batch.runCount,
          errors: batch.errors.length,
          createdAt: batch.createdAt.toISOString().slice(0, 19).replace("T", " "),
        })),
      },
      scope,
      "batches",
    );
  });
}
