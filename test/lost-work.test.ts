// Work that must not be lost when the API is unreachable for a while or a worker dies: a real
// listening server, a real TCP proxy in front of it, and the real worker as a child process.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApiOk } from "./helpers/http-api.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const project = join(projectRoot, "test/fixtures/lost-work-project");

describe("lost work", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let proxy: TcpProxy;
  let worker: Worker;
  let receiver: Server;
  let receiverUrl: string;
  const calls = new Map<string, number>();
  const held: ServerResponse[] = [];
  let onHold: (() => void) | null = null;

  const api = httpApiOk(() => url, () => key);
  const trigger = async (task: string, payload: unknown) => (await api("POST", `/api/v1/tasks/${task}/trigger`, { payload })).id as string;
  const until = async (id: string, done: (run: { status: string; isCompleted: boolean }) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${id}`);
      if (done(run)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is ${run.status} after ${timeoutMs} ms:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const nextHold = () => new Promise<void>((resolve) => (onHold = resolve));
  const releaseHolds = () => {
    for (const response of held.splice(0)) response.writeHead(200).end();
  };
  const startTheWorker = async () => {
    worker = startWorker(project, { RATCHET_API_URL: proxy.url, RATCHET_SECRET_KEY: key }, "worker");
    await worker.waitFor(/tasks registered as version/);
  };

  before(async () => {
    receiver = createServer((request: IncomingMessage, response: ServerResponse) => {
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
    receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    // The default 60 s lease: a run that lost its completion would wait it out, which the tests' short
    // deadlines would notice.
    t = await createTestApp({ sweeper: true, settings: { sweepIntervalMs: 200 } });
    key = await t.key("prod");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(url).port) });
    await startTheWorker();
  });
  after(async () => {
    releaseHolds();
    await worker.stop();
    await proxy.close();
    await t.close();
    receiver.closeAllConnections();
    receiver.close();
  });

  test("a run that finishes while the API is unreachable for several seconds completes once, on its only attempt", async () => {
    const holding = nextHold();
    const id = await trigger("finishes-during-outage", { receiver: receiverUrl });
    await holding;
    await proxy.refuse();
    releaseHolds();
    // The old worker gave up after about 1.75 s; the fifth try comes about 3.75 s after the first.
    await worker.waitFor(/could not deliver 1 completions \(try 5,/, 30_000);
    await proxy.restore();
    const run = await until(id, (run) => run.isCompleted, 20_000);
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.equal(run.output, "done once");
    assert.equal(run.attemptCount, 1);
    assert.equal(calls.get("effect"), 1, "the side effect happened once");
  });
});
