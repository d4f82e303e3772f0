// `npm start` / `ratchet start`: run the server until SIGTERM or SIGINT. The first signal drains
// in-flight requests and stops Postgres cleanly; a second one stops at once, still stopping Postgres.
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { EmbeddedPostgresError } from "./db/embedded.ts";
import { MigrationError } from "./db/migrate.ts";
import { createLogger } from "./logger.ts";
import { removeLocalServerFile, writeLocalServerFile } from "./local-server-file.ts";
import { ServerStartError, startServer, type RunningServer } from "./server.ts";
import { onStopSignals } from "./stop-signals.ts";

const knownStartErrors = [ConfigError, EmbeddedPostgresError, MigrationError, ServerStartError];

function banner(config: Config, server: RunningServer): string {
  const lines = [
    "",
    `  Ratchet is running at ${server.url}`,
    `  Dashboard:        ${server.url}/`,
    ...(server.setupLink ? [`  First sign-in:    ${server.setupLink}`, "                    (one-time link, valid 24 h: creates the first admin)"] : []),
    `  Database:         ${config.databaseUrl ? "DATABASE_URL" : `embedded Postgres in ${config.dataDir}/postgres`}`,
  ];
  if (server.firstDevKey) {
    lines.push(
      `  Dev secret key:   ${server.firstDevKey}`,
      "                    (shown once; set it as TRIGGER_SECRET_KEY or RATCHET_SECRET_KEY for your app and worker)",
    );
  } else {
    lines.push("  Dev secret key:   on the dashboard's API keys page, or `npx ratchet keys create --env dev` after `npx ratchet login`");
  }
  lines.push(`  Point SDKs here:  TRIGGER_API_URL=${server.url}`, "");
  return lines.join("\n");
}

export async function runServer(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);

  let server: RunningServer | undefined;
  let signals = 0;
  const onSignal = (count: number, signal: NodeJS.Signals) => {
    signals = count;
    if (!server) {
      if (count > 1) process.exit(1);
      logger.info({ signal }, "signal received while starting; will stop once started");
      return;
    }
    const running = server;
    void removeLocalServerFile(config.dataDir);
    if (count === 1) {
      logger.info({ signal }, "shutting down: draining requests, then stopping the database");
      running.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
    } else {
      logger.warn({ signal }, "second signal: stopping now");
      running.stop({ force: true }).finally(() => process.exit(1));
    }
  };
  onStopSignals(onSignal);

  try {
    server = await startServer(config, logger, {
      showFirstKey: process.stdout.isTTY === true,
      // Without its database the server is useless: exit non-zero so that a supervisor restarts it.
      onDatabaseLost: (error) => {
        console.error(`\nRatchet is stopping: ${error.message}\n`);
        void (server?.stop({ force: true }) ?? Promise.resolve()).finally(() => process.exit(1));
      },
    });
  } catch (error) {
    if (knownStartErrors.some((type) => error instanceof type)) {
      logger.error({ err: { type: (error as Error).name, message: (error as Error).message } }, "could not start");
      console.error(`\nRatchet could not start: ${(error as Error).message}\n`);
    } else {
      logger.error({ err: error }, "could not start");
    }
    process.exit(1);
  }
  logger.info({ url: server.url }, "listening");
  process.stdout.write(`${banner(config, server)}\n`);
  await writeLocalServerFile(config.dataDir, server.url);
  if (signals > 0) onSignal(1, "SIGTERM");
}

if (import.meta.main) {
  await runServer();
}
