// Fairness: a tenant with a huge backlog cannot delay one with a few runs, and within an environment
// a queue with a deep backlog cannot starve the other queues.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

/** Bulk-loads queued runs straight into the tables, as 100,000 API calls would, only faster. */
async function loadBacklog(t: TestApp, environmentId: string, task: string, count: number): Promise<void> {
  await t.database.db.sql`
    with queue as (select id from ratchet.queues where environment_id = ${environmentId} and name = ${`task/${task}`}),
    inserted as (
      insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, queued_at, created_at, updated_at)
      select gen_random_uuid(), ${environmentId}, ${task}, ${`task/${task}`}, 'QUEUED', '{}'::json,
        now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
      from generate_series(1, ${count})
      returning id, queued_at)
    insert into ratchet.queue_entries (run_id, environment_id, queue_id, sort_key, available_at, version)
    select i.id, ${environmentId}, (select id from queue), i.queued_at, i.queued_at, '' from inserted i`;
  await t.database.db.sql`analyze ratchet.queue_entries`;
}

describe("fairness", () => {
  let t: TestApp;
  let a: ApiClient;
  let b: ApiClient;

  before(async () => {
    t = await createTestApp();
    a = new ApiClient(t.app, await t.key("prod"));
    b = new ApiClient(t.app, await t.key("staging"));
  });
  after(() => t.close());

  test("environment A's 100,000 queued runs do not delay environment B's 10", async () => {
    await a.register([{ id: "bulk" }]);
    await b.register([{ id: "bulk" }]);
    const environmentA = (await a.ok("GET", "/api/v1/whoami")).environment.id;
    await loadBacklog(t, environmentA, "bulk", 100_000);
    const triggered = [];
    for (let i = 0; i < 10; i += 1) triggered.push((await b.trigger("bulk", { i })).id);

    const first = await b.dequeue("worker-b", 10);
    assert.deepEqual(first.map((run) => run.id).sort(), [...triggered].sort(), "B's runs start in its first dequeue");
    const fromA = await a.dequeue("worker-a", 10);
    assert.equal(fromA.length, 10, "A's backlog is still served");
  });

  test("within an environment, a queue with a deep backlog does not starve another queue", async () => {
    await a.register([{ id: "deep" }, { id: "shallow" }]);
    const environmentA = (await a.ok("GET", "/api/v1/whoami")).environment.id;
    await loadBacklog(t, environmentA, "deep", 5_000);
    const shallow = [];
    for (let i = 0; i < 3; i += 1) shallow.push((await a.trigger("shallow", { i })).id);

    const seen = new Set<string>();
    for (let cycle = 0; cycle < 3 && shallow.some((id) => !seen.has(id)); cycle += 1) {
      for (const run of await a.dequeue("worker-a", 5)) seen.add(run.id);
    }
    assert.ok(shallow.every((id) => seen.has(id)), "the shallow queue's runs start within a few dequeue cycles");
  });
});
