// The rest of the management API the official SDK 4.8.3 calls, each through the SDK itself:
// runs.list(projectRef) (GET /api/v1/projects/{ref}/runs, with a personal access token),
// getBatchResults (GET /api/v1/batches/{id}/results) and concurrencyLimits.* over per-queue limits.
// Each is also tried by another tenant with the victim's real ids: 404, nothing changes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiClient as TriggerApiClient } from "@trigger.dev/core/v3";
import { concurrencyLimits, configure, queues, runs } from "@trigger.dev/sdk";
import { issueAccessToken } from "../server/auth/access-tokens.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { organizationMembersInsert, projectMembersAdd, projectsInsertWithEnvironments, usersInsert } from "../server/storage/teams.ts";
import { usersInsertAdmin } from "../server/storage/users.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("management API: project runs, batch results, concurrency limits", () => {
  let t: TestApp;
  let address: string;
  let prod: ApiClient;
  let staging: ApiClient;
  let stranger: ApiClient;
  let adminToken: string;
  let memberToken: string;
  const prodRuns: string[] = [];
  let stagingRun = "";
  let batchId = "";

  const as = (accessToken: string) => configure({ baseURL: address, accessToken });
  const status = async (promise: Promise<unknown>) =>
    promise.then(
      () => 200,
      (error: { status?: number }) => error.status ?? 0,
    );

  before(async () => {
    t = await createTestApp();
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const sql = t.database.db.sql;
    prod = new ApiClient(t.app, await t.key("prod"));
    staging = new ApiClient(t.app, await t.key("staging"));
    await prod.register([{ id: "report", queue: { concurrencyLimit: 5 } }, { id: "email" }]);
    await staging.register([{ id: "report" }]);
    // A batch of two: one completes with an output, one fails.
    batchId = (await prod.ok("POST", "/api/v2/tasks/batch", { items: [{ task: "email", payload: { n: 1 } }, { task: "email", payload: { n: 2 } }] })).id;
    const claimed = (await prod.dequeue("w", 10)).filter((run) => run.taskIdentifier === "email");
    assert.equal(claimed.length, 2);
    for (const run of claimed) {
      await prod.start("w", run);
      const first = (run.payload as { n: number }).n === 1;
      await prod.complete("w", run, first ? { ok: true, output: { sent: 1 } } : { ok: false, error: { name: "Error", message: "bounced", stackTrace: "Error: bounced" }, skipRetrying: true });
    }
    // Three queued reports in prod, one in staging.
    for (let i = 0; i < 3; i += 1) prodRuns.push((await prod.trigger("report", {})).id);
    stagingRun = (await staging.trigger("report", {})).id;
    // Another organization's project, with a key and a queue named like the owner's.
    const [organization] = await sql<{ id: string }[]>`insert into ratchet.organizations (slug, name) values ('other', 'Other') returning id`;
    const other = await sql.begin((tx) => projectsInsertWithEnvironments(tx, organization!.id, { name: "Other", slug: "other" }));
    stranger = new ApiClient(t.app, (await issueSecretKey(sql, { environment: "prod", projectRef: other.ref })).key);
    await stranger.register([{ id: "mine" }]);
    await stranger.trigger("mine", {});
    // The owner organization's admin, and a member given only a second project of that organization.
    const adminId = await sql.begin((tx) => usersInsertAdmin(tx, { email: "admin@example.com", name: "Admin", passwordHash: "unused" }));
    adminToken = (await issueAccessToken(sql, { userId: adminId, name: "cli" })).token;
    const [ownerOrganization] = await sql<{ id: string }[]>`select organization_id as id from ratchet.projects where id = ${t.project.id}`;
    const second = await sql.begin((tx) => projectsInsertWithEnvironments(tx, ownerOrganization!.id, { name: "Second", slug: "second" }));
    const memberId = await usersInsert(sql, { email: "member@example.com", name: "Member", passwordHash: "unused" });
    await organizationMembersInsert(sql, ownerOrganization!.id, memberId, "member");
    await projectMembersAdd(sql, ownerOrganization!.id, memberId, [second.id], true);
    memberToken = (await issueAccessToken(sql, { userId: memberId, name: "cli" })).token;
  });
  after(() => t.close());

  test("runs.list(projectRef) lists the project's runs across environments, narrowed by env", async () => {
    as(adminToken);
    const all: Array<{ id: string; env: { name: string } }> = [];
    for await (const run of runs.list(t.project.ref, { limit: 2 })) all.push(run as { id: string; env: { name: string } });
    assert.equal(all.length, 6, "3 reports and 2 emails in prod, 1 report in staging");
    assert.deepEqual(all.filter((run) => run.env.name === "staging").map((run) => run.id), [stagingRun]);
    const prodOnly = await runs.list(t.project.ref, { env: "prod", taskIdentifier: "report" });
    assert.deepEqual(prodOnly.data.map((run) => run.id).sort(), [...prodRuns].sort());
    const bad = await fetch(`${address}/api/v1/projects/${t.project.ref}/runs?filter[env]=nowhere`, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /filter\[env\]/);
  });

  test("runs.list(projectRef) of a project the token's user was not given is a 404, and a secret key is refused", async () => {
    as(memberToken);
    assert.equal(await status(runs.list(t.project.ref)), 404);
    as(prod.key);
    assert.equal(await status(runs.list(t.project.ref)), 401);
    as(stranger.key);
    assert.equal(await status(runs.list(t.project.ref)), 401);
  });

  test("getBatchResults answers each finished run's result in item order", async () => {
    const results = (await new TriggerApiClient(address, prod.key).getBatchResults(batchId))!;
    assert.equal(results.id, batchId);
    assert.equal(results.items.length, 2);
    const [ok, failed] = results.items;
    assert.equal(ok!.ok, true);
    assert.deepEqual(ok!.ok && JSON.parse(ok!.output!), { sent: 1 });
    assert.equal(failed!.ok, false);
    assert.match(JSON.stringify(!failed!.ok && failed!.error), /bounced/);
  });

  test("another environment's or project's key gets a 404 for the batch's results", async () => {
    for (const intruder of [staging, stranger]) {
      assert.equal(await status(new TriggerApiClient(address, intruder.key).getBatchResults(batchId)), 404);
    }
  });

  test("concurrencyLimits.* lists, retrieves, overrides, pauses, resumes and resets a queue's limit", async () => {
    as(prod.key);
    const list = await concurrencyLimits.list();
    assert.deepEqual(list.data.map((limit) => limit.name).sort(), ["task/email", "task/report"]);
    const limit = await concurrencyLimits.retrieve("task/report");
    assert.match(limit.id, /^climit_/);
    assert.deepEqual(limit.perKey, { current: 5, base: 5, override: null, overriddenAt: null });
    assert.equal(limit.queued, 3);
    assert.equal(limit.paused, false);
    const keyed = await concurrencyLimits.retrieve("task/report", { concurrencyKey: "tenant-1" });
    assert.deepEqual({ name: keyed.name, key: keyed.concurrencyKey, current: keyed.perKey.current, running: keyed.running }, { name: "task/report", key: "tenant-1", current: 5, running: 0 });

    const overridden = await concurrencyLimits.override("task/report", { perKey: 2 });
    assert.equal(overridden.perKey.current, 2);
    assert.equal(overridden.perKey.override, 2);
    assert.ok(overridden.perKey.overriddenAt instanceof Date);
    assert.equal((await queues.retrieve({ type: "task", name: "report" })).concurrencyLimit, 2, "the queue itself changed");
    assert.equal((await concurrencyLimits.pause("task/report")).paused, true);
    assert.equal((await queues.retrieve({ type: "task", name: "report" })).paused, true);
    assert.equal((await concurrencyLimits.resume("task/report")).paused, false);
    const reset = await concurrencyLimits.reset("task/report");
    assert.deepEqual(reset.perKey, { current: 5, base: 5, override: null, overriddenAt: null });
  });

  test("what Ratchet's per-queue limits cannot express is a 400 naming the field", async () => {
    for (const [body, field] of [
      [{ total: 3 }, "total"],
      [{ concurrencyKey: "tenant-1", perKey: 1 }, "concurrencyKey"],
      [{}, "perKey"],
      [{ perKey: -1 }, "perKey"],
    ] as const) {
      const response = await prod.request("POST", "/api/v1/concurrency-limits/task%2Freport/override", body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.body.error, new RegExp(field), JSON.stringify(body));
    }
    const reset = await prod.request("POST", "/api/v1/concurrency-limits/task%2Freport/reset", { concurrencyKey: "tenant-1" });
    assert.equal(reset.status, 400);
    assert.match(reset.body.error, /concurrencyKey/);
    assert.equal((await prod.request("POST", "/api/v1/concurrency-limits/task%2Freport/pause", { action: "stop" })).status, 400);
  });

  test("another environment's or project's key cannot see or change the owner's limits", async () => {
    const before = await t.database.db.sql`select * from ratchet.queues where name = 'task/report' order by id`;
    as(stranger.key);
    assert.deepEqual((await concurrencyLimits.list()).data.map((limit) => limit.name), ["task/mine"]);
    for (const intruder of [stranger, staging]) {
      as(intruder.key);
      // Staging has a task/report queue of its own; the stranger has none.
      if (intruder === stranger) {
        assert.equal(await status(concurrencyLimits.retrieve("task/report")), 404);
        assert.equal(await status(concurrencyLimits.override("task/report", { perKey: 1 })), 404);
        assert.equal(await status(concurrencyLimits.pause("task/report")), 404);
        assert.equal(await status(concurrencyLimits.reset("task/report")), 404);
      }
      assert.equal(await status(concurrencyLimits.retrieve("task/email")), 404);
      assert.equal(await status(concurrencyLimits.pause("task/email")), 404);
    }
    const after = await t.database.db.sql`select * from ratchet.queues where name = 'task/report' order by id`;
    assert.deepEqual(after, before);
  });
});
