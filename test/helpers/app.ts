// An app built the way main.ts builds it, on a test database, for app.inject.
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { buildApp } from "../../server/app.ts";
import { issueSecretKey } from "../../server/auth/issue-key.ts";
import type { Clock } from "../../server/clock.ts";
import type { EngineSettings } from "../../server/engine/settings.ts";
import { loadConfig, type Config } from "../../server/config.ts";
import type { EnvironmentType } from "../../server/db/tables.ts";
import { tenancyBootstrap, type ProjectRow } from "../../server/storage/tenancy.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export interface TestApp {
  app: FastifyInstance;
  database: TestDatabase;
  config: Config;
  project: ProjectRow;
  key(environment?: EnvironmentType): Promise<string>;
  close(): Promise<void>;
}

export async function createTestApp(
  options: { clock?: Clock; sweeper?: boolean; settings?: Partial<EngineSettings>; env?: Record<string, string> } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, RATCHET_LOG_LEVEL: "silent", ...options.env });
  const project = await tenancyBootstrap(database.db.sql);
  if (!project) throw new Error("a fresh test database already had a project");
  const app = await buildApp({
    config,
    db: database.db,
    clock: options.clock,
    // RATCHET_TEST_LOG=debug shows the app's log while debugging a test.
    logger: pino({ level: process.env.RATCHET_TEST_LOG ?? "silent" }),
    sweeper: options.sweeper ?? false,
    settings: options.settings,
  });
  await app.ready();
  return {
    app,
    database,
    config,
    project,
    async key(environment = "dev") {
      return (await issueSecretKey(database.db.sql, { environment, projectRef: project.ref })).key;
    },
    async close() {
      await app.close();
      await database.drop();
    },
  };
}
