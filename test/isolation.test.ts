// A key of one environment can neither read, list, change nor complete anything of another
// environment or project — checked over every API and worker route the app registers. A route added
// without an entry here fails the test.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { apiKeysList } from "../server/storage/api-keys.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

interface Resources {
  run: string;
  batch: string;
  token: string;
  schedule: string;
  idempotencyKey: string;
  projectRef: string;
  apiKeyId: string;
}

type Call = { method: string; url: string; body?: unknown; contentType?: string };

/** How to call each route against environment A's resources, with a body that passes validation. */
function callFor(method: string, url: string, r: Resources): Call | "public" | null {
  const fill = (pattern: string) =>
    pattern
      .replace(":runId", r.run)
      .replace(":batchId", r.batch)
      .replace(":tokenId", r.token)
      .replace(":scheduleId", r.schedule)
      .replace(":keyId", r.apiKeyId)
      .replace(":key", r.idempotencyKey)
      .replace(":ref", r.projectRef)
      .replace(":env", "prod")
      .replace(":queue", "owned")
      .replace(":taskId", "owned")
      .replace(":position", "0")
      .replace(":attemptNumber", "1");
  const key = `${method} ${url}`;
  const lease = { workerId: "intruder", runs: [{ runId: r.run, attemptNumber: 1 }] };
  const bodies: Record<string, unknown> = {
    "POST /api/v1/runs/:runId/reschedule": { delay: "1h" },
    "POST /api/v1/runs/:runId/tags": { tags: ["intruder"] },
    "PUT /api/v1/runs/:runId/metadata": { metadata: { intruder: true } },
    "POST /api/v1/idempotencyKeys/:key/reset": { taskIdentifier: "owned" },
    "POST /api/v1/queues/:queue/pause": { type: "task", action: "pause" },
    "POST /api/v1/queues/:queue/concurrency/override": { type: "task", concurrencyLimit: 1 },
    "POST /api/v1/queues/:queue/concurrency/reset": { type: "task" },
    "POST /api/v1/waitpoints/tokens/:tokenId/complete": { data: { intruder: true } },
    "PUT /api/v1/schedules/:scheduleId": { task: "owned", cron: "0 * * * *" },
    "POST /engine/v1/runs/:runId/attempts/:attemptNumber/start": { workerId: "intruder" },
    "POST /engine/v1/runs/:runId/journal/:position": { workerId: "intruder", op: "get" },
    "POST /engine/v1/runs/:runId/suspend": { workerId: "intruder" },
    "POST /engine/v1/runs/:runId/events": {
      workerId: "intruder",
      attemptNumber: 1,
      events: [{ seq: 0, time: new Date().toISOString(), kind: "log", level: "info", message: "intruder" }],
    },
    "POST /engine/v1/heartbeat": lease,
    "POST /engine/v1/complete": { workerId: "intruder", completions: [{ runId: r.run, attemptNumber: 1, ok: true, output: "stolen" }] },
    "POST /engine/v1/release": lease,
    // Management routes take a personal access token; test/access-tokens.test.ts checks them user by user.
    "POST /api/v1/projects/:ref/environments/:env/keys": { name: "intruder" },
  };
  if (url === "/api/v1/timezones" || url.includes("/callback/")) return "public";
  // Routes that act in the caller's own environment only (create, list, dequeue, register).
  const own = new Set([
    "POST /api/v1/tasks/:taskId/trigger",
    "POST /api/v2/tasks/batch",
    "POST /api/v3/batches",
    "POST /api/v1/waitpoints/tokens",
    "POST /api/v1/schedules",
    "POST /engine/v1/worker/register",
    "POST /engine/v1/dequeue",
    "GET /api/v1/runs",
    "GET /api/v1/queues",
    "GET /api/v1/schedules",
    "GET /api/v1/waitpoints/tokens",
    "GET /api/v1/whoami",
    "GET /api/v1/me",
    "GET /api/v1/projects",
  ]);
  if (own.has(key)) return null;
  if (key === "POST /api/v3/batches/:batchId/items") {
    return { method, url: fill(url), body: `${JSON.stringify({ index: 0, task: "owned", payload: {} })}\n`, contentType: "application/x-ndjson" };
  }
  if (method === "GET" || method === "DELETE" || key in bodies || /\/(cancel|replay|activate|deactivate)$/.test(url)) {
    return { method, url: fill(url), body: bodies[key] };
  }
  throw new Error(`no isolation check for ${key}: add it to test/isolation.test.ts`);
}

describe("tenant isolation", () => {
  let t: TestApp;
  let owner: ApiClient;
  let others: Array<[string, ApiClient]>;
  let resources: Resources;

  before(async () => {
    t = await createTestApp();
    owner = new ApiClient(t.app, await t.key("prod"));
    const sameProject = new ApiClient(t.app, await t.key("staging"));
    // A second organization and project, with a key of its own.
    const sql = t.database.db.sql;
    const [organization] = await sql<{ id: string }[]>`insert into ratchet.organizations (slug, name) values ('other', 'Other') returning id`;
    const [project] = await sql<{ id: string }[]>`
      insert into ratchet.projects (organization_id, ref, slug, name) values (${organization!.id}, 'proj_otherotherotherother', 'other', 'Other') returning id`;
    await sql`insert into ratchet.environments (project_id, type, slug) values (${project!.id}, 'prod', 'prod')`;
    const otherProject = new ApiClient(t.app, (await issueSecretKey(sql, { environment: "prod", projectRef: "proj_otherotherotherother" })).key);
    others = [["another environment of the project", sameProject], ["another project", otherProject]];

    await owner.register([{ id: "owned" }]);
    const run = await owner.trigger("owned", { secret: "owner's payload" }, { idempotencyKey: "owned-key", tags: ["mine"], metadata: { owner: true } });
    const batch = await owner.ok("POST", "/api/v2/tasks/batch", { items: [{ task: "owned", payload: {} }] });
    const token = await owner.ok("POST", "/api/v1/waitpoints/tokens", {});
    const schedule = await owner.ok("POST", "/api/v1/schedules", { task: "owned", cron: "0 * * * *", deduplicationKey: "owned" });
    const [ownerKey] = await apiKeysList(sql, t.project.id);
    resources = { run: run.id, batch: batch.id, token: token.id, schedule: schedule.id, idempotencyKey: "owned-key", projectRef: t.project.ref, apiKeyId: ownerKey!.publicId };
    // The run is executing under the owner's worker, so worker routes have something to steal.
    const [claimed] = await owner.dequeue("owner-worker", 1);
    assert.equal(claimed?.id, run.id);
    await owner.start("owner-worker", claimed!);
  });
  after(() => t.close());

  test("no route lets another environment's key touch the owner's resources", async () => {
    const routes = t.app.ratchetRoutes.filter((route) => /^\/(api|engine)\//.test(route.url) && route.method !== "HEAD");
    assert.ok(routes.length > 40, `all routes were seen (${routes.length})`);
    let checked = 0;
    for (const [who, intruder] of others) {
      for (const route of routes) {
        const call = callFor(route.method, route.url, resources);
        if (call === null || call === "public") continue;
        const response = await t.app.inject({
          method: call.method as "GET",
          url: call.url,
          headers: {
            authorization: `Bearer ${intruder.key}`,
            ...(call.body === undefined ? {} : { "content-type": call.contentType ?? "application/json" }),
          },
          payload: call.body === undefined ? undefined : typeof call.body === "string" ? call.body : JSON.stringify(call.body),
        });
        const label = `${who}: ${call.method} ${route.url} → ${response.statusCode} ${response.body.slice(0, 200)}`;
        if (route.url === "/engine/v1/heartbeat") {
          assert.deepEqual(response.json().cancel, [], label);
          assert.deepEqual(response.json().lost, [resources.run], label);
        } else if (route.url === "/engine/v1/complete") {
          assert.equal(response.json().results[0].accepted, false, label);
        } else if (route.url === "/engine/v1/release") {
          assert.equal(response.json().released, 0, label);
        } else {
          assert.ok(response.statusCode >= 400 && response.statusCode < 500, label);
          assert.ok(!response.body.includes("owner's payload"), label);
        }
        checked += 1;
      }
    }
    assert.ok(checked > 50, `${checked} calls checked`);

    // The owner's things are as they were.
    const run = await owner.retrieve(resources.run);
    assert.equal(run.status, "EXECUTING");
    assert.deepEqual(run.tags, ["mine"]);
    assert.deepEqual(run.metadata, { owner: true });
    assert.equal((await owner.ok("GET", `/api/v1/waitpoints/tokens/${resources.token}`)).status, "WAITING");
    assert.equal((await owner.ok("GET", `/api/v1/schedules/${resources.schedule}`)).active, true);
    const queue = await owner.ok("GET", "/api/v1/queues/owned?type=task");
    assert.equal(queue.paused, false);
    assert.equal(queue.concurrency.override, null);
    const { events } = await owner.ok("GET", `/api/v1/runs/${resources.run}/events`);
    assert.deepEqual(events, []);
  });

  test("lists and dequeues of another environment never include the owner's things", async () => {
    for (const [who, intruder] of others) {
      const runs = await intruder.ok("GET", "/api/v1/runs");
      assert.ok(!JSON.stringify(runs).includes(resources.run), who);
      const tokens = await intruder.ok("GET", "/api/v1/waitpoints/tokens");
      assert.ok(!JSON.stringify(tokens).includes(resources.token), who);
      const schedules = await intruder.ok("GET", "/api/v1/schedules");
      assert.ok(!JSON.stringify(schedules).includes(resources.schedule), who);
      const queues = await intruder.ok("GET", "/api/v1/queues");
      assert.ok(!JSON.stringify(queues).includes("task/owned"), who);
      await intruder.register([{ id: "owned" }]);
      assert.deepEqual(await intruder.dequeue("intruder", 100), [], who);
      const reused = await intruder.trigger("owned", {}, { idempotencyKey: "owned-key" });
      assert.notEqual(reused.id, resources.run, `${who}: idempotency keys are per environment`);
    }
  });

  test("filters are parameters: SQL in them is harmless", async () => {
    const hostile = ["' or 1=1 --", "x'); drop table ratchet.runs; --", "\\\\'", "%", "_"];
    for (const value of hostile) {
      for (const filter of ["filter[taskIdentifier]", "filter[tag]", "filter[queue]", "filter[version]"]) {
        const response = await owner.request("GET", `/api/v1/runs?${filter}=${encodeURIComponent(value)}`);
        assert.equal(response.status, 200, `${filter}=${value}`);
        assert.deepEqual(response.body.data, [], `${filter}=${value}`);
      }
    }
    assert.equal((await owner.retrieve(resources.run)).status, "EXECUTING", "the runs table is still there");
  });
});
