// Durable execution through the protocol: journaled waits, suspension, resumption, wait tokens and
// their callback URLs, with an injected clock.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { fromPublicId } from "../server/ids.ts";
import { sweepOnce } from "../server/engine/sweepers.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("durable execution", () => {
  let t: TestApp;
  let api: ApiClient;
  const clock = new ManualClock("2026-06-01T08:00:00.000Z");
  const sweep = () => sweepOnce(t.app.ratchet.engine, t.app.ratchet.settings);
  const journal = (runId: string, position: number, body: Record<string, unknown>) =>
    api.ok("POST", `/engine/v1/runs/${runId}/journal/${position}`, { workerId: "w1", ...body });
  const executing = async () => {
    const [row] = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.executions`;
    return row!.count;
  };

  before(async () => {
    t = await createTestApp({ clock });
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "durable", queue: { concurrencyLimit: 1000 } }]);
  });
  after(() => t.close());
  beforeEach(() => clock.advance(60_000));

  test("a 3-day wait.for suspends the run and completes when the injected clock passes it", async () => {
    const { id } = await api.trigger("durable", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    const until = new Date(clock.now().getTime() + 3 * 86_400_000).toISOString();
    const waiting = await journal(id, 0, { op: "wait", kind: "wait", name: "wait.for", wait: { type: "DATETIME", date: until } });
    assert.equal(waiting.entry.status, "PENDING");
    assert.deepEqual(await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1" }), { suspended: true });
    assert.equal((await api.retrieve(id)).status, "WAITING");
    assert.equal(await executing(), 0, "a waiting run holds no slot");

    clock.advance(3 * 86_400_000 - 1000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "WAITING");
    clock.advance(1000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "QUEUED", "queued again once the date passed");

    const [resumed] = await api.dequeue("w1");
    assert.equal(resumed?.id, id);
    assert.equal(resumed?.attemptNumber, 1, "the same attempt continues");
    await api.start("w1", resumed!);
    const replay = await journal(id, 0, { op: "get" });
    assert.equal(replay.entry.status, "COMPLETED", "the journal answers the wait at once");
    await api.complete("w1", resumed!, { ok: true, output: "done" });
    const done = await api.retrieve(id);
    assert.equal(done.status, "COMPLETED");
    assert.equal(done.attemptCount, 1);
  });

  test("a replayed step returns its recorded result; a different operation at a recorded position is reported", async () => {
    const { id } = await api.trigger("durable", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    await journal(id, 0, { op: "record", kind: "step", name: "step:charge", output: '{"json":{"charged":42}}', outputType: "application/super+json" });
    const again = await journal(id, 0, { op: "record", kind: "step", name: "step:charge", output: '{"json":{"charged":99}}', outputType: "application/super+json" });
    assert.equal(again.entry.output, '{"json":{"charged":42}}', "the first record wins");
    const other = await journal(id, 0, { op: "get" });
    assert.equal(other.entry.name, "step:charge");
    const lost = await api.request("POST", `/engine/v1/runs/${id}/journal/1`, { workerId: "someone-else", op: "get" });
    assert.equal(lost.status, 409, "only the worker holding the run may use its journal");
    await api.complete("w1", run!, { ok: true });
  });

  test("a resumed run handed back by a stopping worker keeps its attempt and continues it elsewhere", async () => {
    const { id } = await api.trigger("durable", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    const firstStart = (await api.retrieve(id)).startedAt;
    await journal(id, 0, { op: "wait", kind: "wait", name: "wait.for", wait: { type: "DATETIME", date: new Date(clock.now().getTime() + 60_000).toISOString() } });
    assert.deepEqual(await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1" }), { suspended: true });
    clock.advance(61_000);
    await sweep();
    const [resumed] = await api.dequeue("w2");
    assert.equal(resumed?.attemptNumber, 1);
    await api.ok("POST", "/engine/v1/release", { workerId: "w2", runs: [{ runId: id, attemptNumber: 1 }] });
    const handedBack = await api.retrieve(id);
    assert.equal(handedBack.status, "QUEUED");
    assert.equal(handedBack.attemptCount, 1, "attempt 1 was under way before the wait and still is");
    const [attempt] = await t.database.db.sql<[{ startedAt: Date }]>`
      select started_at as "startedAt" from ratchet.attempts where run_id = ${fromPublicId("run", id)} and number = 1`;
    assert.equal(attempt?.startedAt.toISOString(), firstStart, "the attempt's history is kept");
    const [again] = await api.dequeue("w3");
    assert.equal(again?.attemptNumber, 1, "the same attempt continues");
    await api.start("w3", again!);
    await api.complete("w3", again!, { ok: true });
    assert.equal((await api.retrieve(id)).attemptCount, 1);
  });

  test("1,000 runs waiting on tokens hold no slot, and completing one resumes exactly that run", async () => {
    const runIds: string[] = [];
    for (let offset = 0; offset < 1000; offset += 500) {
      const items = Array.from({ length: 500 }, (_, i) => ({ task: "durable", payload: { n: offset + i } }));
      await api.ok("POST", "/api/v2/tasks/batch", { items });
    }
    const tokens = new Map<string, string>();
    for (;;) {
      const runs = await api.dequeue("w1", 100);
      if (runs.length === 0) break;
      for (const run of runs) {
        const token = await api.ok("POST", "/api/v1/waitpoints/tokens", { timeout: "1d", tags: ["approval"] });
        await journal(run.id, 0, { op: "wait", kind: "wait", name: "wait.forToken", wait: { type: "TOKEN", tokenId: token.id } });
        assert.equal((await api.ok("POST", `/engine/v1/runs/${run.id}/suspend`, { workerId: "w1" })).suspended, true);
        tokens.set(run.id, token.id);
        runIds.push(run.id);
      }
    }
    assert.equal(runIds.length, 1000);
    assert.equal(await executing(), 0, "no run holds a slot while it waits");
    const [waiting] = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.runs where status = 'WAITING'`;
    assert.equal(waiting!.count, 1000);

    const chosen = runIds[617]!;
    const environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    const woken = api.ok("POST", "/engine/v1/dequeue", { workerId: "w2", maxRuns: 10, waitSeconds: 5 });
    while (t.app.ratchet.notifier.waiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    await api.ok("POST", `/api/v1/waitpoints/tokens/${tokens.get(chosen)}/complete`, { data: { approved: true } });
    const { runs } = await woken;
    assert.deepEqual(runs.map((run: { id: string }) => run.id), [chosen], "exactly that run resumes");
    const [still] = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.runs where status = 'WAITING'`;
    assert.equal(still!.count, 999);
    await api.start("w2", runs[0]);
    const answered = await api.ok("POST", `/engine/v1/runs/${chosen}/journal/0`, { workerId: "w2", op: "get" });
    assert.deepEqual(answered.entry.output, { approved: true });
    await api.complete("w2", runs[0], { ok: true });

    const listed = await api.ok("GET", "/api/v1/waitpoints/tokens?filter[status]=COMPLETED&filter[tags]=approval");
    assert.deepEqual(listed.data.map((token: { id: string }) => token.id), [tokens.get(chosen)]);
    const page = await api.ok("GET", "/api/v1/waitpoints/tokens?filter[status]=WAITING&page[size]=100");
    assert.equal(page.data.length, 100);
    assert.ok(page.pagination.next);
    await t.database.db.sql`update ratchet.runs set status = 'CANCELED' where status = 'WAITING'`;
  });

  test("a token completed through its callback URL resumes the run with the posted body", async () => {
    const { id } = await api.trigger("durable", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    const token = await api.ok("POST", "/api/v1/waitpoints/tokens", { idempotencyKey: "order-7" });
    assert.match(token.url, /\/api\/v1\/waitpoints\/tokens\/wp_[0-9a-z]{26}\/callback\/[0-9a-f]{64}$/);
    const cached = await api.ok("POST", "/api/v1/waitpoints/tokens", { idempotencyKey: "order-7" });
    assert.equal(cached.id, token.id);
    assert.equal(cached.isCached, true);
    assert.equal(cached.url, token.url);
    await journal(id, 0, { op: "wait", kind: "wait", name: "wait.forToken", wait: { type: "TOKEN", tokenId: token.id } });
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1" });

    const path = new URL(token.url).pathname;
    const forged = await t.app.inject({ method: "POST", url: path.replace(/[0-9a-f]{64}$/, "0".repeat(64)), payload: "{}", headers: { "content-type": "application/json" } });
    assert.equal(forged.statusCode, 404, "a wrong signature completes nothing");
    const posted = await t.app.inject({ method: "POST", url: path, payload: JSON.stringify({ status: "paid", amount: 12 }), headers: { "content-type": "application/json" } });
    assert.equal(posted.statusCode, 200);
    assert.deepEqual(posted.json(), { success: true });
    assert.equal((await api.retrieve(id)).status, "QUEUED");
    const retrieved = await api.ok("GET", `/api/v1/waitpoints/tokens/${token.id}`);
    assert.equal(retrieved.status, "COMPLETED");
    assert.deepEqual(JSON.parse(retrieved.output), { status: "paid", amount: 12 });

    const [resumed] = await api.dequeue("w1");
    await api.start("w1", resumed!);
    const entry = (await journal(id, 0, { op: "get" })).entry;
    assert.deepEqual(entry.output, { status: "paid", amount: 12 });
    await api.complete("w1", resumed!, { ok: true });
  });

  test("a token that times out resumes the run with an error", async () => {
    const { id } = await api.trigger("durable", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    const token = await api.ok("POST", "/api/v1/waitpoints/tokens", { timeout: "1h" });
    await journal(id, 0, { op: "wait", kind: "wait", name: "wait.forToken", wait: { type: "TOKEN", tokenId: token.id } });
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1" });
    clock.advance(3_600_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "QUEUED");
    assert.equal((await api.ok("GET", `/api/v1/waitpoints/tokens/${token.id}`)).status, "TIMED_OUT");
    const late = await api.request("POST", `/api/v1/waitpoints/tokens/${token.id}/complete`, { data: 1 });
    assert.equal(late.status, 409);
    const [resumed] = await api.dequeue("w1");
    await api.start("w1", resumed!);
    const entry = (await journal(id, 0, { op: "get" })).entry;
    assert.equal(entry.isError, true);
    await api.complete("w1", resumed!, { ok: true });
  });

  test("a parent waiting on a child resumes with the child's result; a waiting parent's suspend is refused once all is done", async () => {
    const parent = await api.trigger("durable", { role: "parent" });
    const [parentRun] = await api.dequeue("w1");
    await api.start("w1", parentRun!);
    const child = await api.trigger("durable", { role: "child" }, { parentRunId: parent.id });
    await journal(parent.id, 0, { op: "wait", kind: "trigger", name: "triggerAndWait:durable", wait: { type: "RUN", childRunId: child.id } });
    await api.ok("POST", `/engine/v1/runs/${parent.id}/suspend`, { workerId: "w1" });
    const [childRun] = await api.dequeue("w2");
    assert.equal(childRun?.id, child.id);
    await api.complete("w2", childRun!, { ok: false, skipRetrying: true, error: { type: "BUILT_IN_ERROR", name: "Error", message: "child broke" } });
    assert.equal((await api.retrieve(parent.id)).status, "QUEUED", "the child's end resumed the parent");
    const [resumed] = await api.dequeue("w1");
    await api.start("w1", resumed!);
    const entry = (await journal(parent.id, 0, { op: "get" })).entry;
    assert.equal(entry.isError, true);
    assert.equal(entry.output.ok, false);
    assert.equal(entry.output.id, child.id);
    assert.equal(entry.output.error.message, "child broke");
    const related = await api.retrieve(parent.id);
    assert.equal(related.relatedRuns.children[0].id, child.id);
    const childView = await api.retrieve(child.id);
    assert.equal(childView.relatedRuns.parent.id, parent.id);
    assert.equal(childView.depth, 1);

    // Nothing left to wait for: suspending is refused and the run carries on.
    assert.deepEqual(await api.ok("POST", `/engine/v1/runs/${parent.id}/suspend`, { workerId: "w1" }), { suspended: false });
    await api.complete("w1", resumed!, { ok: true });
  });

  test("a child canceled while its worker hands it back still resumes the parent waiting for it", async () => {
    const parent = await api.trigger("durable", { role: "parent" });
    const [parentRun] = await api.dequeue("w1");
    await api.start("w1", parentRun!);
    const child = await api.trigger("durable", { role: "child" }, { parentRunId: parent.id });
    await journal(parent.id, 0, { op: "wait", kind: "trigger", name: "triggerAndWait:durable", wait: { type: "RUN", childRunId: child.id } });
    await api.ok("POST", `/engine/v1/runs/${parent.id}/suspend`, { workerId: "w1" });
    const [childRun] = await api.dequeue("w2");
    await api.start("w2", childRun!);
    await api.ok("POST", `/api/v2/runs/${child.id}/cancel`);
    const released = await api.ok("POST", "/engine/v1/release", { workerId: "w2", runs: [{ runId: child.id, attemptNumber: 1 }] });
    assert.equal(released.released, 0, "a canceled run is not handed back to the queue");
    assert.equal((await api.retrieve(child.id)).status, "CANCELED");
    assert.equal((await api.retrieve(parent.id)).status, "QUEUED", "the parent resumed with the child's result");
    const [resumed] = await api.dequeue("w1");
    await api.start("w1", resumed!);
    const entry = (await journal(parent.id, 0, { op: "get" })).entry;
    assert.equal(entry.output.status, "CANCELED");
    await api.complete("w1", resumed!, { ok: true });
  });

  test("children of a batch finishing at the same moment still resume the parent waiting for them", async () => {
    for (let round = 0; round < 3; round += 1) {
      const parent = await api.trigger("durable", { round });
      const [parentRun] = await api.dequeue("w1");
      assert.equal(parentRun?.id, parent.id);
      await api.start("w1", parentRun!);
      const batch = await api.ok("POST", "/api/v2/tasks/batch", {
        items: Array.from({ length: 30 }, (_, n) => ({ task: "durable", payload: { n }, options: { parentRunId: parent.id } })),
      });
      const children = await api.dequeue("w2", 100);
      assert.equal(children.length, 30);
      // The wait is recorded while the children finish, all at once, on separate connections.
      await Promise.all([
        journal(parent.id, 0, { op: "wait", kind: "batch", name: "batchTriggerAndWait:durable", wait: { type: "BATCH", batchId: batch.id } }),
        ...children.map((child) => api.complete("w2", child, { ok: true, output: child.payload })),
      ]);
      const [waitpoint] = await t.database.db.sql<{ status: string }[]>`
        select w.status from ratchet.journal j join ratchet.waitpoints w on w.id = j.waitpoint_id
        where j.run_id = ${fromPublicIdOrThrow(parent.id)} and j.position = 0`;
      assert.equal(waitpoint?.status, "COMPLETED", "the batch's wait completed: no wake-up was lost");
      const entry = (await journal(parent.id, 0, { op: "get" })).entry;
      assert.equal(entry.status, "COMPLETED");
      assert.deepEqual(
        entry.output.map((item: { ok: boolean }) => item.ok),
        Array.from({ length: 30 }, () => true),
      );
      await api.complete("w1", parentRun!, { ok: true });
    }
  });
});

function fromPublicIdOrThrow(id: string): string {
  const uuid = fromPublicId("run", id);
  if (!uuid) throw new Error(`not a run id: ${id}`);
  return uuid;
}
