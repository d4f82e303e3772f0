// An environment's run retention read and changed through the API (GET/PUT /api/v1/run-retention)
// and the dashboard's environment settings form: bounds checked with a 4xx naming the field, CSRF
// on the form, admins only, each key and page reaching its own environment only, and the purge
// following the value set.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { hashPassword } from "../server/dashboard/passwords.ts";
import { purgeExpiredRuns } from "../server/engine/run-retention.ts";
import { organizationMembersInsert, projectMembersAdd, projectsInsertWithEnvironments, usersInsert } from "../server/storage/teams.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("run retention settings", () => {
  let t: TestApp;
  let prod: ApiClient;
  let staging: ApiClient;
  let prodId: string;
  let stagingId: string;
  let admin: Browser;
  let member: Browser;
  let outsider: Browser;
  let base: string;

  const days = async (environmentId: string) =>
    (await t.database.db.sql<{ days: number | null }[]>`select run_retention_days as days from ratchet.environments where id = ${environmentId}`)[0]!.days;

  async function signIn(email: string, password: string, address: string): Promise<Browser> {
    const browser = new Browser(t.app, address);
    const { csrf } = await browser.page("/login");
    const response = await browser.request("POST", "/login", { _csrf: csrf, email, password });
    assert.equal(response.statusCode, 303, response.body);
    return browser;
  }

  before(async () => {
    t = await createTestApp({ env: { RATCHET_RUN_RETENTION_DAYS: "90" } });
    prod = new ApiClient(t.app, await t.key("prod"));
    staging = new ApiClient(t.app, await t.key("staging"));
    prodId = (await prod.ok("GET", "/api/v1/whoami")).environment.id;
    stagingId = (await staging.ok("GET", "/api/v1/whoami")).environment.id;
    base = `/p/${t.project.ref}/prod`;
    const sql = t.database.db.sql;
    admin = await signedInAdmin(t.app, t.database.db);
    const [organization] = await sql<{ id: string }[]>`select organization_id as id from ratchet.projects where id = ${t.project.id}`;
    const other = await sql.begin((tx) => projectsInsertWithEnvironments(tx, organization!.id, { name: "Other", slug: "other" }));
    const passwordHash = await hashPassword("a long enough password");
    for (const [email, projectId] of [["member@example.com", t.project.id], ["outsider@example.com", other.id]] as const) {
      const userId = await usersInsert(sql, { email, name: email, passwordHash });
      await organizationMembersInsert(sql, organization!.id, userId, "member");
      await projectMembersAdd(sql, organization!.id, userId, [projectId], true);
    }
    member = await signIn("member@example.com", "a long enough password", "10.2.0.1");
    outsider = await signIn("outsider@example.com", "a long enough password", "10.2.0.2");
  });
  after(() => t.close());

  test("the API reads and changes the key's own environment's retention, within bounds", async () => {
    assert.deepEqual(await prod.ok("GET", "/api/v1/run-retention"), { days: null, defaultDays: 90, effectiveDays: 90 });
    assert.deepEqual(await prod.ok("PUT", "/api/v1/run-retention", { days: 7 }), { days: 7, defaultDays: 90, effectiveDays: 7 });
    assert.equal(await days(prodId), 7);
    assert.equal(await days(stagingId), null, "another environment is untouched");
    assert.deepEqual(await staging.ok("GET", "/api/v1/run-retention"), { days: null, defaultDays: 90, effectiveDays: 90 });
    for (const bad of [{ days: 0 }, { days: 36_501 }, { days: 1.5 }, { days: "7" }, {}]) {
      const response = await prod.request("PUT", "/api/v1/run-retention", bad);
      assert.equal(response.status, 400, JSON.stringify(bad));
      assert.match(response.body.error, /days/, JSON.stringify(bad));
    }
    assert.equal(await days(prodId), 7);
    assert.deepEqual(await staging.ok("PUT", "/api/v1/run-retention", { days: null }), { days: null, defaultDays: 90, effectiveDays: 90 });
    assert.equal(await days(prodId), 7, "a staging key's change stays in staging");
  });

  test("the purge follows the value set: a run finished 10 days ago goes at 7 days, not at the default 90", async () => {
    const sql = t.database.db.sql;
    const insert = (environmentId: string) => sql`
      insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, created_at, updated_at, finished_at)
      values (gen_random_uuid(), ${environmentId}, 'old', 'task/old', 'COMPLETED', '{}'::json, now() - interval '11 days', now(), now() - interval '10 days')`;
    await insert(prodId);
    await insert(stagingId);
    const pass = await purgeExpiredRuns({ db: t.database.db, clock: { now: () => new Date() } }, { defaultDays: 90, batchSize: 100, maxBatches: 100 });
    assert.equal(pass.deleted, 1);
    const left = await sql<{ environment_id: string }[]>`select environment_id from ratchet.runs where task_identifier = 'old'`;
    assert.deepEqual(left.map((row) => row.environment_id), [stagingId]);
  });

  test("an admin changes it on the environment settings page; bad input is a 400 naming the field, keeping what was typed", async () => {
    const { response, document } = await admin.page(`${base}/settings`);
    assert.equal(response.statusCode, 200);
    assert.match(document.querySelector(".retention-now")!.textContent!, /kept for 7 days/);
    assert.equal(document.querySelector('input[name="runRetentionDays"]')!.getAttribute("value"), "7");
    const saved = await admin.submit(`${base}/settings`, `${base}/settings/run-retention`, { runRetentionDays: "30" });
    assert.equal(saved.statusCode, 200);
    assert.match(saved.body, /kept for 30 days/);
    assert.equal(await days(prodId), 30);
    for (const typed of ["0", "36501", "ten", "1.5", "-3"]) {
      const refused = await admin.submit(`${base}/settings`, `${base}/settings/run-retention`, { runRetentionDays: typed });
      assert.equal(refused.statusCode, 400, typed);
      assert.match(refused.body, /runRetentionDays: a whole number of days from 1 to 36500/, typed);
      assert.match(refused.body, new RegExp(`value="${typed.replace(".", "\\.")}"`), typed);
    }
    assert.equal(await days(prodId), 30);
    const cleared = await admin.submit(`${base}/settings`, `${base}/settings/run-retention`, { runRetentionDays: "" });
    assert.equal(cleared.statusCode, 200);
    assert.equal(await days(prodId), null);
    assert.match(cleared.body, /the server&#39;s default, RATCHET_RUN_RETENTION_DAYS=90|the server's default, RATCHET_RUN_RETENTION_DAYS=90/);
  });

  test("the form needs its CSRF token", async () => {
    const response = await admin.request("POST", `${base}/settings/run-retention`, { runRetentionDays: "1" });
    assert.equal(response.statusCode, 403);
    assert.equal(await days(prodId), null);
  });

  test("a member sees the value but may not change it; a member of another project gets a 404", async () => {
    const { response, document } = await member.page(`${base}/settings`);
    assert.equal(response.statusCode, 200);
    assert.equal(document.querySelector('input[name="runRetentionDays"]'), null);
    const refused = await member.submit(`${base}/settings`, `${base}/settings/run-retention`, { runRetentionDays: "1" });
    assert.equal(refused.statusCode, 403);
    assert.equal((await outsider.page(`${base}/settings`)).response.statusCode, 404);
    const { csrf } = await outsider.page("/account/tokens");
    const stolen = await outsider.request("POST", `${base}/settings/run-retention`, { _csrf: csrf, runRetentionDays: "1" });
    assert.equal(stolen.statusCode, 404);
    assert.equal(await days(prodId), null);
  });
});
