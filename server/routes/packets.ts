// The presigned packet URLs: PUT stores a packet, GET reads it back with its content type. No API
// key: the signature (per environment, method, path and expiry) is the credential.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../app-context.ts";
import { packetCapBytes, packetPathSchema } from "../api/packet-paths.ts";
import { packetSignatureValid } from "../engine/signing.ts";
import { ApiError } from "../errors.ts";
import { packetsGet, packetsPut } from "../storage/packets.ts";

const params = z.object({ environmentId: z.uuid(), "*": packetPathSchema });
const querystring = z.object({ expires: z.coerce.number().int().positive(), signature: z.string().min(1).max(128) });

export async function presignedPacketRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const { sql } = context.db;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: packetCapBytes }, (_request, body, done) => done(null, body));
  const routes = app.withTypeProvider<ZodTypeProvider>();

  async function check(method: "GET" | "PUT", request: { params: z.infer<typeof params>; query: z.infer<typeof querystring> }) {
    const { environmentId } = request.params;
    const valid = await packetSignatureValid(sql, method, environmentId, request.params["*"], request.query.expires, request.query.signature, context.clock.now());
    if (!valid) throw new ApiError("FORBIDDEN", "The packet URL's signature is invalid or has expired");
  }

  routes.put("/packets/:environmentId/*", { schema: { params, querystring }, bodyLimit: packetCapBytes }, async (request, reply) => {
    await check("PUT", request);
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const contentType = String(request.headers["content-type"] ?? "application/octet-stream").slice(0, 128);
    await packetsPut(sql, request.params.environmentId, request.params["*"], contentType, body, context.clock.now());
    return reply.code(200).send();
  });

  routes.get("/packets/:environmentId/*", { schema: { params, querystring } }, async (request, reply) => {
    await check("GET", request);
    const packet = await packetsGet(sql, request.params.environmentId, request.params["*"]);
    if (!packet) throw new ApiError("NOT_FOUND", `No packet ${request.params["*"]}`);
    return reply.header("content-type", packet.contentType).send(packet.data);
  });
}
