// Run metadata over real HTTP: operations from concurrent writers are all applied, and a child's
// parentOperations / rootOperations land on its parent and root.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApi, httpApiOk } from "./helpers/http-api.ts";

describe("run metadata", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  const api = httpApiOk(() => url, () => key);
  const raw = httpApi(() => url, () => key);
  const trigger = async (options: Record<string, unknown> = {}) => (await api("POST", "/api/v1/tasks/meta/trigger", { payload: {}, options })).id as string;
  const metadataOf = async (id: string) => (await api("GET", `/api/v1/runs/${id}/metadata`)).metadata;

  before(async () => {
    t = await createTestApp();
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    await api("POST", "/engine/v1/worker/register", { tasks: [{ id: "meta" }] });
  });
  after(() => t.close());

  test("50 concurrent increments from parallel HTTP requests end at 50", async () => {
    const id = await trigger({ metadata: { count: 0, kept: "yes" } });
    await Promise.all(
      Array.from({ length: 50 }, () => api("PUT", `/api/v1/runs/${id}/metadata`, { operations: [{ type: "increment", key: "count", value: 1 }] })),
    );
    assert.deepEqual(await metadataOf(id), { count: 50, kept: "yes" });
  });

  test("parentOperations land on the parent and rootOperations on the root", async () => {
    const root = await trigger({ metadata: { seen: [] } });
    const child = await trigger({ parentRunId: root });
    const grandchild = await trigger({ parentRunId: child });
    const answer = await api("PUT", `/api/v1/runs/${grandchild}/metadata`, {
      operations: [{ type: "set", key: "mine", value: true }],
      parentOperations: [
        { type: "set", key: "fromChild", value: "hello" },
        { type: "increment", key: "children", value: 2 },
      ],
      rootOperations: [
        { type: "append", key: "seen", value: "grandchild" },
        { type: "set", key: "$.progress.done", value: 1 },
      ],
    });
    assert.deepEqual(answer.metadata, { mine: true });
    assert.deepEqual(await metadataOf(child), { fromChild: "hello", children: 2 });
    assert.deepEqual(await metadataOf(root), { seen: ["grandchild"], progress: { done: 1 } });
    assert.deepEqual(await metadataOf(grandchild), { mine: true });

    // A child of the root: its parent is its root, and both lists apply there, parent's first.
    await api("PUT", `/api/v1/runs/${child}/metadata`, {
      parentOperations: [{ type: "append", key: "seen", value: "child as parent" }],
      rootOperations: [{ type: "append", key: "seen", value: "child as root" }],
    });
    assert.deepEqual((await metadataOf(root)).seen, ["grandchild", "child as parent", "child as root"]);
  });

  test("a run with no parent applies parentOperations and rootOperations to itself, as the SDK's metadata.parent does", async () => {
    const id = await trigger();
    const answer = await api("PUT", `/api/v1/runs/${id}/metadata`, {
      operations: [{ type: "set", key: "a", value: 1 }],
      parentOperations: [{ type: "set", key: "b", value: 2 }],
      rootOperations: [{ type: "increment", key: "c", value: 3 }],
    });
    assert.deepEqual(answer.metadata, { a: 1, b: 2, c: 3 });
    assert.deepEqual(await metadataOf(id), { a: 1, b: 2, c: 3 });
  });

  test("children incrementing their parent at the same time lose no update", async () => {
    const parent = await trigger();
    const children = await Promise.all(Array.from({ length: 20 }, () => trigger({ parentRunId: parent })));
    await Promise.all(
      children.map((child) =>
        api("PUT", `/api/v1/runs/${child}/metadata`, {
          operations: [{ type: "set", key: "done", value: true }],
          parentOperations: [{ type: "increment", key: "finished", value: 1 }],
          rootOperations: [{ type: "append", key: "order", value: child }],
        }),
      ),
    );
    const metadata = await metadataOf(parent);
    assert.equal(metadata.finished, 20);
    assert.deepEqual([...metadata.order].sort(), [...children].sort());
  });

  test("each operation type does what Trigger.dev's does; update replaces the whole object", async () => {
    const root = await trigger({ metadata: { old: true, list: [1, { x: 2 }, 3], n: 1 } });
    const child = await trigger({ parentRunId: root });
    const answer = await api("PUT", `/api/v1/runs/${root}/metadata`, {
      operations: [
        { type: "remove", key: "list", value: { x: 2 } },
        { type: "append", key: "list", value: 4 },
        { type: "increment", key: "n", value: -3 },
        { type: "delete", key: "old" },
        { type: "set", key: "$.deep.er", value: "yes" },
      ],
    });
    assert.deepEqual(answer.metadata, { list: [1, 3, 4], n: -2, deep: { er: "yes" } });
    await api("PUT", `/api/v1/runs/${child}/metadata`, {
      parentOperations: [
        { type: "update", value: { replaced: 1 } },
        { type: "set", key: "after", value: 2 },
      ],
    });
    assert.deepEqual(await metadataOf(root), { replaced: 1, after: 2 });
  });

  test("a bad key in any list is a 400 naming that list, and nothing is written", async () => {
    const root = await trigger({ metadata: { untouched: true } });
    const child = await trigger({ parentRunId: root, metadata: { untouched: true } });
    const response = await raw("PUT", `/api/v1/runs/${child}/metadata`, {
      operations: [{ type: "set", key: "fine", value: 1 }],
      rootOperations: [{ type: "set", key: "$.__proto__.polluted", value: 1 }],
    });
    assert.match(response.error, /body\.rootOperations/);
    assert.deepEqual(await metadataOf(child), { untouched: true });
    assert.deepEqual(await metadataOf(root), { untouched: true });
  });
});
