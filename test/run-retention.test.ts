// Retention over many runs (a million with RATCHET_RETENTION_SCALE=1; a fifth of that in the suite,
// whose per-file timeout the full million's setup alone comes close to): the purge removes exactly the finished runs past their
// environment's retention (with their events and attempts), never an unfinished run nor another
// environment's, in short batches, while another transaction keeps writing runs without waiting.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { purgeExpiredRuns } from "../server/engine/run-retention.ts";

const scale = Number(process.env.RATCHET_RETENTION_SCALE ?? "0.2");
const oldFinished = Math.round(600_000 * scale);
const recentFinished = Math.round(200_000 * scale);
const oldUnfinished = Math.round(100_000 * scale);
const otherEnvironment = Math.round(100_000 * scale);

describe("run retention", () => {
  let t: TestApp;
  let prod: string;
  let dev: string;

  before(async () => {
    t = await createTestApp({ sweeper: false });
    prod = (await new ApiClient(t.app, await t.key("prod")).ok("GET", "/api/v1/whoami")).environment.id;
    dev = (await new ApiClient(t.app, await t.key("dev")).ok("GET", "/api/v1/whoami")).environment.id;
    const sql = t.database.db.sql;
    await sql`update ratchet.environments set run_retention_days = 7 where id = ${prod}`;
    const insert = (environmentId: string, count: number, status: string, finishedDaysAgo: number | null, task: string) => sql`
      insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, created_at, updated_at, finished_at)
      select gen_random_uuid(), ${environmentId}, ${task}, ${"task/" + task}, ${status}, '{}'::json,
        now() - interval '30 days', now(),
        case when ${finishedDaysAgo}::int is null then null else now() - make_interval(days => ${finishedDaysAgo}::int, secs => n) end
      from generate_series(1, ${count}) as n`;
    await insert(prod, oldFinished, "COMPLETED", 10, "old");
    await insert(prod, recentFinished, "FAILED", 1, "recent");
    await insert(prod, oldUnfinished, "EXECUTING", null, "running");
    await insert(dev, otherEnvironment, "COMPLETED", 20, "elsewhere");
    await sql`select ratchet.events_ensure_partitions(current_date - 1, 3)`;
    // Some of the doomed runs and some kept ones carry attempts and events.
    for (const task of ["old", "recent"]) {
      await sql`
        with picked as (select id from ratchet.runs where environment_id = ${prod} and task_identifier = ${task} limit 1000),
        attempts as (
          insert into ratchet.attempts (run_id, number, status, worker_id, created_at, started_at)
          select id, 1, 'COMPLETED', 'w', now() - interval '10 days', now() - interval '10 days' from picked)
        insert into ratchet.events (environment_id, run_id, attempt_number, seq, time, kind, level, message)
        select ${prod}, id, 1, 1, now() - interval '1 hour', 'log', 'info', 'hello' from picked`;
    }
    await sql`analyze ratchet.runs`;
  });
  after(() => t.close());

  test("purges exactly the finished runs past retention, in bounded batches", async () => {
    const sql = t.database.db.sql;
    const batchSize = 5_000;
    const started = performance.now();
    let deleted = 0;
    let longest = 0;
    // Concurrent writes to the same table never wait long on the purge.
    for (;;) {
      const writer = (async () => {
        const t0 = performance.now();
        await sql`insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, created_at, updated_at)
          values (gen_random_uuid(), ${prod}, 'live', 'task/live', 'EXECUTING', '{}'::json, now(), now())`;
        return performance.now() - t0;
      })();
      const pass = await purgeExpiredRuns({ db: t.database.db, clock: { now: () => new Date() } }, {
        defaultDays: 0,
        batchSize,
        maxBatches: 20,
      });
      longest = Math.max(longest, await writer);
      deleted += pass.deleted;
      if (pass.batches < 20) break;
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`run retention: ${deleted} runs purged of ${oldFinished + recentFinished + oldUnfinished + otherEnvironment} in ${seconds.toFixed(1)} s (batches of ${batchSize}); slowest concurrent insert ${longest.toFixed(0)} ms`);
    assert.equal(deleted, oldFinished);
    const counts = await sql<{ task: string; count: number }[]>`
      select task_identifier as task, count(*)::int as count from ratchet.runs group by 1 order by 1`;
    const byTask = Object.fromEntries(counts.map((row) => [row.task, row.count]));
    assert.equal(byTask.old, undefined);
    assert.equal(byTask.recent, recentFinished);
    assert.equal(byTask.running, oldUnfinished);
    assert.equal(byTask.elsewhere, otherEnvironment);
    const [left] = await sql<{ attempts: number; events: number }[]>`
      select (select count(*)::int from ratchet.attempts) as attempts, (select count(*)::int from ratchet.events) as events`;
    assert.deepEqual(left, { attempts: 1000, events: 1000 });
    assert.ok(longest < 5_000, `a concurrent insert waited ${longest} ms`);
  });
});
