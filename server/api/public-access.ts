// What a public access token may do on the routes that take one (config.publicAccess): checked
// against the resource once it is loaded, answered with the same 404 as a resource of another
// environment so a token learns nothing about what it may not read.
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../app-context.ts";
import { mintPublicToken, scopeAllows, spendIfOneTime, tokenReadsRun } from "../auth/public-tokens.ts";
import { ApiError } from "../errors.ts";
import { toPublicId } from "../ids.ts";
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

export function readableRun(run: RunRow) {
  return { publicId: toPublicId("run", run.id), taskIdentifier: run.taskIdentifier, tags: run.tags, batchPublicId: run.batchId ? toPublicId("batch", run.batchId) : null };
}

export function authorizeRunRead(request: FastifyRequest, run: RunRow): void {
  const token = request.publicToken;
  if (token && !tokenReadsRun(token.scopes, readableRun(run))) throw new ApiError("NOT_FOUND", `No run ${toPublicId("run", run.id)}`);
}
