// Triggering by hand from the dashboard, as Trigger.dev's Test page: a task's test-run form (payload
// pre-filled from its last run, machine, queue, delay, tags) and a run's "replay with edited payload".
// Both forms keep what was typed when it is refused, with the reason naming the field.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { decodePacket } from "../../api/packets.ts";
import { jsonDepthBeyond, unsafeTextIn } from "../../api/input-safety.ts";
import { limits } from "../../api/limits.ts";
import { triggerOptionsSchema, type TriggerOptions } from "../../api/trigger-schema.ts";
import { findRunOrNotFound, replayRun } from "../../engine/run-actions.ts";
import { triggerRun } from "../../engine/trigger.ts";
import { ApiError } from "../../errors.ts";
import { toPublicId } from "../../ids.ts";
import { queuesListWithCounts } from "../../storage/queues.ts";
import { runsList } from "../../storage/run-list.ts";
import { tasksListCurrent } from "../../storage/workers.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };
type FormBody = { payload?: string; machine?: string; queue?: string; delay?: string; tags?: string };

export const machinePresets = ["micro", "small-1x", "small-2x", "medium-1x", "medium-2x", "large-1x", "large-2x"];

/** What the form shows: the values as typed (or pre-filled), never re-serialized behind the reader's back. */
interface FormValues {
  payload: string;
  machine: string;
  queue: string;
  delay: string;
  tags: string;
}

function pretty(value: unknown): string {
  if (value === undefined) return "{}";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return JSON.stringify(value);
    }
  }
  return JSON.stringify(value, null, 2) ?? "{}";
}

/** The form's payload and options, or the first problem with them, naming its field. */
function readForm(body: FormBody): { payload: unknown; options: TriggerOptions } | { error: string } {
  const text = body.payload?.trim() || "null";
  if (jsonDepthBeyond(text) !== null) return { error: `payload: nested deeper than ${limits.jsonDepth} levels` };
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    return { error: `payload: not valid JSON (${(error as Error).message})` };
  }
  const unsafe = unsafeTextIn(payload, "payload");
  if (unsafe) return { error: unsafe };
  const tags = (body.tags ?? "")
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
  const candidate: Record<string, unknown> = { payloadType: "application/json" };
  if (body.machine?.trim()) candidate.machine = body.machine.trim();
  if (body.queue?.trim()) candidate.queue = body.queue.trim();
  if (body.delay?.trim()) candidate.delay = body.delay.trim();
  if (tags.length) candidate.tags = tags;
  const parsed = triggerOptionsSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { error: `${String(issue.path[0] ?? "options")}: ${issue.message}` };
  }
  if (parsed.data.machine && typeof parsed.data.machine === "string" && !machinePresets.includes(parsed.data.machine)) {
    return { error: `machine: one of ${machinePresets.join(", ")}` };
  }
  return { payload, options: parsed.data };
}

export async function testRunPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, engine } = context;

  const formPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    scope: DashboardScope,
    page: { mode: "test" | "replay"; title: string; task: string; action: string; values: FormValues; source?: string; error?: string },
  ) => {
    const queues = await queuesListWithCounts(db.sql, scope.environment.environmentId, { offset: 0, limit: 500 });
    return render(request, reply, "run-form", { ...page, machines: machinePresets, queues: queues.rows.map((queue) => queue.name) }, scope, page.mode === "test" ? "tasks" : "runs");
  };

  const taskOrNotFound = async (scope: DashboardScope, taskId: string) => {
    const task = (await tasksListCurrent(db.sql, scope.environment.environmentId)).find((candidate) => candidate.slug === taskId);
    if (!task) throw new ApiError("NOT_FOUND", `No task ${taskId} in this environment`);
    return task;
  };

  app.get<{ Params: Params & { taskId: string } }>("/p/:ref/:env/tasks/:taskId/test", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const task = await taskOrNotFound(scope, request.params.taskId);
    const [last] = await runsList(db.kysely, scope.environment.environmentId, { taskIdentifiers: [task.slug] }, { size: 1 });
    return formPage(request, reply, scope, {
      mode: "test",
      title: `Test ${task.slug}`,
      task: task.slug,
      action: `${scope.base}/tasks/${encodeURIComponent(task.slug)}/test`,
      source: last ? toPublicId("run", last.id) : undefined,
      values: {
        payload: last ? pretty(decodePacket(last.payload, last.payloadType)) : "{}",
        machine: task.machine ?? "",
        queue: task.queueName,
        delay: "",
        tags: "",
      },
    });
  });

  app.post<{ Params: Params & { taskId: string }; Body: FormBody }>("/p/:ref/:env/tasks/:taskId/test", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const task = await taskOrNotFound(scope, request.params.taskId);
    const body = request.body ?? {};
    const values: FormValues = { payload: body.payload ?? "", machine: body.machine ?? "", queue: body.queue ?? "", delay: body.delay ?? "", tags: body.tags ?? "" };
    const again = (error: string, status: number) =>
      formPage(request, reply.code(status), scope, { mode: "test", title: `Test ${task.slug}`, task: task.slug, action: request.url, values, error });
    const form = readForm(body);
    if ("error" in form) return again(form.error, 400);
    try {
      const result = await triggerRun(engine, scope.environment, { taskIdentifier: task.slug, payload: form.payload, options: { ...form.options, test: true }, triggerFunction: "dashboard" });
      return reply.redirect(`${scope.base}/runs/${toPublicId("run", result.runId)}`, 303);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode < 500) return again(error.message, error.statusCode);
      throw error;
    }
  });

  app.get<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId/replay", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const run = await findRunOrNotFound(engine, scope.environment.environmentId, request.params.runId);
    const id = toPublicId("run", run.id);
    return formPage(request, reply, scope, {
      mode: "replay",
      title: `Replay ${id}`,
      task: run.taskIdentifier,
      action: `${scope.base}/runs/${id}/replay`,
      source: id,
      values: { payload: pretty(decodePacket(run.payload, run.payloadType)), machine: run.machine ?? "", queue: run.queueName, delay: "", tags: run.tags.join(", ") },
    });
  });

  // Replay: as it was (the run page's button sends no payload), or with what the form says.
  app.post<{ Params: Params & { runId: string }; Body: FormBody }>("/p/:ref/:env/runs/:runId/replay", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const body = request.body ?? {};
    if (body.payload === undefined) {
      const id = await replayRun(engine, scope.environment, request.params.runId, {});
      return reply.redirect(`${scope.base}/runs/${toPublicId("run", id)}`, 303);
    }
    const run = await findRunOrNotFound(engine, scope.environment.environmentId, request.params.runId);
    const source = toPublicId("run", run.id);
    const values: FormValues = { payload: body.payload, machine: body.machine ?? "", queue: body.queue ?? "", delay: body.delay ?? "", tags: body.tags ?? "" };
    const again = (error: string, status: number) =>
      formPage(request, reply.code(status), scope, { mode: "replay", title: `Replay ${source}`, task: run.taskIdentifier, action: request.url, source, values, error });
    const form = readForm(body);
    if ("error" in form) return again(form.error, 400);
    try {
      // Tags as the form has them: emptied there, the replay has none.
      const id = await replayRun(engine, scope.environment, source, { ...form.options, tags: form.options.tags ?? [], payload: form.payload });
      return reply.redirect(`${scope.base}/runs/${toPublicId("run", id)}`, 303);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode < 500) return again(error.message, error.statusCode);
      throw error;
    }
  });
}
