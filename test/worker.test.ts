// End to end: a listening Ratchet, the real `ratchet dev` worker as a child process running the
// TypeScript task files of test/fixtures/project, and runs triggered over HTTP.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApi, httpApiOk } from "./helpers/http-api.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const finalStatuses = new Set(["COMPLETED", "FAILED", "CRASHED", "CANCELED", "TIMED_OUT", "EXPIRED", "SYSTEM_FAILURE"]);

describe("the worker runs TypeScript tasks end to end", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker;

  const api = httpApiOk(() => url, () => key);
  const trigger = async (task: string, payload: unknown, options: Record<string, unknown> = {}): Promise<string> =>
    (await api("POST", `/api/v1/tasks/${task}/trigger`, { payload, options })).id;
  const waitForRun = async (id: string, statuses = finalStatuses, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${id}`);
      if (statuses.has(run.status)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${run.status}:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    worker = startWorker(join(projectRoot, "test/fixtures/project"), { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  test("a triggered run executes and its output can be retrieved", async () => {
    const id = await trigger("hello", { name: "Ada" });
    const run = await waitForRun(id);
    assert.equal(run.status, "COMPLETED", worker.output());
    assert.deepEqual(run.output, { greeting: "Hello, Ada!", attempt: 1, when: "2026-05-01T00:00:00.000Z" });
    await worker.waitFor(new RegExp(`COMPLETED\\s+hello\\s+${id}`));
  });

  test("schedules.task with a window registers a declarative schedule carrying it", async () => {
    const { data } = await api("GET", "/api/v1/schedules?perPage=100");
    const declared = data.find((schedule: { task: string }) => schedule.task === "new-year-report");
    assert.equal(declared.type, "DECLARATIVE");
    assert.equal(declared.timezone, "Europe/Berlin");
    assert.equal(declared.window, "15m");
    const offset = Date.parse(declared.nextRunEffectiveAt) - Date.parse(declared.nextRun);
    assert.ok(offset >= 0 && offset < 15 * 60_000);
  });

  test("a task that throws is retried with backoff until it succeeds", async () => {
    const run = await waitForRun(await trigger("flaky", {}));
    assert.equal(run.status, "COMPLETED");
    assert.equal(run.attemptCount, 3);
    assert.deepEqual(run.output, { succeededOn: 3 });
  });

  test("AbortTaskRunError fails the run without a retry", async () => {
    const run = await waitForRun(await trigger("aborts", {}));
    assert.equal(run.status, "FAILED");
    assert.equal(run.attemptCount, 1);
    assert.equal(run.error.name, "AbortTaskRunError");
    assert.equal(run.error.message, "this input can never work");
  });

  test("process.exit in one run ends it CRASHED while a concurrent run is unharmed", async () => {
    const blocker = await trigger("waits-for-cancel", {});
    await waitForRun(blocker, new Set(["EXECUTING"]));
    const crashed = await trigger("crashes", {});
    const crashedRun = await waitForRun(crashed);
    assert.equal(crashedRun.status, "CRASHED");
    assert.equal(crashedRun.attemptCount, 1, "a crash is not retried");
    assert.equal((await api("GET", `/api/v3/runs/${blocker}`)).status, "EXECUTING", "the other run is still going");
    const after = await waitForRun(await trigger("hello", { name: "after the crash" }));
    assert.equal(after.status, "COMPLETED");
    await api("POST", `/api/v2/runs/${blocker}/cancel`);
    assert.equal((await waitForRun(blocker)).status, "CANCELED");
  });

  test("canceling a running run aborts its signal and runs onCancel", async () => {
    const id = await trigger("waits-for-cancel", {});
    await waitForRun(id, new Set(["EXECUTING"]));
    await api("POST", `/api/v2/runs/${id}/cancel`);
    const run = await waitForRun(id);
    assert.equal(run.status, "CANCELED");
    const { events } = await api("GET", `/api/v1/runs/${id}/events`);
    const messages = events.map((event: { message: string }) => event.message);
    assert.deepEqual(messages, ["started", "signal aborted", "cancel hook ran"]);
  });

  test("a run past its maxDuration ends TIMED_OUT", async () => {
    const run = await waitForRun(await trigger("overruns", {}));
    assert.equal(run.status, "TIMED_OUT");
    assert.equal(run.attemptCount, 1);
  });

  test("a task's logs and spans are stored and come back in order", async () => {
    const id = await trigger("logs", {});
    const run = await waitForRun(id);
    assert.equal(run.status, "COMPLETED");
    assert.equal(run.output, "done");
    assert.deepEqual(run.metadata, { progress: 1, count: 3 });
    const { events } = await api("GET", `/api/v1/runs/${id}/events`);
    const lines = events.map((event: { kind: string; level: string; message: string }) => `${event.kind}:${event.level}:${event.message}`);
    assert.deepEqual(lines, ["log:info:one", "log:warn:two", "span:info:work", "log:debug:inside the span", "log:error:three"]);
    const span = events.find((event: { kind: string }) => event.kind === "span");
    const inner = events.find((event: { message: string }) => event.message === "inside the span");
    assert.equal(inner.parentSpanId, span.spanId);
    assert.equal(typeof span.durationMs, "number");
  });

  test("a run that outgrows its machine's memory ends CRASHED", async () => {
    const run = await waitForRun(await trigger("hogs-memory", {}));
    assert.equal(run.status, "CRASHED");
    assert.match(run.error.message, /out of memory \(machine micro\)/);
  });

  test("lifecycle hooks run in Trigger.dev's order, across a retry", async () => {
    const id = await trigger("hooks", {});
    const run = await waitForRun(id);
    assert.equal(run.status, "COMPLETED");
    const { events } = await api("GET", `/api/v1/runs/${id}/events`);
    assert.deepEqual(
      events.map((event: { attemptNumber: number; message: string }) => `${event.attemptNumber}: ${event.message}`),
      [
        "1: middleware before",
        "1: init",
        "1: onStart",
        "1: onStartAttempt 1",
        '1: run 1 {"ready":true}',
        "1: catchError first attempt fails",
        "1: cleanup",
        "2: middleware before",
        "2: init",
        "2: onStartAttempt 2",
        '2: run 2 {"ready":true}',
        "2: middleware after",
        "2: onSuccess",
        "2: onComplete",
        "2: cleanup",
      ],
    );
  });

  test("a task file written for @trigger.dev/sdk runs unmodified", async () => {
    const run = await waitForRun(await trigger("trigger-dev-task", { n: 21 }));
    assert.equal(run.status, "COMPLETED");
    assert.deepEqual(run.output, { doubled: 42 });
    const typed = await waitForRun(await trigger("schema-task", { n: 1 }));
    assert.equal(typed.output, 2);
    const rejected = await waitForRun(await trigger("schema-task", { n: "one" }));
    assert.equal(rejected.status, "FAILED");
    assert.equal(rejected.attemptCount, 1, "a payload the schema rejects is not retried");
  });
});

describe("ratchet dev reloads changed task files", () => {
  test("editing a task file makes the next run use the new code, and SIGTERM stops cleanly", async () => {
    const t = await createTestApp({ sweeper: true });
    const key = await t.key("dev");
    const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    // Inside the repository, so the bundle finds node_modules as a user's project would.
    const dir = join(projectRoot, ".ratchet", "test-projects", randomBytes(6).toString("hex"));
    await mkdir(dir, { recursive: true });
    await cp(join(projectRoot, "test/fixtures/project/ratchet.config.ts"), join(dir, "ratchet.config.ts"));
    await mkdir(join(dir, "trigger"));
    const file = join(dir, "trigger", "greet.ts");
    const source = (word: string) =>
      `import { task } from "ratchet/sdk";\nexport const greet = task({ id: "greet", run: async () => "${word}" });\n`;
    await writeFile(file, source("first"));
    await writeFile(
      join(dir, "trigger", "hold.ts"),
      `import { task } from "ratchet/sdk";\nexport const hold = task({ id: "hold", run: (_p: unknown, { signal }) => new Promise((r) => signal.addEventListener("abort", r)) });\n`,
    );
    const worker = startWorker(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    const call = httpApi(() => url, () => key);
    const runToEnd = async () => {
      const { id } = await call("POST", "/api/v1/tasks/greet/trigger", { payload: {} });
      for (;;) {
        const run = await call("GET", `/api/v3/runs/${id}`);
        if (finalStatuses.has(run.status)) return run;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      await worker.waitFor(/2 tasks registered as version (\S+)/);
      assert.equal((await runToEnd()).output, "first");
      const { id: held } = await call("POST", "/api/v1/tasks/hold/trigger", { payload: {} });
      while ((await call("GET", `/api/v3/runs/${held}`)).status !== "EXECUTING") await new Promise((resolve) => setTimeout(resolve, 50));
      await writeFile(file, source("second"));
      await worker.waitFor(/files changed; 2 tasks registered/);
      const second = await runToEnd();
      assert.equal(second.output, "second");
      assert.equal((await call("GET", `/api/v3/runs/${held}`)).status, "EXECUTING", "the run in flight survived the reload");
      await call("POST", `/api/v2/runs/${held}/cancel`);
      while (!(await call("GET", `/api/v3/runs/${held}`)).isCompleted) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await call("GET", `/api/v3/runs/${held}`)).status, "CANCELED", "and still answered to its cancel");
      assert.match(await readFile(file, "utf8"), /second/);
      assert.equal(await worker.stop(), 0);
    } finally {
      worker.child.kill("SIGKILL");
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("ratchet worker on SIGTERM", () => {
  test("hands back a run it cannot finish in its grace period, without spending an attempt", async () => {
    const t = await createTestApp({ sweeper: true });
    const key = await t.key("prod");
    const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const worker = startWorker(join(projectRoot, "test/fixtures/project"), { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }, "worker", "1");
    const call = httpApi(() => url, () => key);
    try {
      await worker.waitFor(/tasks registered as version/);
      const { id } = await call("POST", "/api/v1/tasks/waits-for-cancel/trigger", { payload: {} });
      // Running in the worker's hands (its first log line has arrived), not merely claimed for it.
      for (;;) {
        const { events } = await call("GET", `/api/v1/runs/${id}/events`);
        if (events.some((event: { message: string }) => event.message === "started")) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(await worker.stop(), 0);
      const run = await call("GET", `/api/v3/runs/${id}`);
      assert.equal(run.status, "QUEUED", "back in the queue for another worker");
      assert.equal(run.attemptCount, 0, "the interrupted attempt does not count");
      assert.match(worker.output(), /handing back/);
    } finally {
      worker.child.kill("SIGKILL");
      await t.close();
    }
  });
});
