// What a public access token may do on the routes that take one (config.publicAccess): checked
// against the resource once it is loaded, answered with the same 404 as a resource of another
// environment so a token learns nothing about what it may not read.
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../app-context.ts";
import { timingSafeEqual } from "node:crypto";
import { mintPublicToken, publicTokenHash, scopeAllows, spendIfOneTime, tokenReadsRun } from "../auth/public-tokens.ts";
import { ApiError } from "../errors.ts";
import { toPublicId } from "../ids.ts";
import type { BatchRow } from "../storage/batches.ts";
import type { RunRow } from "../storage/runs.ts";

/** How long the token handed out with a trigger (handle.publicAccessToken) lasts, as Trigger.dev's. */
export const triggerTokenExpiration = "1h";

export function runReadToken(context: AppContext, environmentId: string, scopes: string[]): Promise<string> {
  return mintPublicToken(context.db.sql, environmentId, { scopes }, triggerTokenExpiration, context.clock.now());
}

export async function authorizeTrigger(context: AppContext, request: FastifyRequest, taskIdentifier: string): Promise<void> {
  const token = request.publicToken;
  if (!token) return;
  if (!scopeAllows(token.scopes, "trigger", "tasks", [taskIdentifier])) {
    throw new ApiError("FORBIDDEN", `This public access token may not trigger ${taskIdentifier}`);
  }
  await spendIfOneTime(context.db.sql, token, context.clock.now());
}

/** Every task of a batch must be allowed by the token's batchTrigger scopes, not just one of them. */
function requireBatchTasks(request: FastifyRequest, taskIdentifiers: string[]): void {
  const token = request.publicToken!;
  const refused = taskIdentifiers.find((task) => !scopeAllows(token.scopes, "batchTrigger", "tasks", [task]));
  if (refused !== undefined) throw new ApiError("FORBIDDEN", `This public access token may not batch trigger ${refused}`);
}

/**
 * A batch made with a public access token (auth.createBatchTriggerPublicToken): the tasks it names
 * must all be allowed, a one-time token is spent here, and the token's hash is returned for the batch
 * to keep (null for a secret key). A browser cannot make a batch the child of a run.
 */
export async function authorizeBatchTrigger(context: AppContext, request: FastifyRequest, taskIdentifiers: string[] | undefined, parentRunId: string | undefined): Promise<Buffer | null> {
  const token = request.publicToken;
  if (!token) return null;
  if (!taskIdentifiers || taskIdentifiers.length === 0) throw new ApiError("VALIDATION_FAILED", "taskIdentifiers: a public access token needs the batch's tasks named");
  if (parentRunId !== undefined) throw new ApiError("FORBIDDEN", "parentRunId: a public access token cannot make a batch the child of a run");
  requireBatchTasks(request, taskIdentifiers);
  await spendIfOneTime(context.db.sql, token, context.clock.now());
  return publicTokenHash(token);
}

/**
 * The items of a batch sent with a public access token: only into a batch that same token created
 * (any other answers 404, as if it did not exist), and only of tasks the token may batch trigger.
 */
export function authorizeBatchItems(request: FastifyRequest, batch: BatchRow, taskIdentifiers: string[]): void {
  const token = request.publicToken;
  if (!token) return;
  const hash = publicTokenHash(token);
  if (!batch.publicTokenHash || batch.publicTokenHash.length !== hash.length || !timingSafeEqual(batch.publicTokenHash, hash)) {
    throw new ApiError("NOT_FOUND", `No batch ${toPublicId("batch", batch.id)}`);
  }
  requireBatchTasks(request, taskIdentifiers);
}

export function readableRun(run: RunRow) {
  return { publicId: toPublicId("run", run.id), taskIdentifier: run.taskIdentifier, tags: run.tags, batchPublicId: run.batchId ? toPublicId("batch", run.batchId) : null };
}

export function authorizeRunRead(request: FastifyRequest, run: RunRow): void {
  const token = request.publicToken;
  if (token && !tokenReadsRun(token.scopes, readableRun(run))) throw new ApiError("NOT_FOUND", `No run ${toPublicId("run", run.id)}`);
}
