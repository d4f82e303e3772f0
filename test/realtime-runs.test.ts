// Run subscriptions through the official @trigger.dev/sdk, unmodified: runs.subscribeToRun,
// subscribeToRunsWithTag and subscribeToBatch over Ratchet's shape protocol server.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { auth, configure, runs, tasks } from "@trigger.dev/sdk";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { ManualClock } from "../server/clock.ts";
import { deleteOldRunChanges } from "../server/engine/realtime-maintenance.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("run subscriptions through the official SDK", () => {
  let t: TestApp;
  let worker: ApiClient;
  let address: string;
  let key: string;

  before(async () => {
    t = await createTestApp();
    key = await t.key("dev");
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    worker = new ApiClient(t.app, key);
    await worker.register([{ id: "watched" }]);
  });
  after(() => t.close());

  // Runs dequeued along with the one asked for wait here for their turn.
  const claimed = new Map<string, { id: string; attemptNumber: number }>();
  async function claim(runId: string) {
    for (const run of await worker.dequeue("w-rt", 100)) claimed.set(run.id, run);
    const dequeued = claimed.get(runId);
    assert.ok(dequeued, `dequeued ${runId}`);
    return dequeued;
  }

  test("subscribeToRun sees every status change and metadata update and ends when the run ends", async () => {
    const handle = await tasks.trigger("watched", { n: 1 });
    const seen: Array<{ status: string; step?: unknown }> = [];
    const stepper = Promise.withResolvers<void>();
    const subscription = (async () => {
      for await (const run of runs.subscribeToRun(handle.id)) {
        seen.push({ status: run.status, step: run.metadata?.step });
        if (seen.length === 1) stepper.resolve();
      }
    })();
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

  test("subscribeToRunsWithTag sees new and changing runs with the tag, and none without it", async () => {
    const first = await tasks.trigger("watched", {}, { tags: ["cart-7"] });
    await tasks.trigger("watched", {}, { tags: ["cart-8"] });
    const seen: string[] = [];
    const abort = new AbortController();
    const ready = Promise.withResolvers<void>();
    const subscription = (async () => {
      for await (const run of runs.subscribeToRunsWithTag("cart-7", {}, { signal: abort.signal })) {
        seen.push(`${run.id}:${run.status}`);
        if (seen.length === 1) ready.resolve();
        if (run.status === "COMPLETED") break;
      }
    })().catch(() => {});
    let second: { id: string };
    try {
      await ready.promise;
      second = await tasks.trigger("watched", {}, { tags: ["cart-7"] });
      await tasks.trigger("watched", {}, { tags: ["cart-8"] });
      const run = await claim(first.id);
      await worker.start("w-rt", run);
      await worker.complete("w-rt", run, { ok: true, output: 1 });
      await subscription;
    } finally {
      abort.abort();
      await subscription;
    }
    // The second run was dequeued too (by the same worker call) but never started.
    assert.deepEqual(seen.filter((entry) => entry.startsWith(first.id)), [`${first.id}:QUEUED`, `${first.id}:DEQUEUED`, `${first.id}:EXECUTING`, `${first.id}:COMPLETED`]);
    assert.deepEqual(seen.filter((entry) => entry.startsWith(second.id)), [`${second.id}:QUEUED`, `${second.id}:DEQUEUED`]);
    assert.equal(seen.length, 6, "no run without the tag");
  });

  test("subscribeToBatch sees the batch's runs finish", { timeout: 8000 }, async () => {
    const batch = await tasks.batchTrigger("watched", [{ payload: { i: 0 } }, { payload: { i: 1 } }]);
    const finished = new Set<string>();
    const abort = new AbortController();
    const ready = Promise.withResolvers<void>();
    const ids = new Set<string>();
    const subscription = (async () => {
      for await (const run of runs.subscribeToBatch(batch.batchId)) {
        ids.add(run.id);
        if (ids.size === 2) ready.resolve();
        if (run.status === "COMPLETED") finished.add(run.id);
        if (finished.size === 2) break;
      }
    })().catch(() => {});
    try {
      await ready.promise;
      for (const id of ids) {
        const run = await claim(id);
        await worker.start("w-rt", run);
        await worker.complete("w-rt", run, { ok: true, output: id });
      }
      await subscription;
    } finally {
      abort.abort();
      await subscription;
    }
    assert.equal(finished.size, 2);
  });

  test("a public token subscribes to its run only", async () => {
    const mine = await tasks.trigger("watched", {});
    const other = await tasks.trigger("watched", {});
    const response = await fetch(`${address}/realtime/v1/runs/${mine.id}?offset=-1`, { headers: { authorization: `Bearer ${mine.publicAccessToken}` } });
    assert.equal(response.status, 200);
    const messages = (await response.json()) as Array<{ value?: { friendlyId: string } }>;
    assert.equal(messages[0]?.value?.friendlyId, mine.id);
    assert.equal((await fetch(`${address}/realtime/v1/runs/${other.id}?offset=-1`, { headers: { authorization: `Bearer ${mine.publicAccessToken}` } })).status, 404);
    const tagToken = await auth.createPublicToken({ scopes: { read: { tags: ["cart-7"] } } });
    assert.equal((await fetch(`${address}/realtime/v1/runs?tags=cart-7&offset=-1`, { headers: { authorization: `Bearer ${tagToken}` } })).status, 200);
    assert.equal((await fetch(`${address}/realtime/v1/runs?tags=cart-7,cart-8&offset=-1`, { headers: { authorization: `Bearer ${tagToken}` } })).status, 403);
    assert.equal((await fetch(`${address}/realtime/v1/runs/${mine.id}?offset=garbage&handle=x`, { headers: { authorization: `Bearer ${key}` } })).status, 400);
  });

  test("a subscription served by a second replica sees a run executed through the first", async () => {
    const replica = await buildApp({ config: t.config, db: t.database.db, logger: pino({ level: "silent" }), sweeper: false });
    await replica.ready();
    const replicaAddress = await replica.listen({ port: 0, host: "127.0.0.1" });
    try {
      const handle = await tasks.trigger("watched", {});
      const statuses: string[] = [];
      const ready = Promise.withResolvers<void>();
      const subscription = auth.withAuth({ accessToken: key, baseURL: replicaAddress }, async () => {
        for await (const run of runs.subscribeToRun(handle.id)) {
          statuses.push(run.status);
          if (statuses.length === 1) ready.resolve();
        }
      });
      await ready.promise;
      const run = await claim(handle.id);
      await worker.start("w-rt", run);
      await worker.complete("w-rt", run, { ok: true, output: 2 });
      await subscription;
      assert.deepEqual(statuses, ["QUEUED", "DEQUEUED", "EXECUTING", "COMPLETED"]);
    } finally {
      await replica.close();
    }
  });

  test("a server restart mid-subscription loses no change", async () => {
    const server = await buildApp({ config: t.config, db: t.database.db, logger: pino({ level: "silent" }), sweeper: false });
    await server.ready();
    const serverAddress = await server.listen({ port: 0, host: "127.0.0.1" });
    const port = Number(new URL(serverAddress).port);
    let restarted: Awaited<ReturnType<typeof buildApp>> | null = null;
    try {
      const handle = await tasks.trigger("watched", {});
      const seen: Array<{ status: string; step?: unknown }> = [];
      const ready = Promise.withResolvers<void>();
      const subscription = auth.withAuth({ accessToken: key, baseURL: serverAddress }, async () => {
        for await (const run of runs.subscribeToRun(handle.id)) {
          seen.push({ status: run.status, step: run.metadata?.step });
          if (seen.length === 1) ready.resolve();
        }
      });
      await ready.promise;
      await server.close();
      // While no server listens, the run moves on: the subscriber must get all of it afterwards.
      const run = await claim(handle.id);
      await worker.start("w-rt", run);
      await worker.ok("PUT", `/api/v1/runs/${handle.id}/metadata`, { metadata: { step: 1 } });
      await worker.ok("PUT", `/api/v1/runs/${handle.id}/metadata`, { metadata: { step: 2 } });
      restarted = await buildApp({ config: t.config, db: t.database.db, logger: pino({ level: "silent" }), sweeper: false });
      await restarted.ready();
      await restarted.listen({ port, host: "127.0.0.1" });
      await worker.complete("w-rt", run, { ok: true, output: 3 });
      await subscription;
      assert.deepEqual(seen, [
        { status: "QUEUED", step: undefined },
        { status: "DEQUEUED", step: undefined },
        { status: "EXECUTING", step: undefined },
        { status: "EXECUTING", step: 1 },
        { status: "EXECUTING", step: 2 },
        { status: "COMPLETED", step: 2 },
      ]);
    } finally {
      await restarted?.close();
    }
  });

  test("an offset older than the feed's retention, or of another shape, must refetch; old feed entries are deleted", async () => {
    const handle = await tasks.trigger("watched", {});
    const first = await fetch(`${address}/realtime/v1/runs/${handle.id}?offset=-1`, { headers: { authorization: `Bearer ${key}` } });
    const offset = first.headers.get("electric-offset")!;
    const handleHeader = first.headers.get("electric-handle")!;
    const stale = offset.replace(/^\d+_/, "1_");
    const refetch = await fetch(`${address}/realtime/v1/runs/${handle.id}?offset=${encodeURIComponent(stale)}&handle=${handleHeader}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(refetch.status, 409);
    assert.deepEqual(await refetch.json(), [{ headers: { control: "must-refetch" } }]);
    const otherShape = await fetch(`${address}/realtime/v1/runs/${handle.id}?offset=${encodeURIComponent(offset)}&handle=run-other`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(otherShape.status, 409);
    const fresh = await fetch(`${address}/realtime/v1/runs/${handle.id}?offset=${encodeURIComponent(offset)}&handle=${handleHeader}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(fresh.status, 200);

    const sql = t.database.db.sql;
    const count = async () => (await sql<{ n: number }[]>`select count(*)::int as n from ratchet.run_changes`)[0]!.n;
    const before = await count();
    assert.ok(before > 0);
    assert.equal(await deleteOldRunChanges({ db: t.database.db, clock: new ManualClock(new Date(Date.now() + 3_600_000)) }), 0);
    assert.equal(await deleteOldRunChanges({ db: t.database.db, clock: new ManualClock(new Date(Date.now() + 25 * 3_600_000)) }), before);
  });
});
