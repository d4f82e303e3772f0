// RATCHET_READ_DATABASE_URL against a real streaming replica of the tests' Postgres: the dashboard's
// read-only pages and SQL queries read from the standby (shown by pausing its replay: a run written
// since is missing there and nowhere else), writes and fresh reads go to the primary, tenant scoping
// holds on the standby, and with the standby stopped everything falls back to the primary while
// /readyz and /metrics say which is up. Also: the sealed query scope cannot be forged or reused.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { loadConfig } from "../server/config.ts";
import { freshReadsCookie } from "../server/db/read-replica.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { createTestDatabase, testServerAdminUrl, type TestDatabase } from "./helpers/database.ts";
import { signedInAdmin, type Browser } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";
import { startStreamingReplica, type StreamingReplica } from "./helpers/streaming-replica.ts";

describe("a read replica for the dashboard and SQL queries", () => {
  let replica: StreamingReplica | null = null;
  let skipped = "";
  let database: TestDatabase;
  let app: FastifyInstance;
  let owner: ApiClient;
  let stranger: ApiClient;
  let browser: Browser;
  let base: string;
  const ownerRuns: string[] = [];
  let strangerRun = "";
  let lateRun = "";

  const runIds = (body: { results?: Array<{ run_id: string }> }) => (body.results ?? []).map((row) => row.run_id).sort();
  /** A page as a browser that changed nothing in the last seconds (no fresh-reads cookie). */
  const settledPage = (url: string) => {
    browser.cookies.delete(freshReadsCookie);
    return browser.request("GET", url);
  };

  before(async () => {
    database = await createTestDatabase();
    const started = await startStreamingReplica(testServerAdminUrl());
    if ("skipped" in started) {
      skipped = started.skipped;
      console.log(`# read replica tests skipped: ${skipped}`);
      return;
    }
    replica = started;
    const project = await tenancyBootstrap(database.db.sql);
    base = `/p/${project!.ref}/prod`;
    const sql = database.db.sql;
    const [organization] = await sql<{ id: string }[]>`insert into ratchet.organizations (slug, name) values ('other', 'Other') returning id`;
    const [other] = await sql<{ id: string }[]>`
      insert into ratchet.projects (organization_id, ref, slug, name) values (${organization!.id}, 'proj_strangerstrangerstra', 'other', 'Other') returning id`;
    await sql`insert into ratchet.environments (project_id, type, slug) values (${other!.id}, 'prod', 'prod')`;
    const config = loadConfig({ DATABASE_URL: database.url, RATCHET_READ_DATABASE_URL: replica.urlFor(database.name), RATCHET_LOG_LEVEL: "silent" });
    await replica.caughtUp();
    app = await buildApp({ config, db: database.db, logger: pino({ level: process.env.RATCHET_TEST_LOG ?? "silent" }), sweeper: false });
    await app.ready();
    owner = new ApiClient(app, (await issueSecretKey(sql, { environment: "prod", projectRef: project!.ref })).key);
    stranger = new ApiClient(app, (await issueSecretKey(sql, { environment: "prod", projectRef: "proj_strangerstrangerstra" })).key);
    await owner.register([{ id: "report" }]);
    await stranger.register([{ id: "report" }]);
    for (let i = 0; i < 3; i += 1) ownerRuns.push((await owner.trigger("report", { n: i })).id);
    strangerRun = (await stranger.trigger("report", { secret: "stranger secret" })).id;
    browser = await signedInAdmin(app, database.db);
  });

  after(async () => {
    await app?.close();
    await replica?.remove();
    await database?.drop();
  });

  test("with the replica up, pages and SQL queries read from it; writes and fresh reads go to the primary", async (t) => {
    if (!replica) return t.skip(skipped);
    await replica.caughtUp();
    // The first probe ran at start; /readyz asks again.
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().readReplica.status, "up");
    const upMetrics = await app.inject({ method: "GET", url: "/metrics" });
    assert.match(upMetrics.body, /^ratchet_read_replica_up 1$/m);
    assert.match(upMetrics.body, /^ratchet_read_replica_replay_lag_bytes \d+$/m);

    // From here on the replica replays nothing: what is written now exists on the primary only.
    await replica.admin`select pg_wal_replay_pause()`;
    lateRun = (await owner.trigger("report", { late: true })).id;
    const [onPrimary] = await database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.runs`;
    assert.equal(onPrimary!.count, 5, "the trigger (a write) went to the primary");

    const list = await settledPage(`${base}/runs`);
    assert.equal(list.statusCode, 200);
    for (const id of ownerRuns) assert.ok(list.body.includes(id), `the runs list shows ${id}`);
    assert.ok(!list.body.includes(lateRun), "the runs list came from the paused replica");
    // A run the replica has not replayed yet is still found: its page looks it up on the primary.
    const runPage = await settledPage(`${base}/runs/${lateRun}`);
    assert.equal(runPage.statusCode, 200);
    assert.ok(runPage.body.includes(lateRun));

    // The SQL API on the replica, scoped per tenant exactly as on the primary.
    const mine = await owner.request("POST", "/api/v1/query", { query: "select run_id from runs" });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.deepEqual(runIds(mine.body), [...ownerRuns].sort(), "the owner sees its own runs as the replica has them");
    const theirs = await stranger.request("POST", "/api/v1/query", { query: "select run_id from runs", scope: "organization" });
    assert.equal(theirs.status, 200, JSON.stringify(theirs.body));
    assert.deepEqual(runIds(theirs.body), [strangerRun]);

    // The Query page (a POST that reads) also reads from the replica, and sets no fresh-reads cookie.
    const { csrf } = await browser.page(`${base}/query`);
    browser.cookies.delete(freshReadsCookie);
    const ran = await browser.request("POST", `${base}/query`, { _csrf: csrf, sql: "select run_id from runs", scope: "environment", period: "", action: "run" });
    assert.equal(ran.statusCode, 200);
    for (const id of ownerRuns) assert.ok(ran.body.includes(id));
    assert.ok(!ran.body.includes(lateRun), "the Query page's result came from the replica");
    assert.ok(!ran.body.includes(strangerRun));
    assert.equal(browser.cookies.has(freshReadsCookie), false);

    // The server's read pool is connected to the standby under its own application name.
    const [pool] = await replica.admin<{ count: number }[]>`
      select count(*)::int as count from pg_stat_activity where application_name = 'ratchet-read' and datname = ${database.name}`;
    assert.ok(pool!.count >= 1, "the read pool's connections are on the replica");

    // A change made from the dashboard: the same browser's next pages read from the primary.
    const saved = await browser.request("POST", `${base}/query`, { _csrf: csrf, sql: "select 1", scope: "environment", period: "", action: "save", name: "one" });
    assert.equal(saved.statusCode, 200);
    assert.equal(browser.cookies.has(freshReadsCookie), true, "a write sets the fresh-reads cookie");
    const fresh = await browser.request("GET", `${base}/runs`);
    assert.ok(fresh.body.includes(lateRun), "right after a write, the runs list comes from the primary");

    await replica.admin`select pg_wal_replay_resume()`;
    await replica.caughtUp();
    const caughtUp = await settledPage(`${base}/runs`);
    assert.ok(caughtUp.body.includes(lateRun), "once replayed, the replica shows it too");
  });

  test("with the replica stopped, pages and queries fall back to the primary and /readyz says what is up", async (t) => {
    if (!replica) return t.skip(skipped);
    await replica.stopServer();
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 200, "a down replica does not make the server unready");
    assert.equal(ready.json().status, "ready");
    assert.equal(ready.json().readReplica.status, "down");

    for (const page of ["/runs", `/runs/${lateRun}`, "/overview", "/tasks", `/runs/${lateRun}/trace`, "/batches"]) {
      const response = await settledPage(`${base}${page}`);
      assert.equal(response.statusCode, 200, `${page} on the primary`);
    }
    assert.equal((await settledPage("/environments")).statusCode, 200);
    const mine = await owner.request("POST", "/api/v1/query", { query: "select run_id from runs" });
    assert.equal(mine.status, 200);
    assert.deepEqual(runIds(mine.body), [...ownerRuns, lateRun].sort());
    const theirs = await stranger.request("POST", "/api/v1/query", { query: "select run_id from runs", scope: "organization" });
    assert.deepEqual(runIds(theirs.body), [strangerRun]);

    const metrics = await app.inject({ method: "GET", url: "/metrics" });
    assert.match(metrics.body, /^ratchet_read_replica_up 0$/m);
    assert.match(metrics.body, /^ratchet_read_replica_replay_lag_bytes nan$/im, "no lag figure while it is down");
  });

  test("a sealed query scope opens only in the transaction it was made for, and cannot be forged", async () => {
    const sql = database.db.sql;
    const [environment] = await sql<{ id: string }[]>`select id from ratchet.environments order by id limit 1`;
    const id = environment!.id;
    let sealed = "";
    await sql.begin(async (tx) => {
      const [row] = await tx<{ sealed: string }[]>`select ratchet.query_scope_seal(${[id]}::uuid[]) as sealed`;
      sealed = row!.sealed;
      await tx`select set_config('ratchet.query_scope', ${sealed}, true)`;
      const [scope] = await tx<{ ids: string[] }[]>`select ratchet.query_scope_environment_ids()::text[] as ids`;
      assert.deepEqual(scope!.ids, [id]);
    });
    const scopeWith = (value: string) =>
      sql.begin(async (tx) => {
        await tx`select set_config('ratchet.query_scope', ${value}, true)`;
        const [scope] = await tx<{ ids: string[] }[]>`select ratchet.query_scope_environment_ids()::text[] as ids`;
        return scope!.ids;
      });
    assert.deepEqual(await scopeWith(sealed), [], "a seal from an earlier transaction opens nothing");
    assert.deepEqual(await scopeWith(`{${id}};${"0".repeat(64)}`), [], "a forged seal opens nothing");
    assert.deepEqual(await scopeWith(`{${id}}`), []);
    // The query role can neither seal nor read the key.
    for (const statement of ["select ratchet.query_scope_seal(array[]::uuid[])", "select key from ratchet.query_scope_key"]) {
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe("set local role ratchet_query");
          await tx.unsafe(statement);
        }),
        /permission denied/,
        statement,
      );
    }
  });
});
