// Runs are pinned to the version they were triggered on (outside dev): retries and resumes after
// waits are dequeued only by a worker of that version, whatever was promoted since.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { sweepOnce } from "../server/engine/sweepers.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

type Dequeued = { id: string; attemptNumber: number; version?: string; taskIdentifier: string };

describe("runs pinned to versions", () => {
  let t: TestApp;
  const clock = new ManualClock("2026-07-01T08:00:00.000Z");
  const sweep = () => sweepOnce(t.app.ratchet.engine, t.app.ratchet.settings);
  const dequeueAs = async (api: ApiClient, workerId: string, versions?: string[]): Promise<Dequeued[]> =>
    (await api.ok("POST", "/engine/v1/dequeue", { workerId, maxRuns: 10, waitSeconds: 0, start: true, ...(versions ? { versions } : {}) })).runs;
  const registerVersion = (api: ApiClient, version: string, tasks: unknown[], extra: Record<string, unknown> = {}) =>
    api.ok("POST", "/engine/v1/worker/register", { version, tasks, ...extra });

  before(async () => {
    t = await createTestApp({ clock });
  });
  after(() => t.close());
  beforeEach(() => clock.advance(60_000));

  test("a WAITING run resumes on its pinned version after a newer version is promoted", async () => {
    const api = new ApiClient(t.app, await t.key("prod"));
    await registerVersion(api, "1.0.0", [{ id: "pinned-wait" }]);
    const { id } = await api.trigger("pinned-wait", {});
    const [run] = await dequeueAs(api, "w-old", ["1.0.0"]);
    assert.equal(run?.id, id);
    assert.equal(run?.version, "1.0.0");
    const until = new Date(clock.now().getTime() + 3_600_000).toISOString();
    await api.ok("POST", `/engine/v1/runs/${id}/journal/0`, { workerId: "w-old", op: "wait", kind: "wait", name: "wait.for", wait: { type: "DATETIME", date: until } });
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w-old" });
    assert.equal((await api.retrieve(id)).status, "WAITING");

    // A new version registers by hand (so it becomes current) while the run waits.
    const registered = await registerVersion(api, "2.0.0", [{ id: "pinned-wait" }]);
    assert.equal(registered.current, true);
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, "2.0.0");
    clock.advance(3_600_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "QUEUED");

    assert.deepEqual(await dequeueAs(api, "w-new", ["2.0.0"]), [], "the new version's worker is not handed the old version's run");
    assert.deepEqual(await dequeueAs(api, "w-any"), [], "nor is a worker that names no version (it serves the current one)");
    const [resumed] = await dequeueAs(api, "w-old", ["1.0.0"]);
    assert.equal(resumed?.id, id);
    assert.equal(resumed?.attemptNumber, 1, "the same attempt continues on its own code");
    assert.equal(resumed?.version, "1.0.0");
    await api.complete("w-old", resumed!, { ok: true, output: "done" });
    assert.equal((await api.retrieve(id)).status, "COMPLETED");

    const next = await api.trigger("pinned-wait", {});
    const [fresh] = await dequeueAs(api, "w-new", ["2.0.0"]);
    assert.equal(fresh?.id, next.id, "a run triggered after the promotion is pinned to the new version");
    assert.equal(fresh?.version, "2.0.0");
    await api.complete("w-new", fresh!, { ok: true, output: null });
  });

  test("a worker of version B never gets a run pinned to A, neither its first attempt nor its retry", async () => {
    const api = new ApiClient(t.app, await t.key("staging"));
    await registerVersion(api, "A", [{ id: "pinned-retry", retry: { maxAttempts: 3, minTimeoutInMs: 0, maxTimeoutInMs: 0, factor: 1 } }]);
    await registerVersion(api, "B", [{ id: "pinned-retry" }]);
    const { id } = await api.trigger("pinned-retry", {}, { lockToVersion: "A" });
    const onB = await api.trigger("pinned-retry", {});

    const takenByB = await dequeueAs(api, "w-b", ["B", "B"]);
    assert.deepEqual(takenByB.map((run) => run.id), [onB.id], "B's worker takes only B's run");
    await api.complete("w-b", takenByB[0]!, { ok: true, output: null });

    const [first] = await dequeueAs(api, "w-a", ["A"]);
    assert.equal(first?.id, id);
    assert.equal(first?.version, "A");
    const failed = await api.complete("w-a", first!, { ok: false, error: { message: "boom" }, retryDelayMs: 0 });
    assert.equal(failed.status, "QUEUED", "retried");
    clock.advance(1000);
    assert.deepEqual(await dequeueAs(api, "w-b", ["B"]), [], "the retry stays on A");
    const [retry] = await dequeueAs(api, "w-a", ["A"]);
    assert.equal(retry?.id, id);
    assert.equal(retry?.attemptNumber, 2);
    await api.complete("w-a", retry!, { ok: true, output: null });
  });

  test("a version registered with promote: false serves only its pinned runs until promoted; promoting queues runs waiting for a version", async () => {
    const api = new ApiClient(t.app, await t.key("preview"));
    await registerVersion(api, "one", [{ id: "staged" }]);
    const staged = await registerVersion(api, "two", [{ id: "staged" }, { id: "only-in-two" }], { promote: false });
    assert.equal(staged.current, false);
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, "one");

    const pending = await api.trigger("only-in-two", {});
    assert.equal((await api.retrieve(pending.id)).status, "PENDING_VERSION", "a task only the unpromoted version has waits for a version");
    const onOne = await api.trigger("staged", {});
    assert.deepEqual(await dequeueAs(api, "w-two", ["two"]), []);

    await api.ok("POST", "/api/v1/deployments/two/promote");
    assert.equal((await api.retrieve(pending.id)).status, "QUEUED");
    const taken = await dequeueAs(api, "w-two", ["two"]);
    assert.deepEqual(taken.map((run) => run.id), [pending.id], "the pending run is pinned to the promoted version; the earlier one stays on one");
    assert.equal(taken[0]?.version, "two");
    const [old] = await dequeueAs(api, "w-one", ["one"]);
    assert.equal(old?.id, onOne.id);
  });

  test("in dev runs are not pinned: a waiting run resumes on the version registered last", async () => {
    const api = new ApiClient(t.app, await t.key("dev"));
    await registerVersion(api, "dev.1", [{ id: "dev-wait" }]);
    const { id } = await api.trigger("dev-wait", {});
    const [run] = await dequeueAs(api, "w-dev", ["dev.1"]);
    assert.equal(run?.id, id);
    const until = new Date(clock.now().getTime() + 60_000).toISOString();
    await api.ok("POST", `/engine/v1/runs/${id}/journal/0`, { workerId: "w-dev", op: "wait", kind: "wait", name: "wait.for", wait: { type: "DATETIME", date: until } });
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w-dev" });
    await registerVersion(api, "dev.2", [{ id: "dev-wait" }]);
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, "dev.2", "in dev the version registered last is current at once");
    clock.advance(60_000);
    await sweep();
    const [resumed] = await dequeueAs(api, "w-dev", ["dev.2"]);
    assert.equal(resumed?.id, id, "the hot-reloaded worker resumes it");
    await api.complete("w-dev", resumed!, { ok: true, output: null });
  });

  test("workers started by hand with the same code register one version; new code becomes a new, current one", async () => {
    const api = new ApiClient(t.app, await t.key("staging"));
    const first = await api.ok("POST", "/engine/v1/worker/register", { tasks: [{ id: "replicated" }], contentHash: "code-1" });
    const replica = await api.ok("POST", "/engine/v1/worker/register", { tasks: [{ id: "replicated" }], contentHash: "code-1" });
    assert.equal(replica.version, first.version, "the replica serves the same pinned runs");
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, first.version);
    const changed = await api.ok("POST", "/engine/v1/worker/register", { tasks: [{ id: "replicated" }], contentHash: "code-2" });
    assert.notEqual(changed.version, first.version);
    assert.equal(changed.current, true);
    const restarted = await api.ok("POST", "/engine/v1/worker/register", { tasks: [{ id: "replicated" }], contentHash: "code-1" });
    assert.equal(restarted.version, first.version);
    assert.equal(restarted.current, false, "an old worker restarting does not take over");
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, changed.version);
  });

  test("a queue's limit counts runs of every version: a slot held on A is not handed out again on B", async () => {
    const api = new ApiClient(t.app, await t.key("prod"));
    await registerVersion(api, "L1", [{ id: "limited", queue: { concurrencyLimit: 1 } }]);
    const first = await api.trigger("limited", {});
    const [held] = await dequeueAs(api, "w-l1", ["L1"]);
    assert.equal(held?.id, first.id);
    await registerVersion(api, "L2", [{ id: "limited", queue: { concurrencyLimit: 1 } }]);
    const second = await api.trigger("limited", {});
    assert.deepEqual(await dequeueAs(api, "w-l2", ["L2"]), [], "the queue's one slot is held by the L1 run");
    await api.complete("w-l1", held!, { ok: true, output: null });
    const [next] = await dequeueAs(api, "w-l2", ["L2"]);
    assert.equal(next?.id, second.id);
    await api.complete("w-l2", next!, { ok: true, output: null });
  });
});
