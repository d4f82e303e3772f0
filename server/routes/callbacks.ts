// POST /api/v1/waitpoints/tokens/{id}/callback/{hash}: completes a wait token from a webhook. No API
// key: the signed URL is the credential. The raw body becomes the token's output.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../app-context.ts";
import { limits } from "../api/limits.ts";
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
      let output: string | null = null;
      if (text !== "") {
        if (isJson) {
          try {
            output = JSON.stringify(JSON.parse(text));
          } catch {
            output = JSON.stringify(text);
          }
        } else {
          output = JSON.stringify(text);
        }
      }
      await completeTokenByCallback(context.engine, request.params.tokenId, request.params.hash, { output, outputType: "application/json" });
      return { success: true };
    },
  );
}
