// A claimed run as the worker protocol hands it out, from the dequeue and from a completion's answer
// (docs/protocol.md): the same shape in both, so a worker starts it the same way.
import { decodePacket } from "../../api/packets.ts";
import type { DequeuedRun } from "../../engine/execution.ts";
import { toPublicId } from "../../ids.ts";
import { traceIdForRootRun } from "../../observability/span-ids.ts";

/**
 * `envvarsVersion` is the environment's variables version read after the claim: a worker that has
 * that version's variables already starts the run without asking for them again.
 */
export function workerRun({ run, attemptNumber }: DequeuedRun, now: Date, envvarsVersion: number) {
  return {
    id: toPublicId("run", run.id),
    attemptNumber,
    taskIdentifier: run.taskIdentifier,
    payload: run.payload ?? undefined,
    payloadType: run.payloadType,
    metadata: decodePacket(run.metadata, run.metadataType) ?? undefined,
    tags: run.tags,
    queue: run.queueName,
    concurrencyKey: run.concurrencyKey ?? undefined,
    idempotencyKey: run.idempotencyKey ?? undefined,
    maxAttempts: run.maxAttempts ?? undefined,
    retry: run.retry ?? undefined,
    maxDuration: run.maxDurationS ?? undefined,
    machine: run.machine ?? undefined,
    version: run.workerVersion ?? undefined,
    isTest: run.isTest,
    createdAt: run.createdAt.toISOString(),
    startedAt: (run.startedAt ?? now).toISOString(),
    parentRunId: run.parentRunId ? toPublicId("run", run.parentRunId) : undefined,
    rootRunId: run.rootRunId ? toPublicId("run", run.rootRunId) : undefined,
    // The run's trace (docs/tracing.md): the SDK nests the task's spans under the attempt's.
    traceId: traceIdForRootRun(run.rootRunId ?? run.id),
    batchId: run.batchId ? toPublicId("batch", run.batchId) : undefined,
    depth: run.depth,
    envvarsVersion,
  };
}
