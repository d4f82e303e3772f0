// Pages about one environment beyond its runs: wait tokens (complete by hand — the human in the
// loop — with links to the runs waiting on them), queues (pause, resume, inline concurrency limit) and API keys (create, shown once; revoke).
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { issueSecretKey } from "../../auth/issue-key.ts";
import { jsonDepthBeyond, unsafeTextIn } from "../../api/input-safety.ts";
import { limits } from "../../api/limits.ts";
import { jsonPreview } from "../../dashboard/json-preview.ts";
import { completeToken } from "../../engine/tokens.ts";
import { ApiError } from "../../errors.ts";
import { toPublicId } from "../../ids.ts";
import { apiKeysList, apiKeysRevoke } from "../../storage/api-keys.ts";
import { queuesListWithCounts, queuesSetOverride, queuesSetPaused } from "../../storage/queues.ts";
import { runWaitpointsRunsOf, waitpointsListTokens } from "../../storage/waitpoints.ts";
import { environmentLabel, render, type DashboardScope, type ScopeOf } from "./render.ts";
import type { FastifyReply, FastifyRequest } from "fastify";
import { mayHandleSecrets } from "../../dashboard/permissions.ts";

type Params = { ref: string; env: string };

const tokenOutputPreview = { chars: 2048, depth: 8 };

export async function environmentPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { db, engine, clock } = context;

  const tokensPage = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, error?: string, typed?: { tokenId: string; data: string }) => {
    const rows = (await waitpointsListTokens(db.sql, scope.environment.environmentId, { size: 100 })).slice(0, 100);
    const waiting = await runWaitpointsRunsOf(db.sql, scope.environment.environmentId, rows.map((token) => token.id));
    return render(
      request,
      reply,
      "tokens",
      {
        title: "Wait tokens",
        error,
        typed,
        tokens: rows.map((token) => ({
          id: toPublicId("wp", token.id),
          runs: waiting
            .filter((link) => link.waitpointId === token.id)
            .map((link) => ({ id: toPublicId("run", link.runId), status: link.status, taskIdentifier: link.taskIdentifier })),
          status: token.status,
          tags: token.tags,
          timeoutAt: token.completedAfter?.toISOString(),
          // A short preview: a hundred tokens of 3 MB each would make a page no browser wants.
          output: token.output === null || token.output === undefined ? undefined : jsonPreview(token.output, tokenOutputPreview).text.replaceAll(/\n\s*/g, " "),
        })),
        liveUrl: `${scope.base}/live`,
        selfUrl: `${scope.base}/tokens`,
      },
      scope,
      "tokens",
    );
  };

  app.get<{ Params: Params }>("/p/:ref/:env/tokens", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    return tokensPage(request, reply, scope);
  });

  app.post<{ Params: Params & { tokenId: string }; Body: { data?: string } }>(
    "/p/:ref/:env/tokens/:tokenId/complete",
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const scope = await scopeOf(request, reply);
      if (!scope) return reply;
      const text = request.body?.data?.trim() || "null";
      // A refused output is shown again in its token's form, as typed.
      const typed = { tokenId: request.params.tokenId, data: request.body?.data ?? "" };
      if (jsonDepthBeyond(text) !== null) return tokensPage(request, reply.code(400), scope, `The output is nested deeper than ${limits.jsonDepth} levels.`, typed);
      let output: unknown;
      try {
        output = JSON.parse(text);
      } catch {
        return tokensPage(request, reply.code(400), scope, "The output must be valid JSON.", typed);
      }
      const unstorable = unsafeTextIn(output, "output");
      if (unstorable) return tokensPage(request, reply.code(400), scope, `The output cannot be stored: ${unstorable}.`, typed);
      await completeToken(engine, scope.environment.environmentId, request.params.tokenId, { output: JSON.stringify(output), outputType: "application/json" });
      return reply.redirect(`${scope.base}/tokens`, 303);
    },
  );

  app.get<{ Params: Params }>("/p/:ref/:env/queues", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const { rows } = await queuesListWithCounts(db.sql, scope.environment.environmentId, { offset: 0, limit: 500 });
    return render(
      request,
      reply,
      "queues",
      {
        title: "Queues",
        queues: rows.map((queue) => ({
          id: queue.id,
          name: queue.name,
          running: queue.running,
          queued: queue.queued,
          paused: queue.paused,
          override: queue.concurrencyOverride,
          declared: queue.concurrencyLimit ?? scope.environment.concurrencyLimit,
          declaredFrom: queue.concurrencyLimit === null ? "the environment's limit" : "from code",
        })),
        liveUrl: `${scope.base}/live`,
        selfUrl: `${scope.base}/queues`,
      },
      scope,
      "queues",
    );
  });

  app.post<{ Params: Params & { queue: string; action: string }; Body: { limit?: string | string[] } }>(
    "/p/:ref/:env/queues/:queue/:action",
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const scope = await scopeOf(request, reply);
      if (!scope) return reply;
      const environmentId = scope.environment.environmentId;
      const name = request.params.queue;
      const now = clock.now();
      let found: boolean;
      if (request.params.action === "pause" || request.params.action === "resume") {
        found = await queuesSetPaused(db.sql, environmentId, name, request.params.action === "pause", now);
      } else if (request.params.action === "limit") {
        // The inline form's Reset button sends an empty limit after the typed one: the last wins.
        const raw = String([request.body?.limit ?? ""].flat().at(-1) ?? "").trim();
        const limit = raw === "" ? null : Number(raw);
        if (limit !== null && (!Number.isInteger(limit) || limit < 0 || limit > 100_000)) {
          throw new ApiError("VALIDATION_FAILED", "limit: a whole number from 0 to 100000, or empty to reset");
        }
        found = await queuesSetOverride(db.sql, environmentId, name, limit, now);
      } else {
        throw new ApiError("NOT_FOUND", "No such action");
      }
      if (!found) throw new ApiError("NOT_FOUND", `No queue ${name}`);
      context.notifier.queueChanged(environmentId);
      return reply.redirect(`${scope.base}/queues`, 303);
    },
  );

  const keysPage = async (request: FastifyRequest, reply: FastifyReply, scope: DashboardScope, newKey?: string) => {
    const keys = await apiKeysList(db.sql, scope.environment.projectId);
    return render(
      request,
      reply,
      "keys",
      {
        title: "API keys",
        environmentLabel: environmentLabel(scope.environment),
        newKey,
        keys: keys
          .filter((key) => key.environmentType === scope.environment.environmentType)
          .map((key) => ({
            publicId: key.publicId,
            keyHint: key.keyHint,
            name: key.name,
            createdAt: key.createdAt.toISOString().slice(0, 16).replace("T", " "),
            lastUsedAt: key.lastUsedAt?.toISOString().slice(0, 16).replace("T", " "),
            revokedAt: key.revokedAt?.toISOString(),
          })),
      },
      scope,
      "keys",
    );
  };

  // Members see and make keys of prod only when given prod access (dashboard/permissions.ts).
  const requireKeyAccess = (scope: DashboardScope) => {
    if (!mayHandleSecrets(scope.environment)) throw new ApiError("FORBIDDEN", "Only admins and members with prod access see and make prod's keys");
  };

  app.get<{ Params: Params }>("/p/:ref/:env/keys", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    requireKeyAccess(scope);
    return keysPage(request, reply, scope);
  });

  app.post<{ Params: Params; Body: { name?: string } }>("/p/:ref/:env/keys", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    requireKeyAccess(scope);
    const issued = await issueSecretKey(db.sql, {
      environment: scope.environment.environmentType,
      projectRef: scope.environment.projectRef,
      name: (request.body?.name ?? "").slice(0, 200),
    });
    // Shown once, in this response only: it is not stored.
    return keysPage(request, reply, scope, issued.key);
  });

  app.post<{ Params: Params & { keyId: string } }>("/p/:ref/:env/keys/:keyId/revoke", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    requireKeyAccess(scope);
    const keys = await apiKeysList(db.sql, scope.environment.projectId);
    if (!keys.some((key) => key.publicId === request.params.keyId && key.environmentType === scope.environment.environmentType)) {
      throw new ApiError("NOT_FOUND", "No such key in this environment");
    }
    await apiKeysRevoke(db.sql, { publicId: request.params.keyId }, clock.now());
    return reply.redirect(`${scope.base}/keys`, 303);
  });
}
