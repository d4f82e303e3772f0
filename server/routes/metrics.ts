// GET /metrics: Prometheus text format (docs/metrics.md). Not tenant-scoped: it is for the operator.
// Open to loopback scrapers when no token is set; with RATCHET_METRICS_TOKEN, a bearer token is
// required from everyone. Labels name only projects (ref), environments (slug), queues and tasks.
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AppContext } from "../app-context.ts";
import { errorBody } from "../errors.ts";

const loopbackAddresses = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

/** A direct loopback connection: a request relayed by a proxy on the same host carries forwarding headers. */
function isLocalScraper(request: FastifyRequest): boolean {
  const forwarded = request.headers["x-forwarded-for"] !== undefined || request.headers.forwarded !== undefined;
  return !forwarded && loopbackAddresses.has(request.socket.remoteAddress ?? "");
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function metricsRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  app.get("/metrics", async (request, reply) => {
    const token = context.config.metricsToken;
    if (token !== undefined) {
      if (!tokenMatches(request.headers.authorization, token)) {
        return reply.code(401).send(errorBody("UNAUTHORIZED", "Send `Authorization: Bearer <RATCHET_METRICS_TOKEN>`"));
      }
    } else if (!isLocalScraper(request)) {
      return reply.code(403).send(errorBody("FORBIDDEN", "/metrics answers loopback scrapers only; set RATCHET_METRICS_TOKEN to scrape from elsewhere"));
    }
    const text = await context.metrics.render(context.clock.now());
    return reply.header("content-type", context.metrics.contentType).header("cache-control", "no-store").send(text);
  });
}
