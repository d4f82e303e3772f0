// Idempotency keys as Trigger.dev makes them: sha256 of the key parts, scoped to the run (default,
// inside a task), the attempt, or global.
import { createHash } from "node:crypto";
import { apiRequest } from "./api-client.ts";
import { currentRuntime } from "./runtime.ts";

export type IdempotencyKeyScope = "run" | "attempt" | "global";

const keyPattern = /^[0-9a-f]{64}$/;

export function isIdempotencyKey(value: string): boolean {
  return keyPattern.test(value);
}

export async function createIdempotencyKey(key: string | string[], options: { scope?: IdempotencyKeyScope } = {}): Promise<string> {
  const parts = Array.isArray(key) ? [...key] : [key];
  const runtime = currentRuntime();
  const scope = options.scope ?? "run";
  if (runtime && scope !== "global") parts.push(runtime.ctx.run.id);
  if (runtime && scope === "attempt") parts.push(String(runtime.ctx.attempt.number));
  return createHash("sha256").update(parts.join("-")).digest("hex");
}

export const idempotencyKeys = {
  create: createIdempotencyKey,
  async reset(taskIdentifier: string, key: string): Promise<void> {
    await apiRequest("POST", `/api/v1/idempotencyKeys/${encodeURIComponent(key)}/reset`, { body: { taskIdentifier } });
  },
};

/** A plain string key used inside a run is scoped to that run, as on Trigger.dev. */
export async function resolveIdempotencyKey(key: string | string[] | undefined): Promise<string | undefined> {
  if (key === undefined) return undefined;
  if (typeof key === "string" && (isIdempotencyKey(key) || !currentRuntime())) return key;
  return createIdempotencyKey(key);
}
