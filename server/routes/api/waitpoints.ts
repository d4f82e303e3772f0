// Wait tokens, as Trigger.dev names them: /api/v1/waitpoints/tokens (create, list, retrieve, complete).
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { limits } from "../../api/limits.ts";
import { decodePacket } from "../../api/packets.ts";
import { keysetPage, pageCursor, uuidAtMs } from "../../api/pagination.ts";
import { delaySchema, durationTextSchema, tagsSchema } from "../../api/trigger-schema.ts";
import { parseDurationMs } from "../../engine/durations.ts";
import { completeToken, createToken, tokenCallbackUrl, tokenIdOrNotFound } from "../../engine/tokens.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId, toPublicId } from "../../ids.ts";
import { waitpointsFind, waitpointsListTokens, type WaitpointRow } from "../../storage/waitpoints.ts";

export function tokenItem(token: WaitpointRow, url: string): Record<string, unknown> {
  const item: Record<string, unknown> = {
    id: toPublicId("wp", token.id),
    url,
    status: token.status,
    tags: token.tags,
    createdAt: token.createdAt.toISOString(),
  };
  if (token.idempotencyKey) item.idempotencyKey = token.idempotencyKey;
  if (token.idempotencyKeyExpiresAt) item.idempotencyKeyExpiresAt = token.idempotencyKeyExpiresAt.toISOString();
  if (token.completedAfter) item.timeoutAt = token.completedAfter.toISOString();
  if (token.completedAt) item.completedAt = token.completedAt.toISOString();
  if (token.status !== "WAITING") {
    const output = decodePacket(token.output, token.outputType);
    if (output !== undefined) item.output = typeof output === "string" ? output : JSON.stringify(output);
    item.outputType = token.outputType ?? "application/json";
    item.outputIsError = token.outputIsError;
  }
  return item;
}

export async function waitpointRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { engine } = context;
  const tokenParams = z.object({ tokenId: z.string().min(1).max(64) });

  routes.post(
    "/api/v1/waitpoints/tokens",
    {
      schema: {
        body: z
          .object({
            timeout: delaySchema.optional(),
            idempotencyKey: z.string().min(1).max(limits.idempotencyKeyLength).optional(),
            idempotencyKeyTTL: durationTextSchema.optional(),
            tags: tagsSchema.optional(),
          })
          .nullish(),
      },
    },
    async (request) => {
      const environmentId = request.environment.environmentId;
      const { id, isCached } = await createToken(engine, environmentId, request.body ?? {});
      return { id: toPublicId("wp", id), isCached, url: await tokenCallbackUrl(engine, context.config.publicUrl, id) };
    },
  );

  routes.get(
    "/api/v1/waitpoints/tokens",
    {
      schema: {
        querystring: z
          .object({
            "filter[status]": z
              .string()
              .transform((value) => value.split(",").filter(Boolean))
              .pipe(z.array(z.enum(["WAITING", "COMPLETED", "TIMED_OUT"])))
              .optional(),
            "filter[idempotencyKey]": z.string().max(limits.idempotencyKeyLength).optional(),
            "filter[tags]": z.string().max(4096).transform((value) => value.split(",").filter(Boolean)).optional(),
            "filter[createdAt][period]": durationTextSchema.optional(),
            "filter[createdAt][from]": z.coerce.number().int().nonnegative().optional(),
            "filter[createdAt][to]": z.coerce.number().int().nonnegative().optional(),
            "page[size]": z.coerce.number().int().min(1).max(limits.pageSizeMax).optional(),
            "page[after]": z.string().max(64).optional(),
            "page[before]": z.string().max(64).optional(),
          })
          .loose(),
      },
    },
    async (request) => {
      const query = request.query;
      const cursor = (value: string | undefined, field: string) => {
        if (value === undefined) return undefined;
        const id = fromPublicId("wp", value);
        if (!id) throw new ApiError("VALIDATION_FAILED", `query.${field}: not a wait token id`);
        return id;
      };
      const period = query["filter[createdAt][period]"] ? parseDurationMs(query["filter[createdAt][period]"]) : null;
      const from = query["filter[createdAt][from]"] ?? (period !== null ? context.clock.now().getTime() - period : undefined);
      const size = query["page[size]"] ?? limits.pageSizeDefault;
      const { after, before } = pageCursor(cursor(query["page[after]"], "page[after]"), cursor(query["page[before]"], "page[before]"));
      const rows = await waitpointsListTokens(context.db.sql, request.environment.environmentId, {
        statuses: query["filter[status]"],
        idempotencyKey: query["filter[idempotencyKey]"],
        tags: query["filter[tags]"],
        fromId: from === undefined ? undefined : uuidAtMs(from),
        toId: query["filter[createdAt][to]"] === undefined ? undefined : uuidAtMs(query["filter[createdAt][to]"], true),
        after,
        before,
        size,
      });
      const { page, pagination } = keysetPage(rows, { size, after, before }, (token) => toPublicId("wp", token.id));
      const data = [];
      for (const token of page) data.push(tokenItem(token, await tokenCallbackUrl(engine, context.config.publicUrl, token.id)));
      return { data, pagination };
    },
  );

  routes.get("/api/v1/waitpoints/tokens/:tokenId", { schema: { params: tokenParams } }, async (request) => {
    const token = await waitpointsFind(context.db.sql, request.environment.environmentId, tokenIdOrNotFound(request.params.tokenId));
    if (!token || token.type !== "MANUAL") throw new ApiError("NOT_FOUND", `No wait token ${request.params.tokenId}`);
    return tokenItem(token, await tokenCallbackUrl(engine, context.config.publicUrl, token.id));
  });

  routes.post(
    "/api/v1/waitpoints/tokens/:tokenId/complete",
    { schema: { params: tokenParams, body: z.object({ data: z.unknown().optional() }).loose().nullish() } },
    async (request) => {
      const data = request.body?.data;
      const output = data === undefined ? null : JSON.stringify(data);
      if (output !== null && Buffer.byteLength(output) > limits.payloadBytes) {
        throw new ApiError("PAYLOAD_TOO_LARGE", `data is ${Buffer.byteLength(output)} bytes; the limit is ${limits.payloadBytes} bytes (3 MB)`);
      }
      await completeToken(engine, request.environment.environmentId, request.params.tokenId, { output, outputType: "application/json" });
      return { success: true };
    },
  );
}
