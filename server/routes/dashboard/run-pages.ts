// The runs list (filters, search, keyset pages, live) and a run's page (timeline, payload, output or
// error, attempts, waits and steps, related runs, logs; cancel and replay). Payload, output and
// metadata are shown as bounded, collapsible previews (json-view.ts), each with a link to its raw value.
import { openLiveStream } from "./live-stream.ts";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { decodePacket } from "../../api/packets.ts";
import { jsonPreview } from "../../dashboard/json-preview.ts";
import { jsonView, type JsonView } from "../../dashboard/json-view.ts";
import { errorStack, stackGroups } from "../../dashboard/error-stack.ts";
import { ApiError } from "../../errors.ts";
import { keysetPage, uuidAtMs } from "../../api/pagination.ts";
import { serializedError } from "../../api/run-presenter.ts";
import { cancelRun, findRunOrNotFound } from "../../engine/run-actions.ts";
import { runStatuses, statusFlags } from "../../engine/run-status.ts";
import {
  filterChips,
  hasFilters,
  looksLikeRunIdPrefix,
  parseRunsListQuery,
  periods,
  runListFilters,
  stateQuery,
  type RawQuery,
} from "../../dashboard/run-filters.ts";
import { bulkActionCountRuns, bulkActionNewestRunId, bulkActionsFind, bulkActionsInsert } from "../../storage/bulk-actions.ts";
import { queuesFindWithCounts, queuesListWithCounts } from "../../storage/queues.ts";
import { curlSnippet, payloadJsonForSnippet, sdkSnippet } from "../../dashboard/run-snippets.ts";
import { readChanges, readSnapshot } from "../../engine/realtime-feed.ts";
import { fromPublicId, toPublicId, uuidv7 } from "../../ids.ts";
import type { ChangesSince } from "../../storage/run-changes.ts";
import { eventsListForRun } from "../../storage/events.ts";
import { runsList, type RunListFilters } from "../../storage/run-list.ts";
import {
  attemptsList,
  runsFindById,
  runsFindByIdempotencyKeyAnyTask,
  runsFindPacketText,
  runsFindRelated,
  type RunPacketName,
  type RunRow,
} from "../../storage/runs.ts";
import { journalList, waitpointsForRun } from "../../storage/waitpoints.ts";
import { tasksListCurrent } from "../../storage/workers.ts";
import { render, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };

function durationText(run: RunRow): string {
  if (!run.startedAt) return "";
  const ms = (run.finishedAt ?? new Date()).getTime() - run.startedAt.getTime();
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

function preview(value: unknown): JsonView | null {
  if (value === undefined || value === null) return null;
  return jsonView(value);
}

const packetNames: RunPacketName[] = ["payload", "output", "metadata"];

/** A log line on the page: 2,000 lines of 64 KB each would be 128 MB; the API has them whole. */
const logLine = { messageChars: 2048, attributes: { chars: 1024, depth: 6 } };

function shortened(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export async function runPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, engine } = context;

  app.get<{ Params: Params; Querystring: RawQuery & { after?: string; before?: string; bulk?: string } }>("/p/:ref/:env/runs", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const db = context.reads.for(request);
    const query = request.query;
    const environmentId = scope.environment.environmentId;
    const state = parseRunsListQuery(query);
    const q = state.q;
    // A whole run id, or an idempotency key some run has, goes straight to that run.
    if (q) {
      const byId = fromPublicId("run", q);
      const found = byId ? await runsFindById(db.sql, environmentId, byId) : null;
      const byKey = found ? found.id : looksLikeRunIdPrefix(q) ? null : await runsFindByIdempotencyKeyAnyTask(db.sql, environmentId, q);
      if (byKey) return reply.redirect(`${scope.base}/runs/${toPublicId("run", byKey)}`);
    }
    const cursor = (value: unknown) => (typeof value === "string" ? (fromPublicId("run", value) ?? undefined) : undefined);
    const after = cursor(query.after);
    const before = cursor(query.before);
    const size = 50;
    const [tasks, queues] = await Promise.all([tasksListCurrent(db.sql, environmentId), queuesListWithCounts(db.sql, environmentId, { offset: 0, limit: 500 })]);
    const taskNames = tasks.map((task) => task.slug);
    const filters = runListFilters(state, taskNames, context.clock.now().getTime());
    const rows = await runsList(db.kysely, environmentId, filters, { size, after, before });
    const { page, pagination } = keysetPage(rows, { size, after, before }, (run) => toPublicId("run", run.id));
    const listUrl = `${scope.base}/runs`;
    const link = (extra: Record<string, string> = {}) => {
      const text = stateQuery(state, extra);
      return text ? `${listUrl}?${text}` : listUrl;
    };
    const bulkId = typeof query.bulk === "string" ? fromPublicId("bulk", query.bulk) : null;
    const bulk = bulkId ? await bulkActionsFind(db.sql, environmentId, bulkId) : null;
    return render(
      request,
      reply,
      "runs",
      {
        title: "Runs",
        statuses: runStatuses,
        periods,
        state,
        chips: filterChips(state, listUrl),
        filtered: hasFilters(state),
        stateQuery: stateQuery(state),
        tasks: taskNames,
        queues: queues.rows.map((queue) => queue.name),
        runs: page.map((run) => ({
          id: toPublicId("run", run.id),
          taskIdentifier: run.taskIdentifier,
          status: run.status,
          createdAt: run.createdAt.toISOString(),
          duration: durationText(run),
          tags: run.tags,
          version: run.workerVersion,
          isCompleted: statusFlags(run.status).isCompleted,
        })),
        bulk: bulk
          ? { id: toPublicId("bulk", bulk.id), type: bulk.type.toLowerCase(), status: bulk.status, total: bulk.total, done: bulk.success + bulk.failure, failure: bulk.failure }
          : null,
        next: pagination.next ? link({ after: pagination.next }) : null,
        previous: pagination.previous ? link({ before: pagination.previous }) : null,
        clearUrl: listUrl,
        liveUrl: `${scope.base}/live`,
        selfUrl: request.url,
      },
      scope,
      "runs",
    );
  });

  // Bulk cancel or replay from the list: the selected runs, or every run matching the list's filters.
  // Recorded as a bulk action (the same the API's runs.bulk.* create) and worked off in the background.
  app.post<{ Params: Params; Querystring: { scope?: string }; Body: { action?: string; runId?: string | string[]; filters?: string } }>(
    "/p/:ref/:env/runs/bulk",
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const scope = await scopeOf(request, reply);
      if (!scope) return reply;
      const body = request.body ?? {};
      const environmentId = scope.environment.environmentId;
      if (body.action !== "cancel" && body.action !== "replay") throw new ApiError("VALIDATION_FAILED", "action: cancel or replay");
      const filtersText = typeof body.filters === "string" ? body.filters.slice(0, 8192) : "";
      let filter: RunListFilters | null = null;
      let runIds: string[] | null = null;
      if (request.query.scope === "matching") {
        const state = parseRunsListQuery(Object.fromEntries([...new URLSearchParams(filtersText).keys()].map((key) => [key, new URLSearchParams(filtersText).getAll(key)])));
        if (!hasFilters(state)) throw new ApiError("VALIDATION_FAILED", "filters: give at least one filter to act on every matching run");
        const tasks = (await tasksListCurrent(db.sql, environmentId)).map((task) => task.slug);
        filter = runListFilters(state, tasks, context.clock.now().getTime());
        // Runs triggered after this moment (the action's own replays among them) are not part of it.
        const bound = (await bulkActionNewestRunId(db.sql, environmentId)) ?? uuidAtMs(0);
        filter.createdToId = filter.createdToId !== undefined && filter.createdToId < bound ? filter.createdToId : bound;
      } else {
        const selected = [body.runId ?? []].flat();
        if (selected.length === 0) throw new ApiError("VALIDATION_FAILED", "runId: select at least one run");
        if (selected.length > 500) throw new ApiError("VALIDATION_FAILED", "runId: at most 500 runs at once; use the filters for more");
        runIds = selected.map((publicId) => {
          const id = fromPublicId("run", String(publicId));
          if (!id) throw new ApiError("VALIDATION_FAILED", `runId: ${String(publicId).slice(0, 64)} is not a run id`);
          return id;
        });
      }
      const total = await bulkActionCountRuns(db.kysely, environmentId, { filter, runIds });
      const now = context.clock.now();
      const id = uuidv7(now);
      await bulkActionsInsert(db.sql, { id, environmentId, name: "dashboard", type: body.action === "cancel" ? "CANCEL" : "REPLAY", filter, runIds, total }, now);
      const back = new URLSearchParams(filtersText);
      back.set("bulk", toPublicId("bulk", id));
      return reply.redirect(`${scope.base}/runs?${back.toString()}`, 303);
    },
  );

  app.get<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const environmentId = scope.environment.environmentId;
    let db = context.reads.for(request);
    // A run the replica has not replayed yet (triggered a moment ago elsewhere): the whole page from the primary.
    const run = await findRunOrNotFound({ ...engine, db }, environmentId, request.params.runId).catch((error: unknown) => {
      if (db === context.db || !(error instanceof ApiError) || error.code !== "NOT_FOUND") throw error;
      request.readFromReplica = false;
      db = context.db;
      return findRunOrNotFound(engine, environmentId, request.params.runId);
    });
    const [related, attempts, journal, events, queue, waitpoints] = await Promise.all([
      runsFindRelated(db.sql, environmentId, run),
      attemptsList(db.sql, run.id),
      journalList(db.sql, run.id),
      eventsListForRun(db.sql, environmentId, run.id, { limit: 2000 }),
      queuesFindWithCounts(db.sql, environmentId, run.queueName),
      waitpointsForRun(db.sql, run.id),
    ]);
    const payload = decodePacket(run.payload, run.payloadType);
    const snippetInput = {
      publicUrl: context.config.publicUrl,
      taskIdentifier: run.taskIdentifier,
      payloadJson: run.payloadType === "application/json" || run.payloadType === null ? payloadJsonForSnippet(payload) : null,
      tags: run.tags,
    };
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
    const shownError = run.status === "COMPLETED" ? null : (serializedError(run.error) ?? null);
    const stack = shownError ? errorStack(shownError) : null;
    return render(
      request,
      reply,
      "run",
      {
        errorStack: stack ? { stack, groups: stackGroups(stack) } : null,
        title: `Run ${toPublicId("run", run.id)}`,
        run: {
          id: toPublicId("run", run.id),
          status: run.status,
          taskIdentifier: run.taskIdentifier,
          queue: run.queueName,
          attemptCount: run.attemptCount,
          maxAttempts: run.maxAttempts,
          tags: run.tags,
          isCompleted: statusFlags(run.status).isCompleted,
          duration: durationText(run),
          version: run.workerVersion,
          machine: run.machine,
          queuePaused: queue?.paused ?? false,
          queueAnchor: queue ? `queue-${queue.id}` : null,
          idempotencyKey: run.idempotencyKey,
          idempotencyKeyExpiresAt: run.idempotencyKeyExpiresAt?.toISOString() ?? null,
          ttl: run.ttl,
          ttlExpiresAt: run.ttlExpiresAt?.toISOString() ?? null,
          replayedFrom: run.replayedFromId ? toPublicId("run", run.replayedFromId) : null,
          isTest: run.isTest,
          tokens: waitpoints.filter((waitpoint) => waitpoint.type === "MANUAL").map((waitpoint) => ({ id: toPublicId("wp", waitpoint.id), status: waitpoint.status })),
          error: shownError,
        },
        payload: preview(payload) ?? { html: "", truncated: false },
        curl: curlSnippet(snippetInput),
        sdk: sdkSnippet(snippetInput),
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
  // executes, the environment's hints and its stored events also count, since its logs (which are
  // not in the feed) grow.
  app.get<{ Params: Params & { runId: string } }>("/p/:ref/:env/runs/:runId/live", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const environmentId = scope.environment.environmentId;
    const run = await findRunOrNotFound(engine, environmentId, request.params.runId);
    const shape = { kind: "run" as const, environmentId, runId: run.id };
    const first = await readSnapshot(db.sql, shape);
    let since: ChangesSince = first.next;
    let status = String(first.rows[0]?.row.state.status ?? run.status);
    openLiveStream(request, reply, {
      name: "run page",
      // Logs stored for the environment's runs wake it too: an executing run's page shows its logs.
      subscribe: (wake) => [context.notifier.onChanges(environmentId, wake), context.notifier.onEvents(environmentId, wake)],
      look: async () => {
        const executing = status === "EXECUTING";
        const answer = await readChanges(db.sql, shape, since);
        since = answer.next;
        const changed = answer.rows.at(-1);
        if (changed) status = String(changed.row.state.status ?? status);
        return changed || executing ? { status } : null;
      },
      coalesceMs: 100,
      // A change whose notification came before the stream subscribed (or was lost) still shows.
      pollMs: 3_000,
      closing: context.closing,
    });
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
}

/** How the attempt's long waits were suspended (docs/checkpoints.md), for the attempts table. */
function suspensionText(checkpoints: number, fallback: string | null): string {
  const parts = [];
  if (checkpoints > 0) parts.push(`checkpointed ${checkpoints === 1 ? "once" : `${checkpoints} times`}`);
  if (fallback) parts.push(`replay: ${fallback}`);
  return parts.join("; ");
}
