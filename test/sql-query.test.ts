// SQL over run history: the official SDK's query.execute() as two tenants, the schema endpoint, and
// every escape attempt from docs/sql.md. Each attempt is refused or sees only the caller's rows.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { configure, query } from "@trigger.dev/sdk";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("SQL queries over the ratchet_api views", () => {
  let t: TestApp;
  let address: string;
  let owner: ApiClient;
  let sibling: ApiClient;
  let stranger: ApiClient;
  const ownerRuns: string[] = [];

  /** POST /api/v1/query as a key, through the official SDK's client. */
  type Options = { scope?: "environment" | "project" | "organization"; period?: string; from?: Date; to?: Date };
  async function sdkQuery(key: string, sql: string, options: Options = {}) {
    configure({ baseURL: address, accessToken: key });
    return query.execute(sql, options);
  }
  async function sdkCsv(key: string, sql: string) {
    configure({ baseURL: address, accessToken: key });
    return query.execute(sql, { format: "csv" });
  }

  async function raw(client: ApiClient, sql: string, extra: Record<string, unknown> = {}) {
    return client.request("POST", "/api/v1/query", { query: sql, ...extra });
  }

  /** The query is refused with a 4xx naming the problem, and nothing of anyone's leaks. */
  async function refused(sql: string, pattern: RegExp, client = stranger) {
    const response = await raw(client, sql);
    assert.ok(response.status >= 400 && response.status < 500, `${sql} → ${response.status} ${JSON.stringify(response.body)}`);
    assert.match(response.body.error, pattern, sql);
    assert.ok(!JSON.stringify(response.body).includes("owner secret"), `${sql} leaks the owner's data`);
    return response.body;
  }

  before(async () => {
    t = await createTestApp({ settings: { queryTimeoutMs: 3_000, queryMaxRows: 50, queryMaxBytes: 256 * 1024 } });
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    owner = new ApiClient(t.app, await t.key("prod"));
    sibling = new ApiClient(t.app, await t.key("staging"));
    const sql = t.database.db.sql;
    const [organization] = await sql<{ id: string }[]>`insert into ratchet.organizations (slug, name) values ('other', 'Other') returning id`;
    const [project] = await sql<{ id: string }[]>`
      insert into ratchet.projects (organization_id, ref, slug, name) values (${organization!.id}, 'proj_strangerstrangerstra', 'other', 'Other') returning id`;
    await sql`insert into ratchet.environments (project_id, type, slug) values (${project!.id}, 'prod', 'prod')`;
    stranger = new ApiClient(t.app, (await issueSecretKey(sql, { environment: "prod", projectRef: "proj_strangerstrangerstra" })).key);
    for (const client of [owner, sibling, stranger]) await client.register([{ id: "report" }, { id: "email" }]);
    for (let i = 0; i < 5; i += 1) ownerRuns.push((await owner.trigger("report", { secret: "owner secret" }, { tags: ["owner secret"] })).id);
    await owner.trigger("email", {});
    for (let i = 0; i < 2; i += 1) await sibling.trigger("report", {});
    for (let i = 0; i < 3; i += 1) await stranger.trigger("report", {});
    // The owner also has an attempt, a batch, a token and a schedule for the other views to show.
    const [run] = await owner.dequeue("owner-worker", 1);
    await owner.start("owner-worker", run!);
    await owner.ok("POST", "/api/v2/tasks/batch", { items: [{ task: "email", payload: {} }] });
    await owner.ok("POST", "/api/v1/waitpoints/tokens", { tags: ["owner secret"] });
    await owner.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", deduplicationKey: "owner" });
  });
  after(() => t.close());

  test("the official SDK's query.execute: each tenant sees only its own runs", async () => {
    const mine = await sdkQuery(owner.key, "SELECT run_id, status, task_identifier, triggered_at FROM runs WHERE batch_id IS NULL ORDER BY run_id");
    assert.equal(mine.format, "json");
    assert.equal(mine.results.length, 6);
    assert.deepEqual(mine.results.filter((row) => row.task_identifier === "report").map((row) => row.run_id).sort(), [...ownerRuns].sort());
    assert.deepEqual(new Set(mine.results.map((row) => row.status)), new Set(["Queued", "Executing"]));

    const theirs = await sdkQuery(stranger.key, "SELECT count(*) AS count FROM runs");
    assert.equal(Number(theirs.results[0]!.count), 3);
    const grouped = await sdkQuery(owner.key, "SELECT task_identifier, count(*)::int AS runs FROM runs WHERE batch_id IS NULL GROUP BY task_identifier ORDER BY 1");
    assert.deepEqual(grouped.results, [{ task_identifier: "email", runs: 1 }, { task_identifier: "report", runs: 5 }]);
  });

  test("scope project and organization widen to the key's project and organization, never further", async () => {
    const project = await sdkQuery(owner.key, "SELECT environment, count(*)::int AS n FROM runs GROUP BY 1 ORDER BY 1", { scope: "project" });
    assert.deepEqual(project.results, [{ environment: "prod", n: 7 }, { environment: "staging", n: 2 }]);
    const organization = await sdkQuery(owner.key, "SELECT count(*)::int AS n FROM runs", { scope: "organization" });
    assert.equal(organization.results[0]!.n, 9);
    const strangerOrganization = await sdkQuery(stranger.key, "SELECT count(*)::int AS n FROM runs", { scope: "organization" });
    assert.equal(strangerOrganization.results[0]!.n, 3);
  });

  test("CSV output through the official SDK", async () => {
    const csv = await sdkCsv(owner.key, "SELECT task_identifier, count(*)::int AS runs, 'a,\"b\"' AS quoted FROM runs WHERE batch_id IS NULL GROUP BY 1 ORDER BY 1");
    assert.equal(csv.format, "csv");
    assert.equal(csv.results, 'task_identifier,runs,quoted\r\nemail,1,"a,""b"""\r\nreport,5,"a,""b"""\r\n');
    const empty = await sdkCsv(owner.key, "SELECT run_id FROM runs WHERE false");
    assert.equal(empty.results, "run_id\r\n");
  });

  test("period and from/to limit runs to a time window", async () => {
    const recent = await sdkQuery(owner.key, "SELECT count(*)::int AS n FROM runs", { period: "1h" });
    assert.equal(recent.results[0]!.n, 7);
    const old = await sdkQuery(owner.key, "SELECT count(*)::int AS n FROM runs", { from: new Date("2000-01-01"), to: new Date("2000-01-02") });
    assert.equal(old.results[0]!.n, 0);
    const bad = await raw(owner, "SELECT 1", { period: "forever" });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /period/);
  });

  test("GET /api/v1/query/schema describes every view with its columns", async () => {
    configure({ baseURL: address, accessToken: owner.key });
    const response = await owner.ok("GET", "/api/v1/query/schema");
    const names = response.tables.map((table: { name: string }) => table.name);
    assert.deepEqual(names, ["runs", "attempts", "events", "batches", "waitpoints", "schedules", "queues", "tasks"]);
    const runs = response.tables.find((table: { name: string }) => table.name === "runs");
    assert.equal(runs.timeColumn, "triggered_at");
    for (const column of ["run_id", "status", "task_identifier", "triggered_at", "completed_at", "tags", "is_test"]) {
      assert.ok(runs.columns.some((c: { name: string }) => c.name === column), column);
    }
  });

  test("the other views each show only the caller's rows", async () => {
    for (const view of ["attempts", "batches", "waitpoints", "schedules", "queues", "tasks"]) {
      const ownerRows = await sdkQuery(owner.key, `SELECT * FROM ${view}`);
      assert.ok(ownerRows.results.length >= 1, `the owner has ${view}`);
      for (const row of ownerRows.results) assert.equal(row.environment, "prod", view);
      const strangerRows = await sdkQuery(stranger.key, `SELECT * FROM ${view}`);
      for (const row of strangerRows.results) assert.equal(row.project, "proj_strangerstrangerstra", view);
      if (view !== "queues" && view !== "tasks") assert.equal(strangerRows.results.length, 0, view);
    }
    const attempts = await sdkQuery(owner.key, "SELECT run_id, attempt_number, status FROM attempts");
    assert.deepEqual(attempts.results.map((row) => [row.attempt_number, row.status]), [[1, "EXECUTING"]]);
  });

  test("role changes are refused: set role, reset role, set session authorization, set_config", async () => {
    await refused("set role ratchet_query_views", /Only SELECT/);
    await refused("reset role", /Only SELECT/);
    await refused("set session authorization default", /Only SELECT/);
    await refused("select set_config('role', current_user, true)", /set_config is not allowed/);
    await refused("select pg_catalog.set_config('ratchet.environment_ids', 'x', true)", /set_config is not allowed/);
    await refused("select current_setting('is_superuser')", /current_setting is not allowed/);
    await refused("select 1; select 2", /exactly one statement/);
    await refused("select 1; reset role; select * from runs", /exactly one statement/);
  });

  test("files, large objects, other databases, programs and SQL-running functions are refused", async () => {
    await refused("select pg_read_file('/etc/passwd')", /pg_read_file is not allowed/);
    await refused("select * from pg_ls_dir('.')", /pg_ls_dir is not allowed/);
    await refused("select lo_import('/etc/passwd')", /lo_import is not allowed/);
    await refused("select lo_export(1, '/tmp/x')", /lo_export is not allowed/);
    await refused("copy (select 1) to program 'id'", /Only SELECT/);
    await refused("select * from dblink('dbname=postgres', 'select 1') as x(a int)", /dblink is not allowed/);
    await refused("select query_to_xml('select * from ratchet.api_keys', true, false, '')", /query_to_xml is not allowed/);
    await refused("select ts_stat('select 1')", /ts_stat is not allowed/);
    await refused("select pg_terminate_backend(1)", /not allowed/);
    await refused("select pg_advisory_lock(1)", /not allowed/);
    await refused("select nextval('x')", /not allowed/);
    await refused("select public.anything()", /not allowed/);
    // Functional notation: r.f means f(r).
    await refused("select r.pg_read_file from runs r", /pg_read_file is not allowed/);
    await refused("select (r).current_setting from runs r", /current_setting is not allowed/);
  });

  test("writes and locks are refused: for update, writable CTEs, select into", async () => {
    await refused("select * from runs for update", /Row locks/);
    await refused("select * from (select * from runs for share) r", /Row locks/);
    await refused("with gone as (delete from runs returning *) select * from gone", /DeleteStmt/);
    await refused("with x as (update ratchet.runs set status = 'CANCELED' returning 1) select 1", /UpdateStmt/);
    await refused("select * into stolen from runs", /SELECT INTO/);
    await refused("delete from runs", /Only SELECT/);
    await refused("insert into runs default values", /Only SELECT/);
  });

  test("internal tables and catalogs cannot be read, qualified or not", async () => {
    await refused("select * from ratchet.runs", /Unknown table ratchet\.runs/);
    await refused("select * from ratchet.api_keys", /Unknown table/);
    await refused("select * from pg_class", /Unknown table pg_class/);
    await refused("select * from pg_catalog.pg_stats", /Unknown table/);
    await refused("select * from information_schema.tables", /Unknown table/);
    await refused("select * from pg_stat_activity", /Unknown table/);
    await refused("select (select count(*) from ratchet.runs)", /Unknown table/);
    // A CTE of the query's own is fine, and one may not shadow its way to the tables.
    const ok = await sdkQuery(stranger.key, "with mine as (select * from runs) select count(*)::int as n from mine");
    assert.equal(ok.results[0]!.n, 3);
  });

  test("the database itself refuses what the parse check let through: no privilege outside ratchet_api", async () => {
    // Straight to the role, bypassing the parse check: the second line of defence holds on its own.
    const sql = t.database.db.sql;
    const attempt = async (statement: string) =>
      sql.begin(async (tx) => {
        await tx`insert into ratchet.query_scopes (xid, environment_ids) values (pg_current_xact_id(), '{}')`;
        await tx.unsafe("set local transaction_read_only = on");
        await tx.unsafe("set local role ratchet_query");
        return tx.unsafe(statement);
      });
    await assert.rejects(attempt("select * from ratchet.runs"), /permission denied/);
    await assert.rejects(attempt("select * from ratchet.api_keys"), /permission denied/);
    await assert.rejects(attempt("select * from ratchet.query_scopes"), /permission denied/);
    await assert.rejects(attempt("insert into ratchet.query_scopes values (pg_current_xact_id(), '{}')"), /read-only|permission denied/);
    await assert.rejects(attempt("select pg_read_file('/etc/passwd')"), /permission denied/);
    await assert.rejects(attempt("select lo_import('/etc/passwd')"), /permission denied|read-only/);
    // Views with an empty scope show nothing, whatever the settings say.
    const rows = await sql.begin(async (tx) => {
      await tx.unsafe("set local transaction_read_only = on");
      await tx`select set_config('ratchet.environment_ids', ${ownerRuns.join(",")}, true)`;
      await tx.unsafe("set local role ratchet_query");
      return tx.unsafe("select count(*)::int as n from ratchet_api.runs");
    });
    assert.equal(rows[0]!.n, 0);
  });

  test("a function over the views cannot reach another tenant's rows, nor can a view's joins", async () => {
    // Every view joins environments and projects: under the stranger's scope they hold its own only.
    const joined = await sdkQuery(stranger.key, "select count(*)::int as n from runs r join attempts a using (run_id)");
    assert.equal(joined.results[0]!.n, 0);
    const projects = await sdkQuery(stranger.key, "select distinct project from runs");
    assert.deepEqual(projects.results, [{ project: "proj_strangerstrangerstra" }]);
    const byId = await sdkQuery(stranger.key, `select count(*)::int as n from runs where run_id = '${ownerRuns[0]}'`);
    assert.equal(byId.results[0]!.n, 0);
  });

  test("pg_sleep is refused and a long query hits the statement timeout", async () => {
    await refused("select pg_sleep(600)", /pg_sleep is not allowed/);
    const started = Date.now();
    const body = await refused("select count(*) from generate_series(1, 1000000000000)", /statement timeout/);
    assert.ok(Date.now() - started < 30_000, JSON.stringify(body));
  });

  test("memory: big sorts spill within work_mem, and the row and result size caps hold", async () => {
    const capped = await raw(stranger, "select g from generate_series(1, 100000) g");
    assert.equal(capped.status, 200);
    assert.equal(capped.body.results.length, 50);
    assert.equal(capped.body.truncated, true);
    await refused("select repeat('x', 100000) as big from generate_series(1, 40)", /larger than/);
    const sorted = await raw(stranger, "select count(*)::int as n from (select md5(g::text) from generate_series(1, 200000) g order by 1) s");
    assert.equal(sorted.status, 200, JSON.stringify(sorted.body));
    assert.equal(sorted.body.results[0].n, 200000);
  });

  test("at most a few queries run at once; more are refused with 429 while they run", async () => {
    const slow = "select count(*) from generate_series(1, 1000000000000)";
    const running = [raw(owner, slow), raw(owner, slow)];
    // Both are running in the database before the third is sent.
    for (;;) {
      const [active] = await t.database.db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where state = 'active' and query like '%generate_series(1, 1000000000000)%' and query not like '%pg_stat_activity%'`;
      if (active!.n >= 2) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const third = await raw(owner, "select 1 as one");
    assert.equal(third.status, 429);
    for (const response of await Promise.all(running)) assert.equal(response.status, 422);
    assert.equal((await raw(owner, "select 1 as one")).status, 200);
  });

  test("bad input is a 400 naming the field", async () => {
    const missing = await owner.request("POST", "/api/v1/query", { format: "json" });
    assert.equal(missing.status, 400);
    assert.match(missing.body.error, /query/);
    await refused("select from where", /not valid SQL/);
    await refused("select nope from runs", /nope/);
  });
});
