// Triggering runs over HTTP: one run, or a batch through the two-phase streaming API.
import { apiRequest } from "./api-client.ts";
import { resolveIdempotencyKey } from "./idempotency.ts";
import { currentRuntime } from "./runtime.ts";
import { offloadIfLarge, triggerPayloadPrefix } from "./packets.ts";
import { stringifyPacket } from "./serialization.ts";

export interface TriggerOptions {
  queue?: string | { name: string };
  concurrencyKey?: string;
  delay?: string | Date;
  ttl?: string | number;
  idempotencyKey?: string | string[];
  idempotencyKeyTTL?: string;
  tags?: string | string[];
  metadata?: Record<string, unknown>;
  maxAttempts?: number;
  maxDuration?: number;
  machine?: string;
  priority?: number;
  version?: string;
  debounce?: { key: string; delay: string; mode?: "leading" | "trailing"; maxDelay?: string };
}

export interface RunHandle<TTaskId extends string = string> {
  id: string;
  taskIdentifier: TTaskId;
  isCached?: boolean;
  publicAccessToken: string;
}

export interface BatchItem<TPayload> {
  payload: TPayload;
  options?: TriggerOptions;
}

export interface BatchHandle {
  batchId: string;
  runCount: number;
  publicAccessToken: string;
}

async function requestOptions(options: TriggerOptions | undefined, payloadType: string) {
  const runtime = currentRuntime();
  const { version, idempotencyKey, queue, ...rest } = options ?? {};
  return {
    ...rest,
    queue: typeof queue === "string" ? { name: queue } : queue,
    idempotencyKey: await resolveIdempotencyKey(idempotencyKey),
    lockToVersion: version,
    payloadType,
    parentRunId: runtime?.ctx.run.id,
    test: runtime?.ctx.run.isTest || undefined,
  };
}

export async function triggerTask<TTaskId extends string>(
  taskIdentifier: TTaskId,
  payload: unknown,
  options?: TriggerOptions,
): Promise<RunHandle<TTaskId>> {
  const packet = await offloadIfLarge(stringifyPacket(payload), triggerPayloadPrefix());
  const response = await apiRequest<{ id: string; isCached?: boolean }>(
    "POST",
    `/api/v1/tasks/${encodeURIComponent(taskIdentifier)}/trigger`,
    { body: { payload: packet.data, options: await requestOptions(options, packet.dataType) } },
  );
  return { id: response.id, taskIdentifier, isCached: response.isCached, publicAccessToken: "" };
}

export async function batchTriggerTasks(
  items: Array<{ task: string; payload: unknown; options?: TriggerOptions }>,
  options: { idempotencyKey?: string } = {},
): Promise<BatchHandle> {
  const batch = await apiRequest<{ id: string; runCount: number; isCached: boolean }>("POST", "/api/v3/batches", {
    body: { runCount: items.length, idempotencyKey: options.idempotencyKey, parentRunId: currentRuntime()?.ctx.run.id },
  });
  if (!batch.isCached) {
    const lines = [];
    for (const [index, item] of items.entries()) {
      const packet = await offloadIfLarge(stringifyPacket(item.payload), triggerPayloadPrefix());
      lines.push(JSON.stringify({ index, task: item.task, payload: packet.data, options: await requestOptions(item.options, packet.dataType) }));
    }
    await apiRequest("POST", `/api/v3/batches/${batch.id}/items`, { rawBody: `${lines.join("\n")}\n`, contentType: "application/x-ndjson" });
  }
  return { batchId: batch.id, runCount: batch.runCount, publicAccessToken: "" };
}
