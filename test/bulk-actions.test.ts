// Bulk actions through the official SDK's runs.bulk.*: cancel 10,000 runs matching a filter in
// chunks with progress, replay a list of runs, abort, list, and the refusals.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { configure, runs } from "@trigger.dev/sdk";
import { BulkActionProcessor, processBulkActionChunk } from "../server/engine/bulk-actions.ts";
import { fromPublicId, uuidv7 } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("bulk actions", () => {
  let t: TestApp;
  let owner: ApiClient;
  let other: ApiClient;
  const chunkSize = 500;

  /** `count` more QUEUED runs of `task`, copies of one triggered run, ids a millisecond apart in the past. */
  async function queuedRuns(client: ApiClient, task: string, count: number): Promise<void> {
    const template = await client.trigger(task, { copy: true });
    const templateId = fromPublicId("run", template.id)!;
    const base = Date.now() - 60_000 - count;
    const ids = Array.from({ length: count - 1 }, (_, i) => uuidv7(new Date(base + i)));
    const sql = t.database.db.sql;
    await sql`
      insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, payload_type, tags, created_at, updated_at, queued_at)
      select new.id, r.environment_id, r.task_identifier, r.queue_name, r.status, r.payload, r.payload_type, r.tags, r.created_at, r.updated_at, r.queued_at
      from ratchet.runs r, unnest(${ids}::uuid[]) as new(id) where r.id = ${templateId}`;
    await sql`
      insert into ratchet.queue_entries (run_id, environment_id, queue_id, concurrency_key, sort_key, available_at, version)
      select new.id, e.environment_id, e.queue_id, e.concurrency_key, e.sort_key, e.available_at, e.version
      from ratchet.queue_entries e, unnest(${ids}::uuid[]) as new(id) where e.run_id = ${templateId}`;
  }

  async function drain(): Promise<number> {
    let chunks = 0;
    while ((await processBulkActionChunk(t.app.ratchet.engine, chunkSize)) > 0) chunks += 1;
    return chunks;
  }

  before(async () => {
    t = await createTestApp();
    const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    owner = new ApiClient(t.app, await t.key("prod"));
    other = new ApiClient(t.app, await t.key("staging"));
    configure({ baseURL: address, accessToken: owner.key });
    for (const client of [owner, other]) await client.register([{ id: "bulk-task" }, { id: "keep-task" }, { id: "replay-me" }]);
  });
  after(() => t.close());

  test("the official SDK's runs.bulk.cancel cancels 10,000 runs matching a filter, in chunks with progress", async () => {
    await queuedRuns(owner, "bulk-task", 10_000);
    await queuedRuns(owner, "keep-task", 5);
    await queuedRuns(other, "bulk-task", 5);
    const created = await runs.bulk.cancel({ filter: { taskIdentifier: "bulk-task", status: ["QUEUED"] }, name: "clean up" });
    const pending = await runs.bulk.retrieve(created.id);
    assert.equal(pending.status, "PENDING");
    assert.deepEqual(pending.counts, { total: 10_000, success: 0, failure: 0 });
    assert.equal(pending.name, "clean up");

    // One chunk: progress shows, the rest still queued.
    assert.equal(await processBulkActionChunk(t.app.ratchet.engine, chunkSize), chunkSize);
    const partway = await runs.bulk.retrieve(created.id);
    assert.equal(partway.status, "PENDING");
    assert.equal(partway.counts.success, chunkSize);

    // Two servers at once (replicas): SKIP LOCKED gives each chunk to one of them, never both.
    const [first, second] = await Promise.all([drain(), drain()]);
    assert.ok(first + second >= 10_000 / chunkSize - 1, `${first} + ${second} chunks`);
    const done = await runs.bulk.retrieve(created.id);
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.counts, { total: 10_000, success: 10_000, failure: 0 });
    assert.ok(done.completedAt instanceof Date);

    const sql = t.database.db.sql;
    const counts = await sql<{ environment: string; task: string; status: string; n: number }[]>`
      select e.slug as environment, r.task_identifier as task, r.status, count(*)::int as n
      from ratchet.runs r join ratchet.environments e on e.id = r.environment_id group by 1, 2, 3 order by 1, 2, 3`;
    assert.deepEqual(counts.map((row) => `${row.environment} ${row.task} ${row.status} ${row.n}`), [
      "prod bulk-task CANCELED 10000",
      "prod keep-task QUEUED 5",
      "staging bulk-task QUEUED 5",
    ]);
    const [entries] = await sql<{ n: number }[]>`
      select count(*)::int as n from ratchet.queue_entries q join ratchet.runs r on r.id = q.run_id where r.status = 'CANCELED'`;
    assert.equal(entries!.n, 0, "canceled runs left the queue");
  });

  test("a bulk cancel flags an executing run for its worker and ends a queued one, as a single cancel does", async () => {
    const dev = new ApiClient(t.app, await t.key("dev"));
    await dev.register([{ id: "keep-task" }]);
    const executing = await dev.trigger("keep-task", {});
    const [claimed] = await dev.dequeue("w-bulk", 1);
    assert.equal(claimed!.id, executing.id);
    await dev.start("w-bulk", claimed!);
    const queued = await dev.trigger("keep-task", {});
    const response = await dev.ok("POST", "/api/v1/bulk-actions", { action: "cancel", runIds: [executing.id, queued.id] });
    await drain();
    const done = await dev.ok("GET", `/api/v1/bulk-actions/${response.id}`);
    assert.deepEqual(done.counts, { total: 2, success: 2, failure: 0 });
    assert.equal((await dev.retrieve(queued.id)).status, "CANCELED");
    assert.equal((await dev.retrieve(executing.id)).status, "EXECUTING");
    const beat = await dev.ok("POST", "/engine/v1/heartbeat", { workerId: "w-bulk", runs: [{ runId: executing.id, attemptNumber: 1 }] });
    assert.deepEqual(beat.cancel, [executing.id], "the worker hears of the cancel");
  });

  test("runs.bulk.replay of a list of runs, processed by the background processor and polled", async () => {
    const ids = [await owner.trigger("keep-task", { n: 1 }), await owner.trigger("keep-task", { n: 2 })].map((run) => run.id);
    const processor = new BulkActionProcessor(t.app.ratchet.engine, { chunkSize: 1, intervalMs: 10 }, t.app.log as never);
    processor.start();
    try {
      const created = await runs.bulk.replay({ runIds: ids });
      const done = await runs.bulk.poll(created.id, { pollIntervalMs: 20 });
      assert.equal(done.status, "COMPLETED");
      assert.equal(done.type, "REPLAY");
      assert.deepEqual(done.counts, { total: 2, success: 2, failure: 0 });
    } finally {
      await processor.stop();
    }
    const replays = await t.database.db.sql<{ n: number }[]>`
      select count(*)::int as n from ratchet.runs where replayed_from_id = any (${ids.map((id) => fromPublicId("run", id)!)}::uuid[])`;
    assert.equal(replays[0]!.n, 2);
  });

  test("a replay by filter does not replay its own replays", async () => {
    await queuedRuns(owner, "replay-me", 3);
    const created = await runs.bulk.replay({ filter: { taskIdentifier: "replay-me" } });
    await drain();
    const done = await runs.bulk.retrieve(created.id);
    assert.deepEqual(done.counts, { total: 3, success: 3, failure: 0 });
    const [row] = await t.database.db.sql<{ n: number }[]>`select count(*)::int as n from ratchet.runs where task_identifier = 'replay-me'`;
    assert.equal(row!.n, 6);
  });

  test("abort stops an action before its next chunk; list pages newest first", async () => {
    await queuedRuns(owner, "keep-task", 3);
    const created = await runs.bulk.cancel({ filter: { taskIdentifier: "keep-task", status: ["QUEUED"] } });
    const aborted = await runs.bulk.abort(created.id);
    assert.equal(aborted.id, created.id);
    await drain();
    const after = await runs.bulk.retrieve(created.id);
    assert.equal(after.status, "ABORTED");
    assert.equal(after.counts.success, 0);
    const [queued] = await t.database.db.sql<{ n: number }[]>`select count(*)::int as n from ratchet.runs where task_identifier = 'keep-task' and status = 'QUEUED'`;
    assert.ok(queued!.n >= 3);

    const listed = [];
    for await (const action of runs.bulk.list({ limit: 2 })) listed.push(action);
    assert.ok(listed.length >= 4);
    assert.equal(listed[0]!.id, created.id);
    const again = await other.request("POST", `/api/v1/bulk-actions/${created.id}/abort`);
    assert.equal(again.status, 404, "another environment's key cannot see it");
  });

  test("bad requests are 400s naming the field", async () => {
    const both = await owner.request("POST", "/api/v1/bulk-actions", { action: "cancel", filter: { tag: "x" }, runIds: ["run_x"] });
    assert.equal(both.status, 400);
    assert.match(both.body.error, /exactly one of filter or runIds/);
    const empty = await owner.request("POST", "/api/v1/bulk-actions", { action: "cancel", filter: {} });
    assert.equal(empty.status, 400);
    assert.match(empty.body.error, /filter/);
    const badId = await owner.request("POST", "/api/v1/bulk-actions", { action: "replay", runIds: ["nope"] });
    assert.equal(badId.status, 400);
    assert.match(badId.body.error, /runIds\[0\]/);
    const region = await owner.request("POST", "/api/v1/bulk-actions", { action: "cancel", filter: { region: "eu" } });
    assert.equal(region.status, 400);
    assert.match(region.body.error, /filter\.region/);
    const unknown = await owner.request("GET", "/api/v1/bulk-actions/bulk_nope");
    assert.equal(unknown.status, 404);
  });
});
