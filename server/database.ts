// Where the database comes from: DATABASE_URL, or the embedded Postgres under RATCHET_DATA_DIR.
// Also the short-lived access the CLI needs while a server may or may not be running.
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { connect, redactUrl, type Db } from "./db/client.ts";
import {
  embeddedPostgresUrl,
  findRunningEmbeddedPostgres,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from "./db/embedded.ts";
import { assertNotNewer, migrate } from "./db/migrate.ts";

export interface OpenDatabase {
  db: Db;
  /** Set when this process started the embedded Postgres and must stop it. */
  embedded: EmbeddedPostgres | null;
  url: string;
}

/** Starts (or connects to) the database and brings its schema up to date. */
export async function openDatabase(
  config: Config,
  logger: Logger,
  applicationName = "ratchet",
  options: { onEmbeddedPostgresLost?: (error: Error) => void } = {},
): Promise<OpenDatabase> {
  let embedded: EmbeddedPostgres | null = null;
  let url = config.databaseUrl;
  if (url === undefined) {
    logger.info({ dataDir: config.dataDir, port: config.embeddedPgPort }, "starting embedded Postgres");
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.embeddedPgPort,
      restartWhenItDies: true,
      onSupervisorMessage: (message) => logger.warn(message),
      onGiveUp: (error) => {
        logger.fatal({ err: { type: error.name, message: error.message } }, "the embedded Postgres is gone");
        options.onEmbeddedPostgresLost?.(error);
      },
      onLog: (line) => {
        if (/\b(PANIC|FATAL|ERROR|WARNING):/.test(line) && !/terminating connection due to administrator/.test(line)) {
          logger.warn({ postgres: line }, "postgres");
        } else {
          logger.debug({ postgres: line }, "postgres");
        }
      },
    });
    url = embedded.url;
  }
  const db = connect({ url, poolSize: config.dbPoolSize, applicationName, directUrl: url === config.databaseUrl ? config.directDatabaseUrl : undefined });
  try {
    await assertNotNewer(db.sql);
    const applied = await migrate(db.sql);
    if (applied.length > 0) logger.info({ applied }, "applied migrations");
  } catch (error) {
    await db.close();
    await embedded?.stop();
    throw error;
  }
  logger.debug({ database: redactUrl(url) }, "database ready");
  return { db, embedded, url };
}

/**
 * For one-off commands: uses DATABASE_URL, or the embedded Postgres a running server already
 * started, or starts the embedded Postgres for the duration of `work`.
 */
export async function withDatabase<T>(config: Config, logger: Logger, work: (db: Db) => Promise<T>): Promise<T> {
  if (config.databaseUrl === undefined) {
    const running = await findRunningEmbeddedPostgres(config.dataDir);
    if (running) {
      const db = connect({ url: await embeddedPostgresUrl(config.dataDir, running.port), poolSize: 2, applicationName: "ratchet-cli" });
      try {
        await assertNotNewer(db.sql);
        await migrate(db.sql);
        return await work(db);
      } finally {
        await db.close();
      }
    }
  }
  const open = await openDatabase(config, logger, "ratchet-cli");
  try {
    return await work(open.db);
  } finally {
    await open.db.close();
    await open.embedded?.stop();
  }
}
