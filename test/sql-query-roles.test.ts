// SQL queries when the server's database user is not a superuser: it migrates its own database in a
// cluster where the query roles already exist (roles are cluster-wide; another database made them),
// queries stay disabled with a 503 until it is a member of the roles, and then work, scoped.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import postgres from "postgres";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { loadConfig } from "../server/config.ts";
import { connect, type Db } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { withDatabase } from "../server/db/scratch.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { testServerAdminUrl } from "./helpers/database.ts";
import { ApiClient } from "./helpers/engine.ts";

// Before PostgreSQL 16 a CREATEROLE user may grant itself membership of any role it did not create,
// so the migration's own setup succeeds and there is no "not yet granted" state to test (and
// GRANT … WITH INHERIT is 16+ syntax). docs/sql.md says how each version is set up.
const probe = postgres(testServerAdminUrl(), { max: 1, onnotice: () => {} });
const [row] = await probe<{ version: string }[]>`select current_setting('server_version_num') as version`;
const version = row!.version;
await probe.end();
const skip = Number(version) < 160000 ? `PostgreSQL ${version}: the migration grants the query roles itself before 16` : false;

describe("SQL queries with a server database user that is not a superuser", { skip }, () => {
  const suffix = randomBytes(5).toString("hex");
  const user = `ratchet_app_${suffix}`;
  const database = `ratchet_test_roles_${suffix}`;
  const admin = postgres(testServerAdminUrl(), { max: 1, onnotice: () => {} });
  let db: Db;
  let app: FastifyInstance;
  let prod: ApiClient;
  let staging: ApiClient;

  before(async () => {
    await admin.unsafe(`create role ${user} login password 'app-password' createrole`);
    await admin.unsafe(`create database ${database} owner ${user}`);
    const url = new URL(withDatabase(testServerAdminUrl(), database));
    url.username = user;
    url.password = "app-password";
    db = connect({ url: url.toString(), poolSize: 4 });
    const [me] = await db.sql<{ rolsuper: boolean }[]>`select rolsuper from pg_roles where rolname = current_user`;
    assert.equal(me!.rolsuper, false);
    await migrate(db.sql);
    const project = await tenancyBootstrap(db.sql);
    app = await buildApp({ config: loadConfig({ DATABASE_URL: url.toString(), RATCHET_LOG_LEVEL: "silent" }), db, logger: pino({ level: "silent" }), sweeper: false });
    await app.ready();
    prod = new ApiClient(app, (await issueSecretKey(db.sql, { environment: "prod", projectRef: project!.ref })).key);
    staging = new ApiClient(app, (await issueSecretKey(db.sql, { environment: "staging", projectRef: project!.ref })).key);
    for (const client of [prod, staging]) await client.register([{ id: "job" }]);
    for (let i = 0; i < 4; i += 1) await prod.trigger("job", {});
    await staging.trigger("job", {});
  });
  after(async () => {
    await app?.close();
    await db?.close();
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.unsafe(`drop role if exists ${user}`);
    await admin.end();
  });

  test("until the user is a member of the query roles, queries answer 503 and the migration still applied", async () => {
    const response = await prod.request("POST", "/api/v1/query", { query: "select count(*) from runs" });
    assert.equal(response.status, 503);
    assert.match(response.body.error, /roles are missing/);
    // The server itself still sees everything: row-level security does not apply to the tables' owner.
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from ratchet.runs`;
    assert.equal(count!.n, 5);
  });

  test("once an administrator grants the roles and the user runs the setup, queries work and are scoped", async () => {
    await admin.unsafe(`grant ratchet_query, ratchet_query_views to ${user} with inherit false, set true`);
    await db.sql`select ratchet.query_roles_setup()`;
    await db.sql`select ratchet.query_roles_setup()`; // again: nothing to do, no error
    const mine = await prod.ok("POST", "/api/v1/query", { query: "select count(*)::int as n from runs" });
    assert.deepEqual(mine.results, [{ n: 4 }]);
    const theirs = await staging.ok("POST", "/api/v1/query", { query: "select count(*)::int as n from runs" });
    assert.deepEqual(theirs.results, [{ n: 1 }]);
    const project = await staging.ok("POST", "/api/v1/query", { query: "select count(*)::int as n from runs", scope: "project" });
    assert.deepEqual(project.results, [{ n: 5 }]);
    // Membership without inheritance: the server's own reads are not narrowed by the views' policies.
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from ratchet.runs`;
    assert.equal(count!.n, 5);
    const escape = await prod.request("POST", "/api/v1/query", { query: "select set_config('role', current_user, true)" });
    assert.equal(escape.status, 400);
  });
});
