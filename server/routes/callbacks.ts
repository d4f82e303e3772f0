// POST /api/v1/waitpoints/tokens/{id}/callback/{hash}: completes a wait token from a webhook. No API
// key: the signed URL is the credential. The raw body becomes the token's output.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../app-context.ts";
import { jsonDepthProblem, unsafeTextIn } from "../api/input-safety.ts";
import { limits } from "../api/limits.ts";
import { ApiError } from "../errors.ts";
import { completeTokenByCallback } from "../engine/tokens.ts";

export async function callbackRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string", bodyLimit: limits.payloadBytes }, (_request, body, done) => done(null, body));
  app.withTypeProvider<ZodTypeProvider>().post(
    "/api/v1/waitpoints/tokens/:tokenId/callback/:hash",
    { schema: { params: z.object({ tokenId: z.string().min(1).max(64), hash: z.string().regex(/^[0-9a-f]{64}$/, "not a callback signature") }) } },
    async (request) => {
      const text = typeof request.body === "string" ? request.body : "";
      const isJson = /json/i.test(String(request.headers["content-type"] ?? ""));
      let value: unknown = text;
      if (isJson && text !== "") {
        const tooDeep = jsonDepthProblem("body", text);
        if (tooDeep) throw new ApiError("VALIDATION_FAILED", tooDeep);
        try {
          value = JSON.parse(text);
        } catch {
          value = text;
        }
      }
      const unstorable = unsafeTextIn(value, "body");
      if (unstorable) throw new ApiError("VALIDATION_FAILED", unstorable);
      const output = text === "" ? null : JSON.stringify(value);
      await completeTokenByCallback(context.engine, request.params.tokenId, request.params.hash, { output, outputType: "application/json" });
      return { success: true };
    },
  );
}
