// Runs as Trigger.dev's API shows them (RetrieveRunResponse, ListRunResponseItem). Optional fields are
// left out rather than sent as null: the SDK's schemas reject null there.
import { toPublicId } from "../ids.ts";
import { statusFlags } from "../engine/run-status.ts";
import type { RunRow } from "../storage/runs.ts";
import { decodePacket } from "./packets.ts";

type Json = Record<string, unknown>;

function defined(object: Json): Json {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined && value !== null));
}

const triggerFunctions = new Set(["trigger", "triggerAndWait", "batchTrigger", "batchTriggerAndWait"]);

/** A stored error (TaskRunError-like) as the SDK's SerializedError: { message, name?, stackTrace? }. */
export function serializedError(error: Record<string, unknown> | null): Json | undefined {
  if (!error) return undefined;
  const message =
    (typeof error.message === "string" && error.message) ||
    (typeof error.raw === "string" && error.raw) ||
    (typeof error.code === "string" && `Internal error (${error.code})`) ||
    "Unknown error";
  return defined({
    message,
    name: typeof error.name === "string" ? error.name : typeof error.code === "string" ? error.code : undefined,
    stackTrace: typeof error.stackTrace === "string" ? error.stackTrace : undefined,
  });
}

function metadataObject(run: RunRow): Json | undefined {
  const value = decodePacket(run.metadata, run.metadataType);
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
}

export function commonRunFields(run: RunRow): Json {
  const durationMs = run.startedAt && run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : 0;
  return defined({
    id: toPublicId("run", run.id),
    status: run.status,
    taskIdentifier: run.taskIdentifier,
    idempotencyKey: run.idempotencyKey ?? undefined,
    version: run.workerVersion ?? undefined,
    ...statusFlags(run.status),
    isTest: run.isTest,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    startedAt: run.startedAt?.toISOString(),
    finishedAt: run.finishedAt?.toISOString(),
    delayedUntil: run.delayUntil?.toISOString(),
    ttl: run.ttl ?? undefined,
    expiredAt: run.expiredAt?.toISOString(),
    tags: run.tags,
    costInCents: 0,
    baseCostInCents: 0,
    durationMs,
    metadata: metadataObject(run),
    taskKind: "STANDARD",
  });
}

export function relatedRunFields(run: RunRow): Json {
  return defined({
    ...commonRunFields(run),
    depth: run.depth,
    triggerFunction: triggerFunctions.has(run.triggerFunction) ? run.triggerFunction : "trigger",
    batchId: run.batchId ? toPublicId("batch", run.batchId) : undefined,
  });
}

export function retrieveRunResponse(
  run: RunRow,
  related: { parent: RunRow | null; root: RunRow | null; children: RunRow[] },
): Json {
  return defined({
    ...relatedRunFields(run),
    payload: decodePacket(run.payload, run.payloadType),
    output: decodePacket(run.output, run.outputType),
    error: run.status === "COMPLETED" ? undefined : serializedError(run.error),
    relatedRuns: defined({
      root: related.root ? relatedRunFields(related.root) : undefined,
      parent: related.parent ? relatedRunFields(related.parent) : undefined,
      children: related.children.length > 0 ? related.children.map(relatedRunFields) : undefined,
    }),
    attemptCount: run.attemptCount,
    // Beyond Trigger.dev's shape (its SDK ignores extra fields): how the payload and output were encoded.
    payloadType: run.payloadType,
    outputType: run.outputType ?? undefined,
    queue: run.queueName,
    concurrencyKey: run.concurrencyKey ?? undefined,
  });
}

export function listRunItem(run: RunRow, environment: { id: string; slug: string }): Json {
  return { ...commonRunFields(run), env: { id: environment.id, name: environment.slug } };
}
