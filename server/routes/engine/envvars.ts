// GET /engine/v1/envvars: the variables a worker injects into the attempts it starts, for the key's
// environment, with their version as an ETag. Workers ask before each attempt with If-None-Match,
// so an unchanged set costs one small read and a 304; a changed one applies to the next attempt.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { variablesForWorker } from "../../engine/envvars.ts";
import { envvarsVersion } from "../../storage/envvars.ts";

export async function workerEnvvarRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const deps = { db: context.db, keyring: context.keyring, now: () => context.clock.now() };

  app.get("/engine/v1/envvars", async (request, reply) => {
    const environmentId = request.environment.environmentId;
    const etagOf = (version: number) => `"${environmentId}.${version}"`;
    reply.header("cache-control", "no-store");
    const asked = request.headers["if-none-match"];
    if (asked !== undefined && asked === etagOf(await envvarsVersion(context.db.sql, environmentId))) {
      reply.header("etag", asked);
      return reply.code(304).send();
    }
    const { version, variables } = await variablesForWorker(deps, environmentId);
    reply.header("etag", etagOf(version));
    return { version, variables };
  });
}
