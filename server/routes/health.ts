// Liveness and readiness for load balancers and orchestrators.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../app-context.ts";
import { migrationState } from "../db/migrate.ts";
import { errorBody } from "../errors.ts";

export async function healthRoutes(app: FastifyInstance, { db }: AppContext): Promise<void> {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    try {
      const state = await migrationState(db.sql);
      if (state.pending.length > 0) {
        return reply.code(503).send(errorBody("NOT_READY", `${state.pending.length} migrations are not applied yet`));
      }
      return { status: "ready" };
    } catch {
      return reply.code(503).send(errorBody("NOT_READY", "The database is not reachable"));
    }
  });
}
