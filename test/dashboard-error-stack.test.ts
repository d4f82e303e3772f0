// A run error's stack on the run page, from a real `ratchet dev` worker whose task throws: frames in
// the task file come first and highlighted (source-mapped to the .ts file and line); the SDK's,
// the worker's, dependencies' and Node.js's frames are dimmed and folded.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { errorStack, parseFrame, stackGroups } from "../server/dashboard/error-stack.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { httpApiOk } from "./helpers/http-api.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

describe("a run error's stack on the run page", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker;
  let browser: Browser;
  const api = httpApiOk(() => url, () => key);

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    browser = await signedInAdmin(t.app, t.database.db);
    worker = startWorker(join(projectRoot, "test/fixtures/project"), { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
  });
  after(async () => {
    await worker?.stop();
    await t?.close();
  });

  test("a task that throws: its own file and line lead, highlighted; Ratchet and Node.js frames are folded", async () => {
    const { id } = await api("POST", "/api/v1/tasks/aborts/trigger", { payload: {} });
    await worker.waitFor(new RegExp(`FAILED\\s+aborts\\s+${id}`));
    const { document } = await browser.page(`/p/${t.project.ref}/dev/runs/${id}`);
    const stack = document.querySelector(".stack")!;
    assert.ok(stack, "the error is shown as a stack");
    assert.equal(stack.querySelector(".stack-head")!.textContent, "AbortTaskRunError: this input can never work", "the message once");
    const frames = [...stack.querySelectorAll(":scope > .frames > li")];
    const first = frames[0]!;
    assert.ok(first.classList.contains("frame-user"), first.outerHTML);
    assert.equal(first.querySelector(".frame-name")!.textContent, "basics.ts:24:11", "the task's .ts file and the line that threw");
    assert.equal(first.querySelector(".frame-file")!.getAttribute("title"), `${join(projectRoot, "test/fixtures/project/trigger/basics.ts")}:24:11`);
    const folds = stack.querySelectorAll(".frame-fold details");
    assert.ok(folds.length >= 1, "the rest is folded");
    for (const fold of folds) assert.equal(fold.hasAttribute("open"), false);
    const folded = [...stack.querySelectorAll(".frame-fold .frame")];
    assert.ok(folded.some((frame) => frame.classList.contains("frame-ratchet") && /execute\.ts/.test(frame.textContent!)), "the SDK's frames are Ratchet's");
    assert.ok(folded.some((frame) => frame.classList.contains("frame-node")), "Node.js internals");
    assert.equal(stack.querySelectorAll(".frame-user").length, 1, "only the task file's frame is the user's");
    assert.match(stack.querySelector(".frame-fold summary")!.textContent!, /^\d+ frames in Ratchet/);
  });

  test("frames are read as V8 writes them", () => {
    assert.deepEqual(parseFrame("    at Object.run (/app/trigger/a.ts:3:7)"), { kind: "user", fn: "Object.run", file: "/app/trigger/a.ts", line: 3, column: 7 });
    assert.deepEqual(parseFrame("    at file:///app/src/b.ts:10:2"), { kind: "user", fn: "", file: "/app/src/b.ts", line: 10, column: 2 });
    assert.equal(parseFrame("    at async Promise.all (index 0)")!.kind, "node");
    assert.equal(parseFrame("    at process.processTicksAndRejections (node:internal/process/task_queues:104:5)")!.kind, "node");
    assert.equal(parseFrame("    at x (/app/node_modules/zod/lib/index.js:1:1)")!.kind, "dependency");
    assert.equal(parseFrame("    at x (/app/node_modules/ratchet/sdk/execute.ts:1:1)")!.kind, "ratchet");
    assert.equal(parseFrame("    at f (mail.ts:3:9)")!.kind, "user", "a relative path is the user's");
    assert.equal(parseFrame("not a frame"), null);
  });

  test("a stack without any frame of the user's shows every frame, unfolded; a message without a stack is just the heading", () => {
    const onlyNode = errorStack({ name: "Error", message: "x", stackTrace: "Error: x\n    at a (node:fs:1:1)\n    at b (node:fs:2:2)" });
    assert.deepEqual(stackGroups(onlyNode).map((group) => group.type), ["frame", "frame"]);
    const bare = errorStack({ name: "TypeError", message: "boom", stackTrace: null });
    assert.equal(bare.heading, "TypeError: boom");
    assert.equal(bare.items.length, 0);
  });
});
