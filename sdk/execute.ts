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

const nonRetryable = new Set(["AbortTaskRunError", "TaskPayloadParsedError"]);

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
  const params: { ctx: TaskContext; signal: AbortSignal; init?: unknown } = { ctx, signal };
  let output: unknown;
  try {
    try {
      const body = async () => {
        if (task.init) params.init = await task.init(payload, { ctx, signal });
        if (ctx.attempt.number === 1 && task.onStart) await task.onStart(payload, params);
        if (task.onStartAttempt) await task.onStartAttempt(payload, params);
        output = await task.run(payload, params);
      };
      if (task.middleware) await task.middleware(payload, { ctx, signal, next: body });
      else await body();
    } catch (thrown) {
      let error = thrown;
      let skipRetrying = nonRetryable.has((thrown as Error)?.name);
      let retryDelayMs: number | undefined;
      if (task.catchError) {
        const decision: CatchErrorResult = await task.catchError(payload, { ...params, error });
        if (decision?.skipRetrying) skipRetrying = true;
        if (decision?.retryAt) retryDelayMs = Math.max(0, decision.retryAt.getTime() - Date.now());
        if (decision?.retryDelayInMs !== undefined) retryDelayMs = decision.retryDelayInMs;
        if (decision?.error !== undefined) error = decision.error;
      }
      const final = skipRetrying || ctx.attempt.number >= input.maxAttempts;
      if (final) {
        await quietly("onFailure", () => task.onFailure?.(payload, error, params));
        await quietly("onComplete", () => task.onComplete?.(payload, { ok: false, error }, params));
      }
      return { ok: false, error: serializeError(error), skipRetrying, retryDelayMs, final };
    }
    await quietly("onSuccess", () => task.onSuccess?.(payload, output, params));
    await quietly("onComplete", () => task.onComplete?.(payload, { ok: true, data: output }, params));
    return { ok: true, output };
  } finally {
    await quietly("cleanup", () => task.cleanup?.(payload, params));
  }
}
