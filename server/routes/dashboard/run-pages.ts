// The runs list (filters, search, keyset pages, live) and a run's page (timeline, payload, output or
// error, attempts, waits and steps, related runs, logs; cancel and replay). Payload, output and
// metadata are shown as bounded previews (json-preview.ts), each with a link to its raw value.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { decodePacket } from "../../api/packets.ts";
import { jsonPreview, type JsonPreview } from "../../dashboard/json-preview.ts";
import { ApiError } from "../../errors.ts";
import { keysetPage, uuidAtMs } from "../../api/pagination.ts";
import { serializedError } from "../../api/run-presenter.ts";
import { parseDurationMs } from "../../engine/durations.ts";
import { cancelRun, findRunOrNotFound, replayRun } from "../../engine/run-actions.ts";
import { runStatuses, statusFlags, type RunStatus } from "../../engine/run-status.ts";
import { readChanges, readSnapshot } from "../../engine/realtime-feed.ts";
import { fromPublicId, toPublicId } from "../../ids.ts";
import type { ChangesSince } from "../../storage/run-changes.ts";
import { eventsListForRun } from "../../storage/events.ts";
import { runsList } from "../../storage/run-list.ts";
import {
  attemptsList,
  runsFindById,
  runsFindByIdempotencyKeyAnyTask,
  runsFindPacketText,
  runsFindRelated,
  type RunPacketName,
  type RunRow,
} from "../../storage/runs.ts";
import { journalList } from "../../storage/waitpoints.ts";
import { tasksListCurrent } from "../../storage/workers.ts";
import { render, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };
type ListQuery = { status?: string; task?: string; tag?: string; queue?: string; period?: string; q?: string; batch?: string; schedule?: string; after?: string; before?: string };

const periods: Array<[string, string]> = [["1h", "Last hour"], ["1d", "Last day"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];

function durationText(run: RunRow): string {
  if (!run.startedAt) return "";
  const ms = (run.finishedAt ?? new Date()).getTime() - run.startedAt.getTime();
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

function preview(value: unknown): JsonPreview | null {
  if (value === undefined || value === null) return null;
  return jsonPreview(value);
}

const packetNames: RunPacketName[] = ["payload", "output", "metadata"];

/** A log line on the page: 2,000 lines of 64 KB each would be 128 MB; the API has them whole. */
const logLine = { messageChars: 2048, attributes: { chars: 1024, depth: 6 } };

function shortened(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export async function runPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, engine } = context;

  app.get<{ Params: Params; Querystring: ListQuery }>("/p/:ref/:env/runs", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const query = request.query;
    const environmentId = scope.environment.environmentId;
    const q = query.q?.trim();
    if (q) {
      const byId = fromPublicId("run", q);
      const found = byId ? await runsFindById(db.sql, environmentId, byId) : null;
      const byKey = found ? found.id : await runsFindByIdempotencyKeyAnyTask(db.sql, environmentId, q);
      if (byKey) return reply.redirect(`${scope.base}/runs/${toPublicId("run", byKey)}`);
    }
    const status = runStatuses.includes(query.status as RunStatus) ? (query.status as RunStatus) : undefined;
    const periodMs = query.period ? parseDurationMs(query.period) : null;
    const after = query.after ? (fromPublicId("run", query.after) ?? undefined) : undefined;
    const before = query.before ? (fromPublicId("run", query.before) ?? undefined) : undefined;
    const size = 50;
    const rows = await runsList(
      db.kysely,
      environmentId,
      {
        statuses: status ? [status] : undefined,
        taskIdentifiers: query.task ? [query.task] : undefined,
        tags: query.tag ? [query.tag] : undefined,
        queues: query.queue ? [query.queue] : undefined,
        idempotencyKey: q || undefined,
        batchId: query.batch ? (fromPublicId("batch", query.batch) ?? "00000000-0000-0000-0000-000000000000") : undefined,
        scheduleId: query.schedule ? (fromPublicId("sched", query.schedule) ?? "00000000-0000-0000-0000-000000000000") : undefined,
        createdFromId: periodMs !== null ? uuidAtMs(context.clock.now().getTime() - periodMs) : undefined,
      },
      { size, after, before },
    );
    const { page, pagination } = keysetPage(rows, { size, after, before }, (run) => toPublicId("run", run.id));
    const filters = { status, task: query.task, tag: query.tag, queue: query.queue, period: query.period, q, batch: query.batch, schedule: query.schedule };
    const link = (cursor: Record<string, string>) => {
      const params = new URLSearchParams(Object.entries({ ...filters, ...cursor }).filter((entry): entry is [string, string] => Boolean(entry[1])));
      return `${scope.base}/runs?${params.toString()}`;
    };
    return render(
      request,
      reply,
      "runs",
      {
        title: "Runs",
        statuses: runStatuses,
        periods,
        filters,
        tasks: (await tasksListCurrent(db.sql, environmentId)).map((task) => task.slug),
        runs: page.map((run) => ({
          id: toPublicId("run", run.id),
          taskIdentifier: run.taskIdentifier,
          status: run.status,
          createdAt: run.createdAt.toISOString(),
          duration: durationText(run),
          tags: run.tags,
        })),
        next: pagination.next ? link({ after: pagination.next }) : null,
        previous: pagination.previous ? link({ before: pagination.previous }) : null,
        liveUrl: `${scope.base}/live`,
        selfUrl: request.url,
      },
      scope,
      "runs",
    );
  });

  app.get<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const environmentId = scope.environment.environmentId;
    const run = await findRunOrNotFound(engine, environmentId, request.params.runId);
    const [related, attempts, journal, events] = await Promise.all([
      runsFindRelated(db.sql, environmentId, run),
      attemptsList(db.sql, run.id),
      journalList(db.sql, run.id),
      eventsListForRun(db.sql, environmentId, run.id, { limit: 2000 }),
    ]);
    const timeline = [
      { label: "Created", at: run.createdAt.toISOString() },
      ...(run.delayUntil ? [{ label: "Delayed until", at: run.delayUntil.toISOString() }] : []),
      ...(run.startedAt ? [{ label: "Started", at: run.startedAt.toISOString() }] : []),
      ...(run.finishedAt ? [{ label: run.status, at: run.finishedAt.toISOString() }] : []),
    ];
    const relatedRuns = [
      ...(related.root && related.root.id !== related.parent?.id ? [{ role: "Root", run: related.root }] : []),
      ...(related.parent ? [{ role: "Parent", run: related.parent }] : []),
      ...related.children.map((child) => ({ role: "Child", run: child })),
    ].map(({ role, run: other }) => ({ role, id: toPublicId("run", other.id), taskIdentifier: other.taskIdentifier, status: other.status }));
    return render(
      request,
      reply,
      "run",
      {
        title: `Run ${toPublicId("run", run.id)}`,
        run: {
          id: toPublicId("run", run.id),
          status: run.status,
          taskIdentifier: run.taskIdentifier,
          queue: run.queueName,
          attemptCount: run.attemptCount,
          tags: run.tags,
          isCompleted: statusFlags(run.status).isCompleted,
          error: run.status === "COMPLETED" ? null : (serializedError(run.error) ?? null),
        },
        payload: preview(decodePacket(run.payload, run.payloadType)) ?? { text: "", truncated: false },
        output: preview(decodePacket(run.output, run.outputType)),
        metadata: preview(decodePacket(run.metadata, run.metadataType)),
        rawUrl: (packet: RunPacketName) => `${scope.base}/runs/${toPublicId("run", run.id)}/raw/${packet}`,
        timeline,
        attempts: attempts.map((attempt) => ({
          number: attempt.number,
          status: attempt.status,
          startedAt: attempt.startedAt?.toISOString(),
          finishedAt: attempt.finishedAt?.toISOString(),
          error: attempt.error?.message,
          suspension: suspensionText(attempt.checkpoints, attempt.checkpointFallback),
        })),
        journal,
        related: relatedRuns,
        events: events.map((event) => ({
          time: event.time.toISOString(),
          kind: event.kind,
          level: event.level,
          message: shortened(event.message, logLine.messageChars),
          attributes: event.attributes ? jsonPreview(event.attributes, logLine.attributes).text.replaceAll(/\n\s*/g, " ") : undefined,
          durationMs: event.durationMs ?? undefined,
        })),
        liveUrl: `${scope.base}/runs/${toPublicId("run", run.id)}/live`,
        selfUrl: request.url,
      },
      scope,
      "runs",
    );
  });

  // A run page's live updates, from the run's change feed (the one run subscriptions read): a
  // "changed" event when this run changed, not when any run of the environment did. While the run
  // executes, the environment's hints also count, since its logs (which are not in the feed) grow.
  app.get<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId/live", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const environmentId = scope.environment.environmentId;
    const run = await findRunOrNotFound(engine, environmentId, request.params.runId);
    const shape = { kind: "run" as const, environmentId, runId: run.id };
    const first = await readSnapshot(db.sql, shape);
    let since: ChangesSince = first.next;
    let status = String(first.rows[0]?.row.state.status ?? run.status);
    reply.hijack();
    reply.raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    reply.raw.write(": connected\n\n");
    let closed = false;
    let reading = false;
    let again = false;
    const send = () => reply.raw.write(`event: changed\ndata: ${JSON.stringify({ status })}\n\n`);
    const look = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const executing = status === "EXECUTING";
          const answer = await readChanges(db.sql, shape, since);
          since = answer.next;
          const changed = answer.rows.at(-1);
          if (changed) status = String(changed.row.state.status ?? status);
          if (!closed && (changed || executing)) send();
        } while (again && !closed);
      } catch (error) {
        request.log.warn({ err: error }, "run page live update failed");
      } finally {
        reading = false;
      }
    };
    let pending: NodeJS.Timeout | null = null;
    const unsubscribe = context.notifier.onChanges(environmentId, () => {
      pending ??= setTimeout(() => {
        pending = null;
        void look();
      }, 100);
    });
    const keepAlive = setInterval(() => reply.raw.write(": keep-alive\n\n"), 15_000);
    const close = () => {
      closed = true;
      unsubscribe();
      clearInterval(keepAlive);
      if (pending) clearTimeout(pending);
      reply.raw.end();
    };
    request.raw.socket.once("close", close);
    context.closing.addEventListener("abort", close, { once: true });
  });

  // A run's payload, output or metadata whole, as stored: what the page's preview links to.
  app.get<{ Params: Params & { runId: string; packet: string } }>("/p/:ref/:env/runs/:runId/raw/:packet", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const packet = packetNames.find((name) => name === request.params.packet);
    const id = fromPublicId("run", request.params.runId);
    const found = packet && id ? await runsFindPacketText(db.sql, scope.environment.environmentId, id, packet) : null;
    if (!found || !packet) throw new ApiError("NOT_FOUND", `No ${request.params.packet} of run ${request.params.runId}`);
    let body = found.text ?? "null";
    let type = "application/json";
    // superjson and plain text are stored as a JSON string: serve the text inside it.
    if (found.text !== null && found.text.startsWith('"') && found.type !== "application/json") {
      body = JSON.parse(found.text) as string;
      if (found.type !== "application/super+json") type = "text/plain";
    }
    return reply
      .type(`${type}; charset=utf-8`)
      .header("cache-control", "no-store")
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", "default-src 'none'; sandbox")
      .header("content-disposition", `inline; filename="${request.params.runId.replace(/[^A-Za-z0-9_]/g, "")}-${packet}.${type === "text/plain" ? "txt" : "json"}"`)
      .send(body);
  });

  app.post<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId/cancel", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    await cancelRun(engine, scope.environment.environmentId, request.params.runId);
    return reply.redirect(`${scope.base}/runs/${request.params.runId}`, 303);
  });

  app.post<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId/replay", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const id = await replayRun(engine, scope.environment, request.params.runId, {});
    return reply.redirect(`${scope.base}/runs/${toPublicId("run", id)}`, 303);
  });
}

/** How the attempt's long waits were suspended (docs/checkpoints.md), for the attempts table. */
function suspensionText(checkpoints: number, fallback: string | null): string {
  const parts = [];
  if (checkpoints > 0) parts.push(`checkpointed ${checkpoints === 1 ? "once" : `${checkpoints} times`}`);
  if (fallback) parts.push(`replay: ${fallback}`);
  return parts.join("; ");
}
