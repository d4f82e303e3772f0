// Wait tokens (MANUAL waitpoints): created by code or people, completed through the API, the
// dashboard or a callback URL, or timed out by the sweeper.
import { createHmac, timingSafeEqual } from "node:crypto";
import { ApiError } from "../errors.ts";
import { fromPublicId, toPublicId, uuidv7 } from "../ids.ts";
import {
  instanceCallbackSecret,
  waitpointsClearIdempotencyKey,
  waitpointsFind,
  waitpointsFindAnyEnvironment,
  waitpointsFindByIdempotencyKey,
  waitpointsInsert,
  type WaitpointRow,
} from "../storage/waitpoints.ts";
import { delayProblem, durationProblem, parseDurationMs, resolveDelay } from "./durations.ts";
import type { EngineDeps } from "./trigger.ts";
import { completeWaitpoints } from "./waitpoints.ts";

const defaultIdempotencyTtlMs = 30 * 24 * 3_600_000;

export function tokenIdOrNotFound(publicId: string): string {
  const id = fromPublicId("wp", publicId);
  if (!id) throw new ApiError("NOT_FOUND", `No wait token ${publicId}`);
  return id;
}

function signature(secret: Buffer, id: string): string {
  return createHmac("sha256", secret).update(id).digest("hex");
}

export async function tokenCallbackUrl(deps: EngineDeps, publicUrl: string, id: string): Promise<string> {
  const secret = await instanceCallbackSecret(deps.db.sql);
  return `${publicUrl}/api/v1/waitpoints/tokens/${toPublicId("wp", id)}/callback/${signature(secret, id)}`;
}

export async function createToken(
  deps: EngineDeps,
  environmentId: string,
  options: { timeout?: string; idempotencyKey?: string; idempotencyKeyTTL?: string; tags?: string[] },
): Promise<{ id: string; isCached: boolean }> {
  const now = deps.clock.now();
  let timeoutAt: Date | null = null;
  if (options.timeout !== undefined) {
    timeoutAt = resolveDelay(options.timeout, now);
    if (!timeoutAt) throw new ApiError("VALIDATION_FAILED", `body.timeout: ${delayProblem(options.timeout, now) ?? 'must be a duration like "1h" or an ISO date'}`);
  }
  return deps.db.sql.begin(async (tx) => {
    if (options.idempotencyKey) {
      const existing = await waitpointsFindByIdempotencyKey(tx, environmentId, options.idempotencyKey);
      if (existing) {
        if (!existing.idempotencyKeyExpiresAt || existing.idempotencyKeyExpiresAt > now) return { id: existing.id, isCached: true };
        await waitpointsClearIdempotencyKey(tx, existing.id);
      }
    }
    const ttlMs = options.idempotencyKeyTTL ? parseDurationMs(options.idempotencyKeyTTL) : defaultIdempotencyTtlMs;
    if (ttlMs === null) throw new ApiError("VALIDATION_FAILED", `body.idempotencyKeyTTL: ${durationProblem(options.idempotencyKeyTTL!) ?? "is not a duration"}`);
    const id = uuidv7(now);
    await waitpointsInsert(
      tx,
      {
        id,
        environmentId,
        type: "MANUAL",
        completedAfter: timeoutAt,
        idempotencyKey: options.idempotencyKey ?? null,
        idempotencyKeyExpiresAt: options.idempotencyKey ? new Date(now.getTime() + ttlMs) : null,
        tags: options.tags ?? [],
      },
      now,
    );
    return { id, isCached: false };
  });
}

async function complete(deps: EngineDeps, token: WaitpointRow, data: { output: string | null; outputType: string }): Promise<void> {
  if (token.status === "TIMED_OUT") throw new ApiError("CONFLICT", "The wait token timed out before it was completed");
  if (token.status === "COMPLETED") return;
  const environments = await deps.db.sql.begin((tx) =>
    completeWaitpoints(tx, [token.id], { status: "COMPLETED", output: data.output, outputType: data.outputType, isError: false }, deps.clock.now()),
  );
  for (const environmentId of environments) deps.notifier.queueChanged(environmentId);
}

export async function completeToken(deps: EngineDeps, environmentId: string, publicId: string, data: { output: string | null; outputType: string }): Promise<void> {
  const token = await waitpointsFind(deps.db.sql, environmentId, tokenIdOrNotFound(publicId));
  if (!token || token.type !== "MANUAL") throw new ApiError("NOT_FOUND", `No wait token ${publicId}`);
  await complete(deps, token, data);
}

/** The callback URL is its own credential: the signature proves it was handed out by this server. */
export async function completeTokenByCallback(deps: EngineDeps, publicId: string, hash: string, data: { output: string | null; outputType: string }): Promise<void> {
  const id = tokenIdOrNotFound(publicId);
  const expected = Buffer.from(signature(await instanceCallbackSecret(deps.db.sql), id));
  const given = Buffer.from(hash);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new ApiError("NOT_FOUND", `No wait token ${publicId}`);
  const token = await waitpointsFindAnyEnvironment(deps.db.sql, id);
  if (!token || token.type !== "MANUAL") throw new ApiError("NOT_FOUND", `No wait token ${publicId}`);
  await complete(deps, token, data);
}
