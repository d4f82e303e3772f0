import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { runCli } from "./helpers/server-process.ts";
import type { FastifyInstance } from "fastify";

describe("ratchet keys (against DATABASE_URL)", () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  before(async () => {
    database = await createTestDatabase();
    await tenancyBootstrap(database.db.sql);
    app = await buildApp({ config: loadConfig({ DATABASE_URL: database.url }), db: database.db, logger: pino({ level: "silent" }) });
  });
  after(async () => {
    await app.close();
    await database.drop();
  });

  const whoami = async (key: string) =>
    app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${key}` } });

  test("keys create prints only the key, for each environment", async () => {
    for (const [env, prefix] of [["dev", "tr_dev_"], ["staging", "tr_stg_"], ["prod", "tr_prod_"], ["preview", "tr_preview_"]]) {
      const result = await runCli(["admin", "keys", "create", "--env", env!], { DATABASE_URL: database.url });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^${prefix}[A-Za-z0-9]{24}\\n$`));
      const response = await whoami(result.stdout.trim());
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().environment.type, env);
    }
  });

  test("keys create with an unknown project or environment fails clearly", async () => {
    const badProject = await runCli(["admin", "keys", "create", "--env", "dev", "--project", "proj_nope"], { DATABASE_URL: database.url });
    assert.equal(badProject.code, 2);
    assert.match(badProject.stderr, /No project with ref proj_nope/);
    assert.equal(badProject.stdout, "");
    const badEnv = await runCli(["admin", "keys", "create", "--env", "production"], { DATABASE_URL: database.url });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /--env with one of: dev, staging, prod, preview/);
  });

  test("keys revoke by id takes effect at once", async () => {
    const created = await runCli(["admin", "keys", "create", "--env", "prod"], { DATABASE_URL: database.url });
    const key = created.stdout.trim();
    assert.equal((await whoami(key)).statusCode, 200);
    const id = /Created (key_[a-z0-9]{16})/.exec(created.stderr)?.[1];
    assert.ok(id, created.stderr);
    const revoked = await runCli(["admin", "keys", "revoke", id], { DATABASE_URL: database.url });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await whoami(key)).statusCode, 401);
    const again = await runCli(["admin", "keys", "revoke", id], { DATABASE_URL: database.url });
    assert.equal(again.code, 1);
  });

  test("an unknown command prints usage and fails", async () => {
    const result = await runCli(["frobnicate"], { DATABASE_URL: database.url });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Unknown command "frobnicate"/);
  });
});
