// The worker protocol (/engine/v1): register a version, dequeue (long-poll), start, heartbeat,
// complete. Workers authenticate with their environment's secret key. See docs/protocol.md.
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { storableJson, unsafeTextIn } from "../../api/input-safety.ts";
import { limits } from "../../api/limits.ts";
import { maxDurationSchema, taskIdentifierSchema } from "../../api/trigger-schema.ts";
import { durationProblem } from "../../engine/durations.ts";
import type { AttemptOutcome } from "../../engine/attempt-outcome.ts";
import { completeAttempt, dequeue, dequeueForCompletions, handBack, dequeueConnectionLost, heartbeat, heartbeatConnectionLost, startAttempt } from "../../engine/execution.ts";
import { registerWorkerVersion } from "../../engine/register.ts";
import { journalOperation, suspendRun, type JournalRequest, type WaitSpec } from "../../engine/durable.ts";
import { retryPolicySchema } from "../../engine/retry.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId, toPublicId } from "../../ids.ts";
import { keyStillValid, requireSecretKey } from "../../auth/authenticate.ts";
import { eventRoutes } from "./events.ts";
import { workerRun } from "./worker-run.ts";
import { envvarsVersion } from "../../storage/envvars.ts";
import { resumeCheckpoints } from "./resume-checkpoints.ts";
import { workerEnvvarRoutes } from "./envvars.ts";

const workerId = z.string().min(1).max(128);

const attemptNumberSchema = z.number().int().min(1).max(limits.int32Max);

const leaseSchema = z.object({ runId: z.string().min(1).max(64), attemptNumber: attemptNumberSchema });

/**
 * Aborts a long-poll when the client disconnects. (The request's own "close" event fires as soon as
 * its body has been read; the response's fires when the connection goes away before we answer.)
 * `workerHungUp()` tells whether the client went away (not this server closing) at any time before
 * the answer, even before the handler ran.
 */
function abortWhenClientLeaves(
  request: FastifyRequest,
  reply: FastifyReply,
  closing: AbortSignal,
): { signal: AbortSignal; workerHungUp: () => boolean } {
  const abort = new AbortController();
  let hungUp = false;
  const leave = () => {
    if (reply.raw.writableFinished) return;
    if (!closing.aborted) hungUp = true;
    abort.abort();
  };
  reply.raw.once("close", leave);
  if (request.raw.socket?.destroyed) leave();
  return {
    signal: AbortSignal.any([abort.signal, closing]),
    workerHungUp: () => hungUp || (request.raw.socket?.destroyed === true && !closing.aborted),
  };
}

function runUuid(publicId: string): string {
  const id = fromPublicId("run", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  return id;
}

const versionSchema = z.string().min(1).max(64);

const manifestSchema = z.object({
  version: versionSchema.optional(),
  promote: z.boolean().optional(),
  contentHash: z.string().min(1).max(128).optional(),
  sdkVersion: z.string().max(64).optional(),
  tasks: z
    .array(
      z.object({
        id: taskIdentifierSchema,
        queue: z.object({ name: z.string().min(1).max(256).optional(), concurrencyLimit: z.number().int().min(0).max(100_000).nullable().optional() }).optional(),
        retry: retryPolicySchema.optional(),
        maxDuration: maxDurationSchema.optional(),
        machine: z.string().max(32).optional(),
        ttl: z.union([z.string().max(64), z.number()]).optional(),
        triggerSource: z.enum(["STANDARD", "SCHEDULED"]).optional(),
        filePath: z.string().max(1024).optional(),
        exportName: z.string().max(256).optional(),
        schedule: z
          .object({ cron: z.string().min(1).max(200), timezone: z.string().min(1).max(64).optional(), window: z.string().min(1).max(16).optional() })
          .optional(),
      }).superRefine((task, context) => {
        // Refused here, naming the task: stored, it would fail every later trigger of the task.
        const problem = task.ttl === undefined ? null : durationProblem(task.ttl);
        if (problem) context.addIssue({ code: "custom", path: ["ttl"], message: `task "${task.id}": ttl ${problem}` });
      }),
    )
    .max(10_000),
  queues: z.array(z.object({ name: z.string().min(1).max(256), concurrencyLimit: z.number().int().min(0).max(100_000).nullable().optional() })).max(10_000).optional(),
});

const errorSchema = z
  .object({
    type: z.string().max(64).optional(),
    name: z.string().max(1024).optional(),
    message: z.string().max(100_000).optional(),
    stackTrace: z.string().max(100_000).optional(),
    code: z.string().max(128).optional(),
    raw: z.string().max(100_000).optional(),
  })
  .loose();

const completionSchema = z.object({
  runId: z.string().min(1).max(64),
  attemptNumber: attemptNumberSchema,
  ok: z.boolean(),
  output: z.unknown().optional(),
  outputType: z.string().max(64).optional(),
  error: errorSchema.optional(),
  /** How the attempt failed: FAILED is retried by policy, the others never are. */
  status: z.enum(["FAILED", "CRASHED", "TIMED_OUT", "SYSTEM_FAILURE", "CANCELED"]).optional(),
  skipRetrying: z.boolean().optional(),
  /** With status CRASHED: the crash follows the task's retry policy (the run ends CRASHED when none is left). */
  retryable: z.boolean().optional(),
  retryDelayMs: z.number().int().min(0).max(365 * 86_400_000).optional(),
  /** Keep the slot and retry in this worker when the retry is due within this many ms (≤ 5 min). */
  retryInPlaceWithinMs: z.number().int().min(0).max(300_000).optional(),
});

function outcomeOf(completion: z.infer<typeof completionSchema>, index: number): AttemptOutcome {
  if (completion.ok) {
    // An output Postgres cannot store fails the attempt with the reason, rather than the whole request.
    const unstorable = unsafeTextIn(completion.output, `completions.${index}.output`);
    if (unstorable) {
      return { kind: "failure", status: "FAILED", error: { type: "STRING_ERROR", message: `The task's output cannot be stored: ${unstorable}` }, skipRetrying: true };
    }
    return {
      kind: "success",
      output: completion.output === undefined ? null : JSON.stringify(completion.output),
      outputType: completion.outputType ?? "application/json",
    };
  }
  if (completion.status === "CANCELED") return { kind: "canceled" };
  const error = completion.error ?? {};
  return {
    kind: "failure",
    status: completion.status ?? "FAILED",
    error: storableJson({ ...error, message: error.message ?? error.raw ?? "Unknown error" }) as Record<string, unknown> & { message: string },
    skipRetrying: completion.skipRetrying,
    retryable: completion.retryable,
    retryDelayMs: completion.retryDelayMs,
  };
}

export async function engineRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  app.addHook("preHandler", requireSecretKey(context.db, context.clock, context.apiKeys));
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { engine, settings } = context;
  await app.register(async (scope) => eventRoutes(scope, context));
  await app.register(async (scope) => workerEnvvarRoutes(scope, context));

  routes.post("/engine/v1/worker/register", { schema: { body: manifestSchema } }, async (request) => {
    const result = await registerWorkerVersion(engine, request.environment, request.body);
    return { version: result.version, queuedPendingRuns: result.promoted, current: result.current };
  });

  routes.post(
    "/engine/v1/dequeue",
    {
      schema: {
        body: z.object({
          workerId,
          maxRuns: z.number().int().min(1).max(100).default(10),
          waitSeconds: z.number().min(0).max(30).default(0),
          // Start the attempts at once (EXECUTING), sparing a start call per run.
          start: z.boolean().default(false),
          // The versions this worker runs: it is handed only runs pinned to one of them, and unpinned
          // ones. Without it, the environment's current version.
          versions: z.array(versionSchema).min(1).max(16).optional(),
          // The worker restores checkpointed runs (docs/checkpoints.md); others replay them.
          checkpoints: z.boolean().default(false),
        }),
      },
    },
    async (request, reply) => {
      const abort = abortWhenClientLeaves(request, reply, context.closing);
      const runs = await dequeue(engine, settings, {
        environmentId: request.environment.environmentId,
        workerId: request.body.workerId,
        max: request.body.maxRuns,
        start: request.body.start,
        versions: request.body.versions,
        waitMs: request.body.waitSeconds * 1000,
        signal: abort.signal,
        stillAllowed: keyStillValid(context.db, request.environment, context.apiKeys),
      });
      if (abort.workerHungUp()) {
        // The worker that asked may have died with runs it just received and never heartbeated.
        await dequeueConnectionLost(engine, { environmentId: request.environment.environmentId, workerId: request.body.workerId });
      }
      // Both read after the claim, side by side: one round trip's wait instead of two.
      const [version, checkpoints] = await Promise.all([
        runs.length > 0 ? envvarsVersion(context.db.sql, request.environment.environmentId) : 0,
        resumeCheckpoints(context.db.sql, runs, request.body.checkpoints),
      ]);
      return {
        runs: runs.map((run) => ({ ...workerRun(run, engine.clock.now(), version), checkpointId: checkpoints.get(run.run.id) })),
      };
    },
  );

  routes.post(
    "/engine/v1/runs/:runId/attempts/:attemptNumber/start",
    {
      schema: {
        params: z.object({ runId: z.string().min(1).max(64), attemptNumber: z.coerce.number().pipe(attemptNumberSchema) }),
        body: z.object({ workerId }),
      },
    },
    async (request) => {
      await startAttempt(engine, settings, {
        runId: runUuid(request.params.runId),
        attemptNumber: request.params.attemptNumber,
        workerId: request.body.workerId,
        environmentId: request.environment.environmentId,
      });
      return { ok: true };
    },
  );

  routes.post(
    "/engine/v1/heartbeat",
    {
      schema: {
        body: z.object({ workerId, runs: z.array(leaseSchema.extend({ canceling: z.boolean().optional() })).max(1000), waitSeconds: z.number().min(0).max(30).default(0) }),
      },
    },
    async (request, reply) => {
      const leases = request.body.runs.map((lease) => ({ runId: runUuid(lease.runId), attemptNumber: lease.attemptNumber, canceling: lease.canceling === true }));
      // A worker keeps one heartbeat in flight: its connection closing unanswered (not because this
      // server is closing) is the first sign that the worker died.
      const abort = abortWhenClientLeaves(request, reply, context.closing);
      const heartbeatId = randomUUID();
      const result = await heartbeat(engine, settings, {
        environmentId: request.environment.environmentId,
        workerId: request.body.workerId,
        leases,
        waitMs: request.body.waitSeconds * 1000,
        signal: abort.signal,
        stillAllowed: keyStillValid(context.db, request.environment, context.apiKeys),
        heartbeatId,
      });
      if (abort.workerHungUp()) {
        await heartbeatConnectionLost(engine, {
          environmentId: request.environment.environmentId,
          workerId: request.body.workerId,
          runIds: result.held,
          heartbeatId,
        });
      }
      return {
        lost: result.lost.map((id) => toPublicId("run", id)),
        cancel: result.cancel.map((id) => toPublicId("run", id)),
      };
    },
  );

  const journalBody = z.object({
    workerId,
    op: z.enum(["get", "record", "wait"]),
    kind: z.enum(["wait", "token", "step", "trigger", "batch"]).optional(),
    name: z.string().min(1).max(300).optional(),
    output: z.string().max(4 * 1024 * 1024).nullable().optional(),
    outputType: z.string().max(64).optional(),
    isError: z.boolean().optional(),
    wait: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("DATETIME"), date: z.iso.datetime({ offset: true }) }),
        z.object({ type: z.literal("TOKEN"), tokenId: z.string().min(1).max(64) }),
        z.object({ type: z.literal("RUN"), childRunId: z.string().min(1).max(64) }),
        z.object({ type: z.literal("BATCH"), batchId: z.string().min(1).max(64) }),
      ])
      .optional(),
  });

  routes.post(
    "/engine/v1/runs/:runId/journal/:position",
    { schema: { params: z.object({ runId: z.string().min(1).max(64), position: z.coerce.number().int().min(0).max(9999) }), body: journalBody } },
    async (request) => {
      const body = request.body;
      const lease = { runId: runUuid(request.params.runId), workerId: body.workerId };
      const need = (field: "kind" | "name" | "wait") => {
        if (body[field] === undefined) throw new ApiError("VALIDATION_FAILED", `body.${field}: required for op "${body.op}"`);
      };
      let operation: JournalRequest;
      if (body.op === "get") operation = { op: "get" };
      else if (body.op === "record") {
        need("kind");
        need("name");
        // Step results are run output too: secret values never reach the journal.
        const redact = await context.redactor.forEnvironment(request.environment.environmentId);
        operation = { op: "record", kind: body.kind!, name: body.name!, output: redact(body.output ?? null), outputType: body.outputType ?? "application/json", isError: body.isError ?? false };
      } else {
        need("kind");
        need("name");
        need("wait");
        const wait = body.wait!;
        const id = (prefix: "wp" | "run" | "batch", value: string) => {
          const uuid = fromPublicId(prefix, value);
          if (!uuid) throw new ApiError("NOT_FOUND", `No ${prefix === "wp" ? "wait token" : prefix} ${value}`);
          return uuid;
        };
        const spec: WaitSpec =
          wait.type === "DATETIME"
            ? { type: "DATETIME", date: new Date(wait.date) }
            : wait.type === "TOKEN"
              ? { type: "TOKEN", tokenId: id("wp", wait.tokenId) }
              : wait.type === "RUN"
                ? { type: "RUN", childRunId: id("run", wait.childRunId) }
                : { type: "BATCH", batchId: id("batch", wait.batchId) };
        operation = { op: "wait", kind: body.kind!, name: body.name!, wait: spec };
      }
      const entry = await journalOperation(engine, request.environment.environmentId, lease, request.params.position, operation);
      return { entry: entry ?? null };
    },
  );

  routes.post(
    "/engine/v1/runs/:runId/suspend",
    {
      schema: {
        params: z.object({ runId: z.string().min(1).max(64) }),
        body: z.object({
          workerId,
          // The run's container was checkpointed (docs/checkpoints.md): the resume restores it.
          checkpointId: z.string().uuid().optional(),
          // Why a wait that could have been checkpointed suspends by replay; shown on the run page.
          fallbackReason: z.string().min(1).max(2000).optional(),
        }),
      },
    },
    async (request) => {
      const { workerId: worker, checkpointId, fallbackReason } = request.body;
      const suspended = await suspendRun(engine, request.environment.environmentId, { runId: runUuid(request.params.runId), workerId: worker }, { checkpointId, fallbackReason });
      return { suspended };
    },
  );

  routes.post(
    "/engine/v1/release",
    { schema: { body: z.object({ workerId, runs: z.array(leaseSchema).max(1000) }) } },
    async (request) => {
      const leases = request.body.runs.map((lease) => ({ runId: runUuid(lease.runId), attemptNumber: lease.attemptNumber }));
      const holder = { environmentId: request.environment.environmentId, workerId: request.body.workerId };
      return { released: await handBack(engine, holder, leases) };
    },
  );

  routes.post(
    "/engine/v1/complete",
    {
      schema: {
        body: z.object({
          workerId,
          completions: z.array(completionSchema).min(1).max(100),
          // Optional (older workers leave it out): the next runs for the slots these completions free,
          // in the answer, so that a busy worker needs no dequeue request of its own.
          next: z
            .object({
              maxRuns: z.number().int().min(1).max(100),
              versions: z.array(versionSchema).min(1).max(16).optional(),
              // As on the dequeue: the worker can restore checkpointed runs (docs/checkpoints.md).
              checkpoints: z.boolean().default(false),
            })
            .optional(),
        }),
      },
      config: { textCheckedByRoute: ["completions"] },
    },
    async (request, reply) => {
      const abort = request.body.next ? abortWhenClientLeaves(request, reply, context.closing) : null;
      // Outputs and errors are redacted of secret values before anything is stored.
      const redact = await context.redactor.forEnvironment(request.environment.environmentId);
      // Each completion is its own transaction; those of one request go at once, on several connections.
      const results = await Promise.all(request.body.completions.map(async (completion, index) => {
        const { output: _output, error: _error, ...fields } = completion;
        const unstorable = unsafeTextIn(fields, `completions.${index}`);
        if (unstorable) return { runId: completion.runId.toWellFormed(), accepted: false, error: unstorable, code: "VALIDATION_FAILED" };
        try {
          const outcome = await completeAttempt(
            engine,
            {
              environmentId: request.environment.environmentId,
              runId: runUuid(completion.runId),
              attemptNumber: completion.attemptNumber,
              workerId: request.body.workerId,
            },
            outcomeOf({ ...completion, output: redact(completion.output), error: redact(completion.error) }, index),
            { retryInPlaceWithinMs: completion.retryInPlaceWithinMs, leaseSeconds: settings.leaseSeconds },
          );
          return {
            runId: completion.runId,
            accepted: true,
            status: outcome.status,
            retryAt: outcome.retryAt?.toISOString(),
            nextAttemptNumber: outcome.nextAttemptNumber,
          };
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          return { runId: completion.runId, accepted: false, error: error.message, code: error.code };
        }
      }));
      const next = request.body.next;
      if (!next) return { results };
      // A completion answered with a retry in place keeps its slot: no run for that one.
      const keptSlots = results.filter((result) => "nextAttemptNumber" in result && result.nextAttemptNumber !== undefined).length;
      const runs = await dequeueForCompletions(engine, settings, {
        environmentId: request.environment.environmentId,
        workerId: request.body.workerId,
        max: Math.min(next.maxRuns, request.body.completions.length) - keptSlots,
        versions: next.versions,
        signal: abort!.signal,
      });
      const [version, checkpoints] = await Promise.all([
        runs.length > 0 ? envvarsVersion(context.db.sql, request.environment.environmentId) : 0,
        resumeCheckpoints(context.db.sql, runs, next.checkpoints),
      ]);
      return { results, runs: runs.map((run) => ({ ...workerRun(run, engine.clock.now(), version), checkpointId: checkpoints.get(run.run.id) })) };
    },
  );
}
