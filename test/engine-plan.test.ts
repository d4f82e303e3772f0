// With a million queued runs, dequeue must go through its index, never a sequential scan. The plans
// are those Postgres actually chose inside ratchet.dequeue_runs, captured with auto_explain.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

const backlog = 1_000_000;

describe("dequeue plan with a deep backlog", () => {
  let t: TestApp;
  let api: ApiClient;
  let environmentId: string;

  before(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "deep" }, { id: "other" }]);
    environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    await t.database.db.sql`
      with queue as (select id from ratchet.queues where environment_id = ${environmentId} and name = 'task/deep'),
      inserted as (
        insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, queued_at, created_at, updated_at)
        select gen_random_uuid(), ${environmentId}, 'deep', 'task/deep', 'QUEUED', '{}'::json,
          now() - make_interval(secs => n), now() - make_interval(secs => n), now()
        from generate_series(1, ${backlog}) as n
        returning id, queued_at)
      insert into ratchet.queue_entries (run_id, environment_id, queue_id, sort_key, available_at, version)
      select i.id, ${environmentId}, (select id from queue), i.queued_at, i.queued_at, '' from inserted i`;
    await t.database.db.sql`vacuum analyze ratchet.queue_entries`;
    await t.database.db.sql`analyze ratchet.runs`;
  });
  after(() => t.close());

  test("every statement of dequeue_runs uses an index on the hot tables", async () => {
    const plans: string[] = [];
    const client = postgres(t.database.url, {
      max: 1,
      onnotice: (notice) => {
        if (typeof notice.message === "string" && notice.message.includes("Query Text")) plans.push(notice.message);
      },
    });
    try {
      await client.begin(async (tx) => {
        await tx`load 'auto_explain'`;
        await tx`set local auto_explain.log_min_duration = 0`;
        await tx`set local auto_explain.log_nested_statements = on`;
        await tx`set local client_min_messages = log`;
        const claimed = await tx`select * from ratchet.dequeue_runs(${environmentId}, 'plan-worker', 10, 60, now(), true, 15)`;
        assert.equal(claimed.length, 10);
      });
    } finally {
      await client.end();
    }
    const claimPlan = plans.find((plan) => plan.includes("candidates"));
    assert.ok(claimPlan, `auto_explain showed the claim statement (${plans.length} plans captured)`);
    assert.match(claimPlan, /queue_entries_dequeue_idx/, "the claim walks the dequeue index");
    for (const plan of plans) {
      assert.doesNotMatch(plan, /Seq Scan on (queue_entries|runs|executions)\b/, `no sequential scan in:\n${plan}`);
    }
  });
});
