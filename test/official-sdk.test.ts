// The official @trigger.dev/sdk, unmodified, against a listening Ratchet: it validates every response
// with its own schemas, so this is the compatibility check.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { configure, runs, tasks, batch, queues, idempotencyKeys, schedules, deployments } from "@trigger.dev/sdk";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("the official @trigger.dev/sdk against Ratchet", () => {
  let t: TestApp;
  let worker: ApiClient;

  before(async () => {
    t = await createTestApp();
    const key = await t.key("dev");
    const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    worker = new ApiClient(t.app, key);
    await worker.register([{ id: "sdk-task" }, { id: "other-task" }]);
  });
  after(() => t.close());

  test("deployments.retrieveCurrent and deployments.list see the registered versions, newest first, page by page", async () => {
    await worker.ok("POST", "/engine/v1/worker/register", { version: "sdk-v2", tasks: [{ id: "sdk-task" }, { id: "other-task" }] });
    const current = await deployments.retrieveCurrent();
    assert.equal(current.version, "sdk-v2", "in dev the version registered last is current");
    assert.equal(current.status, "DEPLOYED");
    assert.match(current.shortCode, /^[a-z0-9]{8}$/);
    const seen: string[] = [];
    for await (const deployment of deployments.list({ limit: 1 })) seen.push(deployment.version);
    assert.equal(seen.length, 2);
    assert.equal(seen[0], "sdk-v2");
    const failed = await deployments.list({ status: "FAILED" });
    assert.deepEqual(failed.data, []);
  });

  test("triggers a run and retrieves it with its payload decoded", async () => {
    const handle = await tasks.trigger("sdk-task", { when: new Date("2026-01-02T03:04:05.000Z"), n: 1 }, { tags: ["sdk"] });
    assert.match(handle.id, /^run_/);
    assert.equal(typeof handle.publicAccessToken, "string");
    const run = await runs.retrieve(handle.id);
    assert.equal(run.status, "QUEUED");
    assert.equal(run.taskIdentifier, "sdk-task");
    assert.deepEqual(run.tags, ["sdk"]);
    // As Trigger.dev's API does, the payload is decoded from superjson and sent back as JSON.
    assert.equal(run.payload.when, "2026-01-02T03:04:05.000Z");
    assert.equal(run.payload.n, 1);
  });

  test("a worker completes a run and the SDK sees its output", async () => {
    const handle = await tasks.trigger("sdk-task", { n: 2 });
    const dequeued = (await worker.dequeue("w-sdk", 100)).find((run) => run.id === handle.id);
    assert.ok(dequeued);
    await worker.start("w-sdk", dequeued);
    await worker.complete("w-sdk", dequeued, { ok: true, output: { doubled: 4 } });
    const run = await runs.retrieve(handle.id);
    assert.equal(run.status, "COMPLETED");
    assert.equal(run.isSuccess, true);
    assert.deepEqual(run.output, { doubled: 4 });
    const polled = await runs.poll(handle.id, { pollIntervalMs: 10 });
    assert.equal(polled.status, "COMPLETED");
  });

  test("batch-triggers through the two-phase streaming API", async () => {
    const result = await tasks.batchTrigger("sdk-task", [{ payload: { i: 0 } }, { payload: { i: 1 } }, { payload: { i: 2 } }]);
    assert.equal(result.runCount, 3);
    const retrieved = await batch.retrieve(result.batchId);
    assert.equal(retrieved.runCount, 3);
    assert.equal(retrieved.runs.length, 3);
    assert.equal(retrieved.status, "COMPLETED");
    const first = await runs.retrieve(retrieved.runs[0]!);
    assert.deepEqual(first.payload, { i: 0 });
    assert.equal(first.batchId, result.batchId);
  });

  test("lists runs with filters and pages through them", async () => {
    await tasks.trigger("other-task", { x: 1 }, { tags: ["list-me"] });
    await tasks.trigger("other-task", { x: 2 }, { tags: ["list-me"] });
    await tasks.trigger("other-task", { x: 3 }, { tags: ["list-me"] });
    const page = await runs.list({ taskIdentifier: "other-task", tag: "list-me", status: ["QUEUED"], limit: 2 });
    assert.equal(page.data.length, 2);
    assert.ok(page.hasNextPage());
    const seen: string[] = [];
    for await (const run of runs.list({ taskIdentifier: "other-task", limit: 2 })) seen.push(run.id);
    assert.equal(seen.length, 3);
    assert.equal(new Set(seen).size, 3);
  });

  test("cancels and replays runs", async () => {
    const handle = await tasks.trigger("sdk-task", { c: 1 });
    await runs.cancel(handle.id);
    const canceled = await runs.retrieve(handle.id);
    assert.equal(canceled.status, "CANCELED");
    const replay = await runs.replay(handle.id);
    assert.notEqual(replay.id, handle.id);
    const replayed = await runs.retrieve(replay.id);
    assert.deepEqual(replayed.payload, { c: 1 });
    assert.equal(replayed.status, "QUEUED");
  });

  test("reads queues and resets idempotency keys", async () => {
    const page = await queues.list();
    assert.ok(page.data.some((queue) => queue.name === "task/sdk-task"));
    const queue = await queues.retrieve({ type: "task", name: "sdk-task" });
    assert.equal(queue.name, "task/sdk-task");
    const paused = await queues.pause({ type: "task", name: "sdk-task" });
    assert.equal(paused.paused, true);
    await queues.resume({ type: "task", name: "sdk-task" });

    const key = await idempotencyKeys.create("order-42");
    const first = await tasks.trigger("sdk-task", {}, { idempotencyKey: key });
    const second = await tasks.trigger("sdk-task", {}, { idempotencyKey: key });
    assert.equal(second.id, first.id);
    await idempotencyKeys.reset("sdk-task", key);
    const third = await tasks.trigger("sdk-task", {}, { idempotencyKey: key });
    assert.notEqual(third.id, first.id);
  });

  test("creates a schedule with a window, and is refused one for a task that does not exist", async () => {
    const schedule = await schedules.create({ task: "sdk-task", cron: "0 * * * *", deduplicationKey: "sdk-window", window: "30m" });
    assert.equal(schedule.window, "30m");
    assert.ok(schedule.nextRun instanceof Date);
    assert.ok(schedule.nextRunEffectiveAt instanceof Date);
    const offset = schedule.nextRunEffectiveAt.getTime() - schedule.nextRun.getTime();
    assert.ok(offset >= 0 && offset < 30 * 60_000);
    const retrieved = await schedules.retrieve(schedule.id);
    assert.equal(retrieved.window, "30m");
    await assert.rejects(
      schedules.create({ task: "no-such-task", cron: "0 * * * *", deduplicationKey: "sdk-ghost" }),
      (error: { status?: number; message: string }) => error.status === 422 && /body\.task/.test(error.message),
    );
    await assert.rejects(
      schedules.create({ task: "sdk-task", cron: "0 0 30 2 *", deduplicationKey: "sdk-never" }),
      (error: { status?: number; message: string }) => error.status === 400 && /body\.cron/.test(error.message),
    );
    await schedules.del(schedule.id);
  });
});
