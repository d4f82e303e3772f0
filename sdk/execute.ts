// Runs one attempt of a task with its hooks in Trigger.dev's order:
//   middleware wraps → init → onStart (first attempt only) → onStartAttempt → run
//   success: onSuccess → onComplete;  error: catchError, then (when no retry follows) onFailure → onComplete
//   always: cleanup
// The worker calls this inside the run's child process.
import { logger } from "./logger.ts";
import type { TaskContext } from "./runtime.ts";
import type { AnyTaskOptions, CatchErrorResult } from "./task.ts";

export interface SerializedTaskError {
  type: "BUILT_IN_ERROR" | "STRING_ERROR" | "CUSTOM_ERROR";
  name?: string;
  message: string;
  stackTrace?: string;
  raw?: string;
}

export type AttemptResult =
  | { ok: true; output: unknown }
  | { ok: false; error: SerializedTaskError; skipRetrying: boolean; retryDelayMs?: number; final: boolean };

const nonRetryable = new Set(["AbortTaskRunError", "TaskPayloadParsedError", "JournalMismatchError"]);

export function serializeError(error: unknown): SerializedTaskError {
  if (error instanceof Error) {
    return { type: "BUILT_IN_ERROR", name: error.name, message: error.message, stackTrace: error.stack ?? "" };
  }
  if (typeof error === "string") return { type: "STRING_ERROR", message: error, raw: error };
  let raw: string;
  try {
    raw = JSON.stringify(error);
  } catch {
    raw = String(error);
  }
  return { type: "CUSTOM_ERROR", message: raw, raw };
}

async function quietly(name: string, hook: (() => unknown) | undefined): Promise<void> {
  if (!hook) return;
  try {
    await hook();
  } catch (error) {
    logger.error(`The ${name} hook threw: ${(error as Error)?.message ?? String(error)}`);
  }
}

export async function executeAttempt(input: {
  task: AnyTaskOptions;
  payload: unknown;
  ctx: TaskContext;
  signal: AbortSignal;
  maxAttempts: number;
}): Promise<AttemptResult> {
  const { task, payload, ctx, signal } = input;
  const base = { ctx, payload, task: task.id as string, signal };
  const hook: { init?: unknown } = {};
  const params = () => ({ ...base, init: hook.init });
  let output: unknown;
  try {
    try {
      const body = async () => {
        if (task.init) hook.init = await task.init(base);
        if (ctx.attempt.number === 1 && task.onStart) await task.onStart(params());
        if (task.onStartAttempt) await task.onStartAttempt(base);
        output = await task.run(payload, { ctx, signal, init: hook.init });
      };
      if (task.middleware) await task.middleware({ ...base, next: body });
      else await body();
    } catch (thrown) {
      let error = thrown;
      let skipRetrying = nonRetryable.has((thrown as Error)?.name);
      let retryDelayMs: number | undefined;
      if (task.catchError) {
        const decision: CatchErrorResult = await task.catchError({ ...params(), error, retry: task.retry });
        if (decision?.skipRetrying) skipRetrying = true;
        if (decision?.retryAt) retryDelayMs = Math.max(0, decision.retryAt.getTime() - Date.now());
        if (decision?.retryDelayInMs !== undefined) retryDelayMs = decision.retryDelayInMs;
        if (decision?.error !== undefined) error = decision.error;
      }
      const final = skipRetrying || ctx.attempt.number >= input.maxAttempts;
      if (final) {
        await quietly("onFailure", () => task.onFailure?.({ ...params(), error }));
        await quietly("onComplete", () => task.onComplete?.({ ...params(), result: { ok: false, error } }));
      }
      return { ok: false, error: serializeError(error), skipRetrying, retryDelayMs, final };
    }
    await quietly("onSuccess", () => task.onSuccess?.({ ...params(), output }));
    await quietly("onComplete", () => task.onComplete?.({ ...params(), result: { ok: true, data: output } }));
    return { ok: true, output };
  } finally {
    await quietly("cleanup", () => task.cleanup?.(params()));
  }
}
