// One running Ratchet server: database, first-start setup, HTTP. main.ts and `ratchet start` both
// use it; stop() drains HTTP, closes the pool and stops the embedded Postgres in that order.
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { buildApp } from "./app.ts";
import { issueSecretKey } from "./auth/issue-key.ts";
import type { Config } from "./config.ts";
import { openDatabase, type OpenDatabase } from "./database.ts";
import { tenancyBootstrap } from "./storage/tenancy.ts";
import { firstSetupLink } from "./dashboard/sessions.ts";

export interface RunningServer {
  app: FastifyInstance;
  database: OpenDatabase;
  url: string;
  /** The dev key created on the very first start, when it could be shown to a person. */
  firstDevKey: string | null;
  /** While nobody can sign in to the dashboard: a one-time link that creates the first admin. */
  setupLink: string | null;
  stop(options?: { force?: boolean }): Promise<void>;
}

export class ServerStartError extends Error {
  override name = "ServerStartError";
}

export async function startServer(
  config: Config,
  logger: Logger,
  options: {
    showFirstKey?: boolean;
    /** The embedded Postgres died and could not be started again: the process should exit non-zero. */
    onDatabaseLost?: (error: Error) => void;
  } = {},
): Promise<RunningServer> {
  const database = await openDatabase(config, logger, "ratchet", { onEmbeddedPostgresLost: (error) => options.onDatabaseLost?.(error) });
  let app: FastifyInstance | undefined;
  try {
    const project = await tenancyBootstrap(database.db.sql);
    let firstDevKey: string | null = null;
    if (project) {
      logger.info({ project: project.ref }, "created the default organization, project and environments");
      if (options.showFirstKey) {
        firstDevKey = (await issueSecretKey(database.db.sql, { environment: "dev", projectRef: project.ref, name: "first start" })).key;
      }
    }
    const setupLink = await firstSetupLink(database.db, config.publicUrl, new Date());
    app = await buildApp({ config, db: database.db, logger });
    try {
      await app.listen({ port: config.port, host: config.host });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new ServerStartError(`Port ${config.port} is already in use on ${config.host}. Set PORT to a free port.`);
      }
      throw error;
    }
    const started = app;
    let stopping: Promise<void> | undefined;
    return {
      app: started,
      database,
      url: config.publicUrl,
      firstDevKey,
      setupLink,
      stop({ force = false } = {}) {
        if (force) {
          // A second signal: stop waiting for requests, but never leave Postgres behind.
          return (async () => {
            await database.db.sql.end({ timeout: 0 }).catch(() => {});
            await database.embedded?.stop("immediate");
          })();
        }
        stopping ??= (async () => {
          const drained = started.close();
          const timeout = new Promise<void>((done) => setTimeout(done, config.shutdownTimeoutMs).unref());
          await Promise.race([drained, timeout]);
          await database.db.close();
          await database.embedded?.stop("fast");
        })();
        return stopping;
      },
    };
  } catch (error) {
    await app?.close().catch(() => {});
    await database.db.close().catch(() => {});
    await database.embedded?.stop().catch(() => {});
    throw error;
  }
}
