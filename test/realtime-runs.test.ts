// Run subscriptions through the official @trigger.dev/sdk, unmodified: runs.subscribeToRun,
// subscribeToRunsWithTag and subscribeToBatch over Ratchet's shape protocol server.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { auth, configure, runs, tasks } from "@trigger.dev/sdk";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("run subscriptions through the official SDK", () => {
  let t: TestApp;
  let worker: ApiClient;
  let address: string;

  before(async () => {
    t = await createTestApp();
    const key = await t.key("dev");
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    worker = new ApiClient(t.app, key);
    await worker.register([{ id: "watched" }]);
  });
  after(() => t.close());

  async function claim(runId: string) {
    const dequeued = (await worker.dequeue("w-rt", 100)).find((run) => run.id === runId);
    assert.ok(dequeued, `dequeued ${runId}`);
    return dequeued;
  }

  test("subscribeToRun sees every status change and metadata update and ends when the run ends", async () => {
    const handle = await tasks.trigger("watched", { n: 1 });
    const seen: Array<{ status: string; step?: unknown }> = [];
    const subscription = (async () => {
      for await (const run of runs.subscribeToRun(handle.id)) {
        seen.push({ status: run.status, step: run.metadata?.step });
        if (seen.length === 1) stepper.resolve();
      }
    })();
    const stepper = Promise.withResolvers<void>();
    await stepper.promise;
    const run = await claim(handle.id);
    await worker.start("w-rt", run);
    for (const step of [1, 2, 3]) await worker.ok("PUT", `/api/v1/runs/${handle.id}/metadata`, { metadata: { step } });
    await worker.complete("w-rt", run, { ok: true, output: { done: true } });
    await subscription;
    assert.deepEqual(seen, [
      { status: "QUEUED", step: undefined },
      { status: "DEQUEUED", step: undefined },
      { status: "EXECUTING", step: undefined },
      { status: "EXECUTING", step: 1 },
      { status: "EXECUTING", step: 2 },
      { status: "EXECUTING", step: 3 },
      { status: "COMPLETED", step: 3 },
    ]);
  });
});
