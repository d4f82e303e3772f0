// Liveness and readiness for load balancers and orchestrators.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../app-context.ts";
import { migrationState } from "../db/migrate.ts";
import { errorBody } from "../errors.ts";

const readinessTimeoutMs = 2_000;

export async function healthRoutes(app: FastifyInstance, { db }: AppContext): Promise<void> {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    try {
      // A database that does not answer is as unready as one that refuses: say so within seconds.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error("the database did not answer in time")), readinessTimeoutMs);
      });
      const state = await Promise.race([migrationState(db.sql), timeout]).finally(() => clearTimeout(timer));
      if (state.pending.length > 0) {
        return reply.code(503).send(errorBody("NOT_READY", `${state.pending.length} migrations are not applied yet`));
      }
      return { status: "ready" };
    } catch {
      return reply.code(503).send(errorBody("NOT_READY", "The database is not reachable"));
    }
  });
}
