// buildApp(): the Fastify application without a listening socket, so tests drive it with
// app.inject and main.ts alone owns the port and the signals.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import type { AppContext } from "./app-context.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";
import { applyHttpConventions, frameworkErrors } from "./http/conventions.ts";
import { createLogger } from "./logger.ts";
import { apiRoutes } from "./routes/api/index.ts";
import { healthRoutes } from "./routes/health.ts";
import { engineRoutes } from "./routes/engine/index.ts";
import { callbackRoutes } from "./routes/callbacks.ts";
import { timezoneRoutes } from "./routes/timezones.ts";
import { dashboardRoutes } from "./routes/dashboard/index.ts";
import { QueueNotifier } from "./engine/notifier.ts";
import { defaultEngineSettings, type EngineSettings } from "./engine/settings.ts";
import { Sweeper } from "./engine/sweepers.ts";
import { EventPartitionMaintainer } from "./engine/events-maintenance.ts";
import { RunMetrics } from "./observability/run-metrics.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { otelRoutes } from "./routes/otel.ts";
import type { Logger } from "pino";

declare module "fastify" {
  interface FastifyInstance {
    /** The server's shared services, for tests and tools that hold the app. */
    ratchet: AppContext;
    /** Every route the app registered (method and URL pattern). */
    ratchetRoutes: Array<{ method: string; url: string }>;
  }
}

/** Large enough for a 3 MB payload with its options; routes check the payload's own size. */
export const bodyLimitBytes = 4 * 1024 * 1024;

export interface AppOptions {
  config: Config;
  db: Db;
  clock?: Clock;
  logger?: FastifyBaseLogger;
  settings?: Partial<EngineSettings>;
  /** Run the engine's sweeps on a timer (tests turn this off and call sweepOnce with their clock). */
  sweeper?: boolean;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock;
  const notifier = new QueueNotifier(options.db.sql);
  const settings = { ...defaultEngineSettings, leaseSeconds: options.config.leaseSeconds,
    workerLostGraceSeconds: options.config.workerLostGraceSeconds, ...options.settings };
  const metrics = new RunMetrics(options.db, { poolMax: options.config.dbPoolSize });
  const engine = { db: options.db, clock, notifier, metrics };
  const closing = new AbortController();
  const context: AppContext = { config: options.config, db: options.db, clock, notifier, engine, settings, metrics, closing: closing.signal };
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(options.config.logLevel),
    bodyLimit: bodyLimitBytes,
    genReqId: () => randomUUID(),
    // Per-request lines only at debug and below: at info they would drown the lines that matter.
    logController: new LogController({
      disableRequestLogging: options.config.logLevel !== "debug" && options.config.logLevel !== "trace",
    }),
    return503OnClosing: true,
    frameworkErrors,
  });
  applyHttpConventions(app);
  // Every route, as registered: the isolation tests walk them all.
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routes.push({ method: String(method), url: route.url });
  });

  const sweeper = options.sweeper === false ? null : new Sweeper(engine, settings, app.log as unknown as Logger);
  const partitions =
    options.sweeper === false
      ? null
      : new EventPartitionMaintainer(engine, { retentionDays: options.config.eventsRetentionDays }, app.log as unknown as Logger);
  app.decorate("ratchet", context);
  app.decorate("ratchetRoutes", routes);
  app.addHook("onReady", async () => {
    await notifier.start();
    sweeper?.start();
    partitions?.start();
  });
  // Runs before the server waits for in-flight requests: long-polling workers get their answer now.
  app.addHook("preClose", async () => {
    closing.abort();
  });
  app.addHook("onClose", async () => {
    await sweeper?.stop();
    await partitions?.stop();
    await notifier.stop();
  });

  await app.register(healthRoutes, context);
  await app.register(async (scope) => metricsRoutes(scope, context));
  await app.register(async (scope) => apiRoutes(scope, context));
  await app.register(async (scope) => engineRoutes(scope, context));
  await app.register(async (scope) => otelRoutes(scope, context));
  await app.register(async (scope) => callbackRoutes(scope, context));
  await app.register(timezoneRoutes);
  await app.register(async (scope) => dashboardRoutes(scope, context));
  return app;
}
