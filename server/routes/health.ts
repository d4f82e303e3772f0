// Liveness and readiness for load balancers and orchestrators.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../app-context.ts";
import { migrationState } from "../db/migrate.ts";
import { errorBody } from "../errors.ts";

const readinessTimeoutMs = 2_000;

export async function healthRoutes(app: FastifyInstance, { db, reads }: AppContext): Promise<void> {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    // The replica is asked alongside; it never makes the server unready, since reads fall back to the primary.
    const replica = reads.replica ? reads.probe() : null;
    const replicaField = async () => {
      if (!replica) return {};
      const status = await replica;
      return { readReplica: { status: status.up ? "up" : "down", replayLagBytes: status.replayLagBytes } };
    };
    try {
      // A database that does not answer is as unready as one that refuses: say so within seconds.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error("the database did not answer in time")), readinessTimeoutMs);
      });
      const state = await Promise.race([migrationState(db.sql), timeout]).finally(() => clearTimeout(timer));
      if (state.pending.length > 0) {
        return reply.code(503).send({ ...errorBody("NOT_READY", `${state.pending.length} migrations are not applied yet`), ...(await replicaField()) });
      }
      return { status: "ready", ...(await replicaField()) };
    } catch {
      return reply.code(503).send({ ...errorBody("NOT_READY", "The database is not reachable"), ...(await replicaField()) });
    }
  });
}
