// Realtime streams through the official @trigger.dev/sdk: streams.pipe and streams.append write (with
// the SDK's own stream manager, as its task runtime sets it up), streams.read and runs.fetchStream
// read as server-sent events, resumable; a run subscription lists the run's streams.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { apiClientManager, realtimeStreams } from "@trigger.dev/core/v3";
import { StandardRealtimeStreamsManager } from "@trigger.dev/core/v3/workers";
import { auth, configure, runs, streams, tasks } from "@trigger.dev/sdk";
import { maintainStreamPartitions } from "../server/engine/stream-partitions.ts";
import { fromPublicId } from "../server/ids.ts";
import { streamChunksListPartitions } from "../server/storage/stream-chunks.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

describe("realtime streams through the official SDK", () => {
  let t: TestApp;
  let worker: ApiClient;
  let address: string;
  let runId: string;
  let runToken: string;

  before(async () => {
    t = await createTestApp();
    const key = await t.key("dev");
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    realtimeStreams.setGlobalManager(new StandardRealtimeStreamsManager(apiClientManager.clientOrThrow(), address));
    worker = new ApiClient(t.app, key);
    await worker.register([{ id: "ai-task" }]);
    const handle = await tasks.trigger("ai-task", { prompt: "count" });
    runId = handle.id;
    runToken = handle.publicAccessToken;
    const [run] = await worker.dequeue("w-streams", 1);
    await worker.start("w-streams", run!);
  });
  after(() => t.close());

  test("10,000 small chunks piped by the writer arrive complete and in order while it writes", async () => {
    async function* tokens() {
      for (let i = 0; i < 10_000; i += 1) yield { i, token: `t${i} ` };
    }
    const reading = streams.read<{ i: number; token: string }>(runId, "ai").then(collect);
    const { waitUntilComplete } = streams.pipe("ai", tokens(), { target: runId });
    await waitUntilComplete();
    const chunks = await reading;
    assert.equal(chunks.length, 10_000);
    const wrong = chunks.findIndex((chunk, index) => chunk.i !== index);
    assert.equal(wrong, -1, `chunk ${wrong}: ${JSON.stringify(chunks.slice(Math.max(0, wrong - 2), wrong + 3))}`);
    assert.ok(chunks.every((chunk, index) => chunk.i === index), "in order, none missing or repeated");
    // Read again after the fact, through runs.fetchStream, and resumed near the end.
    assert.equal((await collect(await runs.fetchStream<{ i: number }>(runId, "ai"))).length, 10_000);
    const tail = await collect(await streams.read<{ i: number }>(runId, "ai", { startIndex: 9_995 }));
    assert.deepEqual(tail.map((chunk) => chunk.i), [9_995, 9_996, 9_997, 9_998, 9_999]);
  });

  test("appended chunks are read by a public token of the run, and by no other", async () => {
    await streams.append("log", "first line", { target: runId });
    await streams.append("log", "second line", { target: runId });
    const reader = await auth.withAuth({ accessToken: runToken, baseURL: address }, async () => streams.read<string>(runId, "log", { timeoutInSeconds: 1 }));
    assert.deepEqual(await collect(reader), ["first line", "second line"]);
    const other = await tasks.trigger("ai-task", {});
    const denied = await fetch(`${address}/realtime/v1/streams/${runId}/log`, { headers: { authorization: `Bearer ${other.publicAccessToken}` } });
    assert.equal(denied.status, 404);
    // A token cannot write.
    const write = await fetch(`${address}/realtime/v1/streams/${runId}/self/log/append`, { method: "POST", headers: { authorization: `Bearer ${runToken}` }, body: "x" });
    assert.equal(write.status, 401);
  });

  test("the run's subscription lists its streams, and readers end when the run ends", async () => {
    const subscription = runs.subscribeToRun(runId);
    for await (const run of subscription) {
      assert.deepEqual([...run.realtimeStreams].sort(), ["ai", "log"]);
      break;
    }
    const open = streams.read<string>(runId, "log", { startIndex: 2, timeoutInSeconds: 30 }).then(collect);
    await worker.complete("w-streams", { id: runId, attemptNumber: 1 }, { ok: true, output: "done" });
    assert.deepEqual(await open, []);
  });

  test("chunks live in day partitions: a missing day is made on write, expired days are dropped, recent streams still read", async () => {
    const handle = await tasks.trigger("ai-task", {});
    const [run] = await worker.dequeue("w-partitions", 1);
    await worker.start("w-partitions", run!);
    const sql = t.database.db.sql;
    const day = (date: Date) => `stream_chunks_${date.toISOString().slice(0, 10).replaceAll("-", "")}`;
    // A stream that started 40 days ago: its day has no partition, so the write makes it.
    const old = new Date(Date.now() - 40 * 86_400_000);
    await sql`insert into ratchet.run_streams (run_id, environment_id, stream_key, created_at)
      select id, environment_id, 'old', ${old} from ratchet.runs where id = ${fromPublicId("run", handle.id)}`;
    assert.ok(!(await streamChunksListPartitions(sql)).includes(day(old)));
    await streams.append("old", "ancient line", { target: handle.id });
    await streams.append("recent", "recent line", { target: handle.id });
    assert.ok((await streamChunksListPartitions(sql)).includes(day(old)), "made on write");
    assert.deepEqual(await collect(await streams.read<string>(handle.id, "old", { timeoutInSeconds: 1 })), ["ancient line"]);

    // Two replicas' passes at once: one does the work, neither fails.
    const deps = { db: t.database.db, clock: { now: () => new Date() } };
    const passes = await Promise.all([maintainStreamPartitions(deps, 30), maintainStreamPartitions(deps, 30)]);
    assert.equal(passes.reduce((sum, pass) => sum + pass.dropped, 0), 1, JSON.stringify(passes));
    const partitions = await streamChunksListPartitions(sql);
    assert.ok(!partitions.includes(day(old)), "the expired day is dropped");
    for (let ahead = 0; ahead <= 7; ahead += 1) assert.ok(partitions.includes(day(new Date(Date.now() + ahead * 86_400_000))), `day +${ahead} exists`);
    assert.equal((await maintainStreamPartitions(deps, 30)).dropped, 0, "a second pass has nothing to do");

    // Reads still work: the recent stream whole, the expired one empty, older streams of this suite too.
    assert.deepEqual(await collect(await streams.read<string>(handle.id, "recent", { timeoutInSeconds: 1 })), ["recent line"]);
    assert.deepEqual(await collect(await streams.read<string>(handle.id, "old", { timeoutInSeconds: 1 })), []);
    assert.equal((await collect(await runs.fetchStream<{ i: number }>(runId, "ai"))).length, 10_000);
  });
});
