// The public REST API: every route in this scope requires a secret key.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { requireSecretKey } from "../../auth/authenticate.ts";
import { authRoutes } from "./auth.ts";
import { batchRoutes } from "./batches.ts";
import { bulkActionRoutes } from "./bulk-actions.ts";
import { deploymentRoutes } from "./deployments.ts";
import { runEventRoutes } from "./events.ts";
import { waitpointRoutes } from "./waitpoints.ts";
import { scheduleRoutes } from "./schedules.ts";
import { packetRoutes } from "./packets.ts";
import { queueRoutes } from "./queues.ts";
import { queryRoutes } from "./query.ts";
import { runRoutes } from "./runs.ts";
import { concurrencyLimitRoutes } from "./concurrency-limits.ts";
import { runRetentionRoutes } from "./run-retention.ts";
import { taskRoutes } from "./tasks.ts";
import { traceRoutes } from "./traces.ts";
import { whoamiRoutes } from "./whoami.ts";
import { envvarRoutes } from "./envvars.ts";
import { alertRoutes } from "./alerts.ts";

export async function apiRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  app.addHook("preHandler", requireSecretKey(context.db, context.clock, context.apiKeys));
  await app.register(whoamiRoutes);
  await app.register(async (scope) => taskRoutes(scope, context));
  await app.register(async (scope) => runRoutes(scope, context));
  await app.register(async (scope) => concurrencyLimitRoutes(scope, context));
  await app.register(async (scope) => runRetentionRoutes(scope, context));
  await app.register(async (scope) => batchRoutes(scope, context));
  await app.register(async (scope) => queueRoutes(scope, context));
  await app.register(async (scope) => runEventRoutes(scope, context));
  await app.register(async (scope) => traceRoutes(scope, context));
  await app.register(async (scope) => waitpointRoutes(scope, context));
  await app.register(async (scope) => scheduleRoutes(scope, context));
  await app.register(async (scope) => envvarRoutes(scope, context));
  await app.register(async (scope) => alertRoutes(scope, context));
  await app.register(async (scope) => packetRoutes(scope, context));
  await app.register(async (scope) => authRoutes(scope, context));
  await app.register(async (scope) => queryRoutes(scope, context));
  await app.register(async (scope) => bulkActionRoutes(scope, context));
  await app.register(async (scope) => deploymentRoutes(scope, context));
}
