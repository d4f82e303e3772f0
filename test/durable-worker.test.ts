// Durable execution end to end: the real worker runs tasks that wait, call children, keep steps,
// and survive the worker being killed mid-run.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fromPublicId } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApi, httpApiOk } from "./helpers/http-api.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const project = join(projectRoot, "test/fixtures/durable-project");

describe("durable execution with a real worker", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker;
  let receiver: Server;
  let receiverUrl: string;
  const calls = new Map<string, number>();
  let onPause: (() => void) | null = null;

  const api = httpApiOk(() => url, () => key);
  const trigger = async (task: string, payload: unknown) => (await api("POST", `/api/v1/tasks/${task}/trigger`, { payload })).id as string;
  const until = async (id: string, done: (run: { status: string; isCompleted: boolean; metadata?: Record<string, unknown> }) => boolean, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${id}`);
      if (done(run)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is ${run.status}:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const finished = (id: string) => until(id, (run) => run.isCompleted);

  before(async () => {
    receiver = createServer((request, response) => {
      const path = request.url!.slice(1);
      calls.set(path, (calls.get(path) ?? 0) + 1);
      if (path === "pause" && onPause) {
        // The first time through: hold the request and let the test kill the worker here.
        const pause = onPause;
        onPause = null;
        pause();
        return;
      }
      response.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const address = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    // Short leases, so a killed worker's run is retried within seconds.
    t = await createTestApp({ sweeper: true, settings: { leaseSeconds: 3, sweepIntervalMs: 200 } });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    worker = startWorker(project, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
  });
  after(async () => {
    await worker.stop();
    await t.close();
    receiver.closeAllConnections();
    receiver.close();
  });

  test("a five-step task killed after its second step resumes without repeating steps one and two", async () => {
    const paused = new Promise<void>((resolve) => (onPause = resolve));
    const id = await trigger("five-steps", { receiver: receiverUrl });
    await paused;
    await worker.kill();
    assert.equal(calls.get("step-3"), undefined, "killed before step three");

    worker = startWorker(project, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
    const run = await finished(id);
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.equal(run.output, "all five done");
    assert.equal(run.attemptCount, 2, "the lost attempt was retried once");
    for (let step = 1; step <= 5; step += 1) assert.equal(calls.get(`step-${step}`), 1, `step ${step}'s side effect landed exactly once`);
    assert.equal(calls.get("pause"), 2, "code between steps runs again on replay");
  });

  test("triggerAndWait on a child that fails gives the parent ok: false", async () => {
    const run = await finished(await trigger("parent", {}));
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.deepEqual(run.output, { ok: false, message: "the child gives up" });
  });

  test("batchTriggerAndWait of 100 children returns 100 results in order", async () => {
    const run = await finished(await trigger("fan-in", { count: 100 }));
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.deepEqual(run.output, Array.from({ length: 100 }, (_, n) => n * n));
    const children = await api("GET", `/api/v3/runs/${run.id}`);
    assert.ok(children.relatedRuns.children.length > 0);
  });

  test("metadata.parent and metadata.root in a child and a grandchild change the runs above them", async () => {
    const id = await trigger("metadata-root", {});
    const run = await finished(id);
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.deepEqual(run.metadata, { root: true, descendants: 2, visitors: ["grandchild", "child"] });
    const child = run.relatedRuns?.children?.[0] ?? (await api("GET", `/api/v1/runs?filter[taskIdentifier]=metadata-child`)).data[0];
    assert.deepEqual((await api("GET", `/api/v1/runs/${child.id}/metadata`)).metadata, { grandchild: "done" });
  });

  test("an attempt that lasts longer than the lease keeps it through heartbeats", async () => {
    // The lease is 3 s and the worker's heartbeat long-polls for 10 s: the server must answer a
    // heartbeat well within the lease, or the lease runs out while the worker is waiting.
    const run = await finished(await trigger("outlasts-its-lease", { ms: 7_000 }));
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.equal(run.attemptCount, 1);
    assert.equal(run.output, "still mine");
  });

  test("a wait longer than the in-process limit suspends the run and resumes it", async () => {
    const id = await trigger("sleeper", {});
    await until(id, (run) => run.status === "WAITING");
    const run = await finished(id);
    assert.equal(run.status, "COMPLETED");
    assert.ok(run.output.sleptMs >= 2000, `slept ${run.output.sleptMs} ms`);
    assert.equal(run.attemptCount, 1);
  });

  test("a run waits for a person to complete its token, holding nothing meanwhile", async () => {
    const id = await trigger("approval", {});
    const waiting = await until(id, (run) => run.status === "WAITING" && typeof run.metadata?.tokenId === "string");
    const [slots] = await t.database.db.sql<{ count: number }[]>`
      select count(*)::int as count from ratchet.executions where run_id = ${fromPublicId("run", id)!}`;
    assert.equal(slots?.count, 0, "the waiting run holds no slot");
    await api("POST", `/api/v1/waitpoints/tokens/${waiting.metadata!.tokenId}/complete`, { data: { approved: true } });
    const run = await finished(id);
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.deepEqual(run.output, { approved: true });
  });
});

describe("a waiting run whose code changed under it", () => {
  test("fails with a clear, non-retried error naming the operation that no longer lines up", async () => {
    const t = await createTestApp({ sweeper: true });
    const key = await t.key("dev");
    const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const dir = join(projectRoot, ".ratchet", "test-projects", randomBytes(6).toString("hex"));
    await mkdir(join(dir, "trigger"), { recursive: true });
    await writeFile(join(dir, "ratchet.config.ts"), `export default { dirs: ["trigger"], waitInProcessMs: 100 };\n`);
    const file = join(dir, "trigger", "approve.ts");
    const version = (first: string) => `import { metadata, step, task, wait } from "ratchet/sdk";
export const approve = task({
  id: "approve",
  retry: { maxAttempts: 3 },
  run: async () => {
    ${first}
    const token = await wait.createToken({ timeout: "1h" });
    metadata.set("tokenId", token.id);
    await metadata.flush();
    await wait.forToken(token);
    return "finished";
  },
});
`;
    await writeFile(file, version(""));
    const worker = startWorker(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    const call = httpApi(() => url, () => key);
    try {
      await worker.waitFor(/1 tasks registered as version/);
      const { id } = await call("POST", "/api/v1/tasks/approve/trigger", { payload: {} });
      let run = await call("GET", `/api/v3/runs/${id}`);
      while (!(run.status === "WAITING" && run.metadata?.tokenId)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        run = await call("GET", `/api/v3/runs/${id}`);
      }
      await writeFile(file, version(`await step.run("new-first-step", () => 1);`));
      await worker.waitFor(/files changed; 1 tasks registered/);
      await call("POST", `/api/v1/waitpoints/tokens/${run.metadata.tokenId}/complete`, { data: {} });
      while (!run.isCompleted) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        run = await call("GET", `/api/v3/runs/${id}`);
      }
      assert.equal(run.status, "FAILED", worker.output());
      assert.equal(run.error.name, "JournalMismatchError");
      assert.match(run.error.message, /Operation 0 of this run was token "wait.createToken", but the task now performs step "step:new-first-step"/);
      assert.equal(run.attemptCount, 1, "not retried");
    } finally {
      await worker.stop();
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
