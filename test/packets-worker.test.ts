// Ratchet's own worker and SDK with packets: a task receives an offloaded payload and returns an
// output large enough to be offloaded itself; the official SDK reads both back.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { configure, runs, streams, tasks } from "@trigger.dev/sdk";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

describe("the worker with offloaded payloads and outputs, and streams", () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await createTestApp({ sweeper: true });
    const key = await t.key("dev");
    const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: url, accessToken: key });
    worker = startWorker(join(projectRoot, "test/fixtures/realtime-project"), { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  test("a 1 MB payload reaches the task decoded and its 1 MB output is offloaded and read back", async () => {
    const text = "abc".repeat(350_000);
    const handle = await tasks.trigger("big-echo", { text, when: new Date() });
    const run = await runs.poll(handle.id, { pollIntervalMs: 50 });
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.equal(run.output.length, text.length);
    assert.equal(run.output.whenIsDate, true);
    assert.equal(run.output.echoed, text.toUpperCase());
    const [row] = await t.database.db.sql<{ outputType: string; packets: number }[]>`
      select r.output_type as "outputType", (select count(*)::int from ratchet.packets p where p.run_id = r.id) as packets
      from ratchet.runs r order by r.id desc limit 1`;
    assert.deepEqual(row, { outputType: "application/store", packets: 2 });
  });

  test("an AI-style task pipes 10,000 small chunks; a reader gets them complete and in order", async () => {
    const handle = await tasks.trigger("ai-stream", { tokens: 10_000 });
    const chunks: Array<{ i: number }> = [];
    for await (const chunk of await streams.read<{ i: number }>(handle.id, "answer", { timeoutInSeconds: 30 })) chunks.push(chunk);
    assert.equal(chunks.length, 10_000, worker.output());
    assert.equal(chunks.findIndex((chunk, index) => chunk.i !== index), -1);
    const run = await runs.poll(handle.id, { pollIntervalMs: 50 });
    assert.equal(run.status, "COMPLETED");
    assert.deepEqual(run.output, { streamed: 10_000 });
  });
});
