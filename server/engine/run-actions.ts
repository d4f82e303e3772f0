// What the API can do to an existing run: cancel, replay, reschedule, tag, and change its metadata.
import { ApiError } from "../errors.ts";
import { fromPublicId } from "../ids.ts";
import {
  queueEntriesDelete,
  runsAddTags,
  runsFindById,
  runsFinish,
  runsRequestCancel,
  runsReschedule,
  runsLockForMetadata,
  runsSetMetadata,
  type RunRow,
} from "../storage/runs.ts";
import { delayProblem, resolveDelay } from "./durations.ts";
import { isFinal } from "./run-status.ts";
import { completeWaitpointsForFinishedRun } from "./waitpoints.ts";
import { triggerRun, type EngineDeps, type TriggerEnvironment } from "./trigger.ts";
import type { TriggerOptions } from "../api/trigger-schema.ts";
import { limits } from "../api/limits.ts";
import { decodePacket } from "../api/packets.ts";
import { applyMetadataOperations, type MetadataOperation } from "./metadata.ts";

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
    deps.metrics?.runFinished(run.taskIdentifier, "CANCELED");
    return completeWaitpointsForFinishedRun(tx, id, now);
  });
  for (const resumedEnvironment of resumed) deps.notifier.queueChanged(resumedEnvironment);
  deps.notifier.queueChanged(environmentId);
  // Wakes the environment's long-polling heartbeats, so the worker holding the run hears at once.
  deps.notifier.leasesChanged(environmentId);
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
  if (delayUntil === null) throw new ApiError("VALIDATION_FAILED", `body.delay: ${delayProblem(delay, now) ?? 'must be a duration like "10m" or an ISO date'}`);
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

export interface MetadataUpdate {
  /** Replaces the run's metadata before `operations` apply. */
  metadata?: Record<string, unknown>;
  operations?: MetadataOperation[];
  /** For the run's parent; a run without a parent applies them to itself, as the SDK's metadata.parent does. */
  parentOperations?: MetadataOperation[];
  /** For the run's root; a root run applies them to itself. */
  rootOperations?: MetadataOperation[];
}

type MetadataChange = { replace?: Record<string, unknown>; operations: MetadataOperation[]; field: string };
type Lineage = { parentRunId: string | null; rootRunId: string | null };

/**
 * Applies changes to one run under its row lock: concurrent writers (the worker's periodic flush,
 * the API, children writing to their parent) are applied one after another and none is lost.
 * `changesFor` picks the changes once the run's parent and root are known. Null when the run is
 * not in the environment.
 */
async function applyMetadataChanges(
  deps: EngineDeps,
  environmentId: string,
  id: string,
  changesFor: (lineage: Lineage) => MetadataChange[],
): Promise<({ metadata: Record<string, unknown> } & Lineage) | null> {
  return deps.db.sql.begin(async (tx) => {
    const run = await runsLockForMetadata(tx, environmentId, id);
    if (!run) return null;
    const stored = decodePacket(run.metadata, run.metadataType);
    let metadata = stored !== null && typeof stored === "object" && !Array.isArray(stored) ? (stored as Record<string, unknown>) : {};
    const changes = changesFor(run);
    for (const change of changes) {
      if (change.replace) metadata = change.replace;
      metadata = applyMetadataOperations(metadata, change.operations, change.field);
    }
    if (changes.length > 0) {
      const text = JSON.stringify(metadata);
      if (Buffer.byteLength(text) > limits.metadataBytes) {
        const field = changes.at(-1)!.field;
        throw new ApiError("PAYLOAD_TOO_LARGE", `${field}: metadata would be ${Buffer.byteLength(text)} bytes; the limit is ${limits.metadataBytes} bytes (256 KB)`);
      }
      await runsSetMetadata(tx, id, text, deps.clock.now());
    }
    return { metadata, parentRunId: run.parentRunId, rootRunId: run.rootRunId };
  });
}

/**
 * PUT /api/v1/runs/{id}/metadata. The run's own changes first, then its parent's, then its root's,
 * each run in its own transaction holding only that run's lock (one holding a child's and its
 * parent's locks at once could deadlock with a completion resuming the parent). Every key is
 * checked before anything is written.
 */
export async function updateRunMetadata(deps: EngineDeps, environmentId: string, publicId: string, update: MetadataUpdate): Promise<Record<string, unknown>> {
  const id = runIdOrNotFound(publicId);
  const own: MetadataChange = { replace: update.metadata, operations: update.operations ?? [], field: "body.operations" };
  const parent: MetadataChange = { operations: update.parentOperations ?? [], field: "body.parentOperations" };
  const root: MetadataChange = { operations: update.rootOperations ?? [], field: "body.rootOperations" };
  for (const change of [own, parent, root]) applyMetadataOperations({}, change.operations, change.field);
  if (update.metadata && Buffer.byteLength(JSON.stringify(update.metadata)) > limits.metadataBytes) {
    throw new ApiError("PAYLOAD_TOO_LARGE", `body.metadata is over the limit of ${limits.metadataBytes} bytes (256 KB)`);
  }
  const nonEmpty = (changes: MetadataChange[]) => changes.filter((change) => change.replace || change.operations.length > 0);

  // A run without a parent (or root) is its own parent (or root), as for the SDK's metadata.parent.
  const result = await applyMetadataChanges(deps, environmentId, id, (lineage) =>
    nonEmpty([own, ...(lineage.parentRunId ? [] : [parent]), ...(lineage.rootRunId ? [] : [root])]),
  );
  if (!result) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  // Parent and root are in the run's environment (trigger checks parentRunId); the filter keeps it so.
  const { parentRunId, rootRunId } = result;
  if (parentRunId) {
    await applyMetadataChanges(deps, environmentId, parentRunId, () => nonEmpty(parentRunId === rootRunId ? [parent, root] : [parent]));
  }
  if (rootRunId && rootRunId !== parentRunId) await applyMetadataChanges(deps, environmentId, rootRunId, () => nonEmpty([root]));
  // Subscribers of the runs hear of it (realtime).
  deps.notifier.runsChanged(environmentId);
  return result.metadata;
}
