// CORS for browsers calling the API with public access tokens (@trigger.dev/react-hooks): only the
// bearer-token routes, never the dashboard (which uses cookies). Response headers the SDK reads are
// exposed: the public token of a trigger and the shape protocol's electric-* headers.
import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";

const crossOriginPaths = /^\/(api|realtime|packets)\//;

export const exposedHeaders = [
  "x-trigger-jwt",
  "electric-offset",
  "electric-handle",
  "electric-schema",
  "electric-cursor",
  "electric-up-to-date",
  "x-should-retry",
  "retry-after",
];

export async function registerCors(app: FastifyInstance, origins: string[]): Promise<void> {
  const origin = origins.includes("*") ? "*" : origins;
  await app.register(cors, {
    delegator: (request, callback) => {
      if (!crossOriginPaths.test(request.url)) {
        callback(null, { origin: false });
        return;
      }
      callback(null, { origin, methods: ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"], exposedHeaders, maxAge: 86_400 });
    },
  });
}
