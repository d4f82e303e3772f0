// Work that must not be lost when the API is unreachable for a while or a worker dies: a real
// listening server, a real TCP proxy in front of it, and the real worker as a child process.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { EngineSettings } from "../server/engine/settings.ts";
import { fromPublicId } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApiOk, type HttpApi } from "./helpers/http-api.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const project = join(projectRoot, "test/fixtures/lost-work-project");

interface Harness {
  url: string;
  key: string;
  proxy: TcpProxy;
  worker: Worker;
  receiverUrl: string;
  calls: Map<string, number>;
  t: TestApp;
  trigger(task: string, payload: unknown): Promise<string>;
  until(id: string, done: (run: { status: string; isCompleted: boolean }) => boolean, timeoutMs: number): ReturnType<HttpApi>;
  /** Resolves when a task's next `/hold` call arrives. */
  nextHold(): Promise<void>;
  releaseHolds(): void;
  startWorker(): Promise<Worker>;
  close(): Promise<void>;
}

/** A listening server, a TCP proxy in front of it, the receiver the tasks call, and a real worker. */
async function harness(settings: Partial<EngineSettings>): Promise<Harness> {
  const calls = new Map<string, number>();
  const held: ServerResponse[] = [];
  let onHold: (() => void) | null = null;
  const receiver: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = request.url!.slice(1);
    calls.set(path, (calls.get(path) ?? 0) + 1);
    if (path === "hold") {
      held.push(response);
      onHold?.();
      onHold = null;
      return;
    }
    response.writeHead(200).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const address = receiver.address();
  const t = await createTestApp({ sweeper: true, settings: { sweepIntervalMs: 200, ...settings } });
  const key = await t.key("prod");
  const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(url).port) });
  const api = httpApiOk(() => url, () => key);
  const h: Harness = {
    url,
    key,
    proxy,
    t,
    calls,
    worker: null as unknown as Worker,
    receiverUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`,
    async trigger(task, payload) {
      return (await api("POST", `/api/v1/tasks/${task}/trigger`, { payload })).id as string;
    },
    async until(id, done, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = await api("GET", `/api/v3/runs/${id}`);
        if (done(run)) return run;
        if (Date.now() > deadline) {
          const executions = await t.database.db.sql`select * from ratchet.executions`;
          throw new Error(`run ${id} is ${run.status} after ${timeoutMs} ms (${JSON.stringify(executions)}):\n${h.worker.output()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    nextHold: () => new Promise<void>((resolve) => (onHold = resolve)),
    releaseHolds() {
      for (const response of held.splice(0)) response.writeHead(200).end();
    },
    async startWorker() {
      h.worker = startWorker(project, { RATCHET_API_URL: proxy.url, RATCHET_SECRET_KEY: key }, "worker");
      await h.worker.waitFor(/tasks registered as version/);
      return h.worker;
    },
    async close() {
      h.releaseHolds();
      await h.worker.stop();
      await proxy.close();
      await t.close();
      receiver.closeAllConnections();
      receiver.close();
    },
  };
  await h.startWorker();
  return h;
}

describe("a finished run's result while the API is unreachable", () => {
  let h: Harness;
  // The default 60 s lease: a run that lost its completion would wait it out, which the short
  // deadlines below would notice. A grace as long as the lease: here the worker is alive behind a
  // proxy that refuses connections, which the server cannot tell from a dead worker.
  before(async () => (h = await harness({ workerLostGraceSeconds: 60 })));
  after(() => h.close());

  test("a run that finishes while the API is unreachable for several seconds completes once, on its only attempt", async () => {
    const holding = h.nextHold();
    const id = await h.trigger("finishes-during-outage", { receiver: h.receiverUrl });
    await holding;
    await h.proxy.refuse();
    h.releaseHolds();
    // The old worker gave up after about 1.75 s; the fifth try comes about 3.75 s after the first.
    await h.worker.waitFor(/could not deliver 1 completions \(try 5,/, 30_000);
    await h.proxy.restore();
    const run = await h.until(id, (run) => run.isCompleted, 20_000);
    assert.equal(run.status, "COMPLETED", h.worker.output());
    assert.equal(run.output, "done once");
    assert.equal(run.attemptCount, 1);
    assert.equal(h.calls.get("effect"), 1, "the side effect happened once");
  });
});

describe("a worker that dies mid-run", () => {
  let h: Harness;
  before(async () => (h = await harness({ workerLostGraceSeconds: 5 })));
  after(() => h.close());

  test("a worker whose connection drops and comes back keeps its runs", async () => {
    const holding = h.nextHold();
    const id = await h.trigger("finishes-during-outage", { receiver: h.receiverUrl });
    await holding;
    const runId = fromPublicId("run", id)!;
    const [before] = await h.t.database.db.sql<[{ heartbeatId: string }]>`
      select heartbeat_id as "heartbeatId" from ratchet.executions where run_id = ${runId}`;
    // Every connection through the proxy is cut, the heartbeat's with them; the worker reconnects.
    await h.proxy.refuse();
    await h.proxy.restore();
    for (;;) {
      const [now] = await h.t.database.db.sql<[{ heartbeatId: string | null; lostAt: Date | null }?]>`
        select heartbeat_id as "heartbeatId", connection_lost_at as "lostAt" from ratchet.executions where run_id = ${runId}`;
      assert.ok(now, `the attempt was ended:\n${h.worker.output()}`);
      if (now.heartbeatId !== before!.heartbeatId && now.lostAt === null) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    h.releaseHolds();
    const run = await h.until(id, (run) => run.isCompleted, 20_000);
    assert.equal(run.status, "COMPLETED", h.worker.output());
    assert.equal(run.attemptCount, 1);
  });

  test("a SIGKILLed worker's attempt is retried within seconds, not after its 60 s lease", async () => {
    const holding = h.nextHold();
    const id = await h.trigger("killed-mid-run", { receiver: h.receiverUrl });
    await holding;
    const killedAt = Date.now();
    await h.worker.kill();
    await h.startWorker();
    const run = await h.until(id, (run) => run.isCompleted, 45_000);
    const elapsed = Date.now() - killedAt;
    assert.equal(run.status, "COMPLETED", h.worker.output());
    assert.deepEqual(run.output, { attempt: 2 });
    // 5 s of grace, a new worker starting, the retry: seconds, where the lease alone takes 60 s.
    assert.ok(elapsed < 30_000, `the retry finished ${elapsed} ms after the kill`);
    const [attempt] = await h.t.database.db.sql<[{ error: { message: string } }]>`
      select error from ratchet.attempts where run_id = ${fromPublicId("run", id)!} and number = 1`;
    assert.match(attempt!.error.message, /connection closed/);
  });
});
