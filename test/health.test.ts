import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { connect } from "../server/db/client.ts";
import { freePort } from "../server/db/scratch.ts";
import { loadConfig } from "../server/config.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";

describe("health", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(() => t.close());

  test("GET /healthz answers while the process is up", async () => {
    const response = await t.app.inject({ method: "GET", url: "/healthz" });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: "ok" });
  });

  test("GET /readyz answers 200 when the database is reachable and migrated", async () => {
    const response = await t.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: "ready" });
  });

  test("GET /readyz answers 503 when the database is not reachable", async () => {
    const url = `postgres://postgres:x@127.0.0.1:${await freePort()}/none`;
    const db = connect({ url, poolSize: 2 });
    const app = await buildApp({ config: loadConfig({ DATABASE_URL: url }), db, logger: pino({ level: "silent" }) });
    try {
      const response = await app.inject({ method: "GET", url: "/readyz" });
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().code, "NOT_READY");
    } finally {
      await app.close();
      await db.close();
    }
  });

  test("GET /readyz answers 503 while migrations are pending", async () => {
    await t.database.db.sql`delete from ratchet.migrations where id = (select max(id) from ratchet.migrations)`;
    const response = await t.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(response.statusCode, 503);
    assert.match(response.json().error, /not applied/);
  });
});
