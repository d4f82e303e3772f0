// buildApp(): the Fastify application without a listening socket, so tests drive it with
// app.inject and main.ts alone owns the port and the signals.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import type { AppContext } from "./app-context.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";
import { applyHttpConventions } from "./http/conventions.ts";
import { createLogger } from "./logger.ts";
import { apiRoutes } from "./routes/api/index.ts";
import { healthRoutes } from "./routes/health.ts";

/** Large enough for a 3 MB payload with its options; routes check the payload's own size. */
export const bodyLimitBytes = 4 * 1024 * 1024;

export interface AppOptions {
  config: Config;
  db: Db;
  clock?: Clock;
  logger?: FastifyBaseLogger;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const context: AppContext = {
    config: options.config,
    db: options.db,
    clock: options.clock ?? systemClock,
  };
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(options.config.logLevel),
    bodyLimit: bodyLimitBytes,
    genReqId: () => randomUUID(),
    // Per-request lines only at debug and below: at info they would drown the lines that matter.
    logController: new LogController({
      disableRequestLogging: options.config.logLevel !== "debug" && options.config.logLevel !== "trace",
    }),
    return503OnClosing: true,
  });
  applyHttpConventions(app);

  await app.register(healthRoutes, context);
  await app.register(async (scope) => apiRoutes(scope, context));
  return app;
}
