// Realtime streams from inside a task, on Trigger.dev's v1 stream protocol: pipe an async iterable
// (an AI model's tokens, say) to the run's stream as NDJSON, append single chunks, read a run's
// stream as server-sent events. The executor waits for open pipes before the attempt ends, as
// Trigger.dev's runtime does. See docs/realtime.md.
import { apiRequest } from "./api-client.ts";
import { resolvedConfig } from "./config.ts";
import { currentRuntime } from "./runtime.ts";

export interface StreamTargetOptions {
  /** "self" (default), "parent", "root" or a run id. */
  target?: string;
  signal?: AbortSignal;
}

// Shared through globalThis: the executor and the task bundle each load their own copy of the SDK.
const openKey = Symbol.for("ratchet.sdk.streams.open");
const open: Set<Promise<unknown>> = ((globalThis as Record<symbol, unknown>)[openKey] ??= new Set()) as Set<Promise<unknown>>;

function runAndTarget(options: StreamTargetOptions | undefined): { runId: string; target: string } {
  const target = options?.target ?? "self";
  const own = currentRuntime()?.ctx.run.id;
  if (["self", "parent", "root"].includes(target)) {
    if (!own) throw new Error("streams: outside a task, pass { target: runId }");
    return { runId: own, target };
  }
  return { runId: target, target: "self" };
}

function streamUrl(runId: string, target: string, key: string): string {
  return `/realtime/v1/streams/${encodeURIComponent(runId)}/${encodeURIComponent(target)}/${encodeURIComponent(key)}`;
}

/** Sends every value of `source` to the stream; `stream` yields them to the caller as well. */
// The return type is spelled out so the published types name the global ReadableStream, which a
// user's project has from TypeScript's DOM library, not Node's "stream/web" (needs @types/node).
export function pipe<T>(
  key: string,
  source: AsyncIterable<T> | ReadableStream<T>,
  options?: StreamTargetOptions,
): { stream: ReadableStream<T>; waitUntilComplete: () => Promise<void> } {
  const { runId, target } = runAndTarget(options);
  const readable = source instanceof ReadableStream ? source : ReadableStream.from(source);
  const [toServer, toCaller] = readable.tee();
  const { baseURL, accessToken } = resolvedConfig();
  const done = (async () => {
    await apiRequest("PUT", streamUrl(runId, target, key));
    const encoder = new TextEncoder();
    const body = toServer.pipeThrough(new TransformStream<T, Uint8Array>({ transform: (value, controller) => controller.enqueue(encoder.encode(`${JSON.stringify(value)}\n`)) }));
    const response = await fetch(`${baseURL}${streamUrl(runId, target, key)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", "x-resume-from-chunk": "0" },
      body,
      duplex: "half",
      signal: options?.signal,
    } as RequestInit);
    if (!response.ok) throw new Error(`streams.pipe(${key}): ${response.status} ${await response.text()}`);
    await response.body?.cancel();
  })();
  const tracked = done.catch(() => {});
  open.add(tracked);
  void tracked.finally(() => open.delete(tracked));
  return { stream: toCaller, waitUntilComplete: () => done };
}

/** Appends one chunk (a string is sent as is, anything else as JSON). */
export async function append(key: string, value: unknown, options?: StreamTargetOptions): Promise<void> {
  const { runId, target } = runAndTarget(options);
  await apiRequest("POST", `${streamUrl(runId, target, key)}/append`, { rawBody: typeof value === "string" ? value : JSON.stringify(value), contentType: "text/plain" });
}

/** Waits for the pipes this process opened (the executor calls it before ending an attempt). */
export async function waitForOpenStreams(): Promise<void> {
  while (open.size > 0) await Promise.all([...open]);
}

export const streams = { pipe, append };
