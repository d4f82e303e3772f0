// buildApp(): the Fastify application without a listening socket, so tests drive it with
// app.inject and main.ts alone owns the port and the signals.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import type { AppContext } from "./app-context.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";
import { applyHttpConventions, frameworkErrors } from "./http/conventions.ts";
import { registerCors } from "./http/cors.ts";
import { createLogger } from "./logger.ts";
import { apiRoutes } from "./routes/api/index.ts";
import { healthRoutes } from "./routes/health.ts";
import { engineRoutes } from "./routes/engine/index.ts";
import { callbackRoutes } from "./routes/callbacks.ts";
import { presignedPacketRoutes } from "./routes/packets.ts";
import { realtimeRoutes } from "./routes/realtime/index.ts";
import { timezoneRoutes } from "./routes/timezones.ts";
import { dashboardRoutes } from "./routes/dashboard/index.ts";
import { managementRoutes } from "./routes/management/index.ts";
import { QueueNotifier } from "./engine/notifier.ts";
import { ApiKeyCache } from "./auth/api-key-cache.ts";
import { defaultEngineSettings, type EngineSettings } from "./engine/settings.ts";
import { BulkActionProcessor } from "./engine/bulk-actions.ts";
import { Sweeper } from "./engine/sweepers.ts";
import { RunRetentionSweeper } from "./engine/run-retention.ts";
import { CheckpointOrphanSweeper } from "./checkpoints/orphan-sweeper.ts";
import { EventPartitionMaintainer } from "./engine/events-maintenance.ts";
import { RealtimeMaintainer } from "./engine/realtime-maintenance.ts";
import { OtlpRunExporter } from "./observability/otlp-export.ts";
import { RunMetrics } from "./observability/run-metrics.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { otelRoutes } from "./routes/otel.ts";
import type { Logger } from "pino";
import { loadKeyring, type Keyring } from "./engine/envvars-crypto.ts";
import { SecretRedactor } from "./engine/envvars-redaction.ts";
import { AlertDispatcher, type AlertDeps, type AlertSettings } from "./engine/alerts.ts";
import { listenStartWaitMs, settleWithin } from "./db/settle-within.ts";
import { isConnectionError, ReadReplica } from "./db/read-replica.ts";

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
  /** Defaults to the configured key (or the one generated into the data directory). */
  keyring?: Keyring;
  alertSettings?: Partial<AlertSettings>;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock;
  const notifier = new QueueNotifier(options.db.sql, options.db.listener);
  const settings = { ...defaultEngineSettings, leaseSeconds: options.config.leaseSeconds,
    workerLostGraceSeconds: options.config.workerLostGraceSeconds, ...options.settings };
  const metrics = new RunMetrics(options.db, { poolMax: options.config.dbPoolSize });
  const otlpExporter = options.config.otlpExport ? new OtlpRunExporter(options.db, options.config.otlpExport, () => clock.now()) : null;
  if (otlpExporter) metrics.onRunFinal = (runId, environmentId) => otlpExporter.runFinished(runId, environmentId);
  const engine = { db: options.db, clock, notifier, metrics };
  const closing = new AbortController();
  const loaded = options.keyring
    ? { keyring: options.keyring, generated: null }
    : await loadKeyring({ key: options.config.encryptionKey, oldKeys: options.config.encryptionOldKeys, dataDir: options.config.dataDir });
  const keyring = loaded.keyring;
  const redactor = new SecretRedactor(options.db, keyring);
  const alertDeps: AlertDeps = {
    db: options.db,
    clock,
    keyring,
    publicUrl: options.config.publicUrl,
    smtpUrl: options.config.smtpUrl,
    emailFrom: options.config.emailFrom,
  };
  const alerts = new AlertDispatcher(alertDeps, options.alertSettings);
  const apiKeys = new ApiKeyCache(options.db.listener);
  const reads = new ReadReplica(options.db, options.config.readDatabaseUrl, { poolSize: options.config.dbPoolSize });
  if (reads.replica) metrics.trackReadReplica(() => reads.current);
  const context: AppContext = { config: options.config, db: options.db, reads, clock, notifier, engine, settings, metrics, closing: closing.signal, keyring, redactor, alertDeps, alerts, apiKeys };
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
    // Fastify's typings pick the HTTP/2 overload for a union; every form here is valid for HTTP/1.
    trustProxy: options.config.trustProxy as boolean,
  });
  applyHttpConventions(app);
  alerts.log = app.log as unknown as Logger;
  if (loaded.generated) {
    app.log.warn(
      { keyFile: loaded.generated },
      "RATCHET_ENCRYPTION_KEY is not set: environment variables are encrypted with a key generated into the data directory. Losing that file loses them; set RATCHET_ENCRYPTION_KEY in production (docs/envvars.md)",
    );
  }
  // Every route, as registered: the isolation tests walk them all.
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routes.push({ method: String(method), url: route.url });
  });

  const sweeper = options.sweeper === false ? null : new Sweeper(engine, settings, app.log as unknown as Logger);
  const bulkActions =
    options.sweeper === false
      ? null
      : new BulkActionProcessor(engine, { chunkSize: settings.bulkChunkSize, intervalMs: settings.bulkIntervalMs }, app.log as unknown as Logger);
  const partitions =
    options.sweeper === false
      ? null
      : new EventPartitionMaintainer(engine, { retentionDays: options.config.eventsRetentionDays }, app.log as unknown as Logger);
  const retention =
    options.sweeper === false ? null : new RunRetentionSweeper(engine, { defaultDays: options.config.runRetentionDays }, app.log as unknown as Logger);
  const checkpointOrphans = options.sweeper === false ? null : new CheckpointOrphanSweeper(engine.db, app.log as unknown as Logger);
  const realtimeUpkeep = options.sweeper === false ? null : new RealtimeMaintainer(engine, { streamRetentionDays: options.config.streamsRetentionDays }, app.log as unknown as Logger);
  app.decorate("ratchet", context);
  app.decorate("ratchetRoutes", routes);
  app.decorateRequest("readFromReplica", false);
  // A page that read from the replica and lost its connection there: the next reads go to the primary.
  app.addHook("onError", async (request, _reply, error) => {
    if (request.readFromReplica && isConnectionError(error)) reads.markDown();
  });
  app.addHook("onReady", async () => {
    // Both retry in the background when Postgres is down (settle-within.ts).
    await settleWithin(notifier.start(), listenStartWaitMs);
    await settleWithin(apiKeys.start(), listenStartWaitMs);
    // A replica that is down at start only means reads stay on the primary until it answers.
    await reads.start();
    sweeper?.start();
    bulkActions?.start();
    partitions?.start();
    retention?.start();
    checkpointOrphans?.start();
    if (sweeper) alerts.start();
    realtimeUpkeep?.start();
  });
  // Runs before the server waits for in-flight requests: long-polling workers get their answer now.
  app.addHook("preClose", async () => {
    closing.abort();
  });
  app.addHook("onClose", async () => {
    await sweeper?.stop();
    await alerts.stop();
    await bulkActions?.stop();
    await partitions?.stop();
    await retention?.stop();
    await checkpointOrphans?.stop();
    realtimeUpkeep?.stop();
    await notifier.stop();
    await apiKeys.stop();
    await otlpExporter?.flush();
    await reads.stop();
  });

  await registerCors(app, options.config.corsOrigins);
  await app.register(healthRoutes, context);
  await app.register(async (scope) => metricsRoutes(scope, context));
  await app.register(async (scope) => apiRoutes(scope, context));
  await app.register(async (scope) => managementRoutes(scope, context));
  await app.register(async (scope) => engineRoutes(scope, context));
  await app.register(async (scope) => otelRoutes(scope, context));
  await app.register(async (scope) => callbackRoutes(scope, context));
  await app.register(async (scope) => presignedPacketRoutes(scope, context));
  await app.register(async (scope) => realtimeRoutes(scope, context));
  await app.register(timezoneRoutes);
  await app.register(async (scope) => dashboardRoutes(scope, context));
  return app;
}
