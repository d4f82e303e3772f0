// What the API can do to an existing run: cancel, replay, reschedule, tag, and set metadata.
import { ApiError } from "../errors.ts";
import { fromPublicId } from "../ids.ts";
import {
  queueEntriesDelete,
  runsAddTags,
  runsFindById,
  runsFinish,
  runsRequestCancel,
  runsReschedule,
  runsSetMetadata,
  type RunRow,
} from "../storage/runs.ts";
import { resolveDelay } from "./durations.ts";
import { isFinal } from "./run-status.ts";
import { completeWaitpointsForFinishedRun } from "./waitpoints.ts";
import { triggerRun, type EngineDeps, type TriggerEnvironment } from "./trigger.ts";
import type { TriggerOptions } from "../api/trigger-schema.ts";
import { limits } from "../api/limits.ts";

export function runIdOrNotFound(publicId: string): string {
  const id = fromPublicId("run", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  return id;
}

export async function findRunOrNotFound(deps: EngineDeps, environmentId: string, publicId: string): Promise<RunRow> {
  const run = await runsFindById(deps.db.sql, environmentId, runIdOrNotFound(publicId));
  if (!run) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  return run;
}

const canceledError = { type: "STRING_ERROR", message: "Run was canceled" };

/**
 * A run that is not executing is canceled at once. An executing run is flagged; its worker learns of
 * it with its next heartbeat, aborts the task's signal, and the run ends CANCELED.
 */
export async function cancelRun(deps: EngineDeps, environmentId: string, publicId: string): Promise<void> {
  const id = runIdOrNotFound(publicId);
  const now = deps.clock.now();
  const resumed = await deps.db.sql.begin(async (tx) => {
    // The queue entry first, then the run: the same lock order as dequeue.
    await queueEntriesDelete(tx, id);
    const run = await runsFindById(tx, environmentId, id, true);
    if (!run) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
    if (isFinal(run.status)) return [];
    if (run.status === "DEQUEUED" || run.status === "EXECUTING") {
      await runsRequestCancel(tx, id, now);
      return [];
    }
    await runsFinish(tx, id, "CANCELED", canceledError, now);
    return completeWaitpointsForFinishedRun(tx, id, now);
  });
  for (const resumedEnvironment of resumed) deps.notifier.queueChanged(resumedEnvironment);
  // Wakes the environment's long-polling heartbeats, so the worker holding the run hears at once.
  deps.notifier.queueChanged(environmentId);
}

function parsedJson(text: unknown): unknown {
  return text === null || text === undefined ? undefined : text;
}

/** A new run of the same task with the same payload and options. */
export async function replayRun(
  deps: EngineDeps,
  environment: TriggerEnvironment,
  publicId: string,
  overrides: Partial<TriggerOptions> & { payload?: unknown; payloadType?: string },
): Promise<string> {
  const run = await findRunOrNotFound(deps, environment.environmentId, publicId);
  const { payload, payloadType, ...options } = overrides;
  const result = await triggerRun(deps, environment, {
    taskIdentifier: run.taskIdentifier,
    payload: payload !== undefined ? payload : parsedJson(run.payload),
    options: {
      payloadType: payloadType ?? run.payloadType,
      queue: run.queueName,
      concurrencyKey: run.concurrencyKey ?? undefined,
      tags: run.tags,
      metadata: parsedJson(run.metadata),
      metadataType: run.metadataType,
      maxAttempts: run.maxAttempts ?? undefined,
      maxDuration: run.maxDurationS ?? undefined,
      machine: run.machine ?? undefined,
      priority: run.priorityMs / 1000,
      ttl: run.ttl ?? undefined,
      test: run.isTest,
      ...options,
    },
    replayedFromId: run.id,
  });
  return result.runId;
}

export async function rescheduleRun(deps: EngineDeps, environmentId: string, publicId: string, delay: string): Promise<void> {
  const id = runIdOrNotFound(publicId);
  const now = deps.clock.now();
  const delayUntil = resolveDelay(delay, now);
  if (delayUntil === null) throw new ApiError("VALIDATION_FAILED", 'body.delay: must be a duration like "10m" or an ISO date');
  await deps.db.sql.begin(async (tx) => {
    const run = await runsFindById(tx, environmentId, id, true);
    if (!run) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
    if (run.status !== "DELAYED") {
      throw new ApiError("UNPROCESSABLE", `Cannot reschedule a run that is not delayed (it is ${run.status})`);
    }
    await runsReschedule(tx, id, delayUntil, now);
  });
}

export async function addTags(deps: EngineDeps, environmentId: string, publicId: string, tags: string[]): Promise<void> {
  const id = runIdOrNotFound(publicId);
  await deps.db.sql.begin(async (tx) => {
    const run = await runsFindById(tx, environmentId, id, true);
    if (!run) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
    const merged = new Set([...run.tags, ...tags]);
    if (merged.size > limits.tagsPerRun) {
      throw new ApiError("UNPROCESSABLE", `A run may have at most ${limits.tagsPerRun} tags; it would have ${merged.size}`);
    }
    await runsAddTags(tx, id, tags, deps.clock.now());
  });
}

export async function setMetadata(deps: EngineDeps, environmentId: string, publicId: string, metadata: Record<string, unknown>): Promise<void> {
  const id = runIdOrNotFound(publicId);
  const text = JSON.stringify(metadata);
  if (Buffer.byteLength(text) > limits.metadataBytes) {
    throw new ApiError("PAYLOAD_TOO_LARGE", `metadata is ${Buffer.byteLength(text)} bytes; the limit is ${limits.metadataBytes} bytes (256 KB)`);
  }
  const run = await runsFindById(deps.db.sql, environmentId, id);
  if (!run) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  await runsSetMetadata(deps.db.sql, id, text, deps.clock.now());
  // Subscribers of the run hear of it (realtime).
  deps.notifier.runsChanged(environmentId);
}
