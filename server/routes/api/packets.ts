// Large payloads and outputs: the SDK asks for a presigned URL, then PUTs or GETs the packet there
// (server/routes/packets.ts serves those URLs). Packets belong to the key's environment.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { packetPathSchema, requestOrigin } from "../../api/packet-paths.ts";
import { findRunOrNotFound } from "../../engine/run-actions.ts";
import { presignPacket } from "../../engine/signing.ts";
import { ApiError } from "../../errors.ts";
import { packetsExists } from "../../storage/packets.ts";

const wildcard = z.object({ "*": packetPathSchema });

export async function packetRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = context.db;

  routes.put("/api/v2/packets/*", { schema: { params: wildcard } }, async (request) => {
    const path = request.params["*"];
    const url = await presignPacket(sql, "PUT", request.environment.environmentId, path, context.clock.now());
    return { presignedUrl: `${requestOrigin(request)}${url}`, storagePath: path };
  });

  routes.get("/api/v1/packets/*", { schema: { params: wildcard } }, async (request) => {
    const path = request.params["*"];
    const environmentId = request.environment.environmentId;
    if (!(await packetsExists(sql, environmentId, path))) throw new ApiError("NOT_FOUND", `No packet ${path}`);
    const url = await presignPacket(sql, "GET", environmentId, path, context.clock.now());
    return { presignedUrl: `${requestOrigin(request)}${url}` };
  });

  routes.get(
    "/api/v1/runs/:runId/packets/:field",
    { schema: { params: z.object({ runId: z.string().min(1).max(64), field: z.enum(["payload", "output"]) }) } },
    async (request) => {
      const environmentId = request.environment.environmentId;
      const run = await findRunOrNotFound(context.engine, environmentId, request.params.runId);
      const stored = request.params.field === "payload" ? { value: run.payload, type: run.payloadType } : { value: run.output, type: run.outputType };
      if (stored.type !== "application/store" || typeof stored.value !== "string") {
        throw new ApiError("NOT_FOUND", `The ${request.params.field} of ${request.params.runId} is not stored as a packet`);
      }
      const url = await presignPacket(sql, "GET", environmentId, stored.value, context.clock.now());
      return { presignedUrl: `${requestOrigin(request)}${url}` };
    },
  );
}
