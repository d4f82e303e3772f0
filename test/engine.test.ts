import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { dequeue } from "../server/engine/execution.ts";
import { sweepOnce } from "../server/engine/sweepers.ts";
import { fromPublicId } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("run engine", () => {
  let t: TestApp;
  let api: ApiClient;
  const clock = new ManualClock("2026-03-01T12:00:00.000Z");
  const sweep = () => sweepOnce(t.app.ratchet.engine, t.app.ratchet.settings);

  before(async () => {
    t = await createTestApp({ clock });
    api = new ApiClient(t.app, await t.key("prod"));
  });
  after(() => t.close());
  beforeEach(() => clock.advance(60_000));

  test("trigger → dequeue → start → complete, and the run shows its output", async () => {
    await api.register([{ id: "hello" }]);
    const { id, isCached } = await api.trigger("hello", { name: "Ada" }, { tags: ["user:1"] });
    assert.match(id, /^run_[0-9a-z]{26}$/);
    assert.equal(isCached, false);
    assert.equal((await api.retrieve(id)).status, "QUEUED");

    const [run] = await api.dequeue("w1");
    assert.equal(run?.id, id);
    assert.deepEqual(run?.payload, { name: "Ada" });
    assert.equal((await api.retrieve(id)).status, "DEQUEUED");
    await api.start("w1", run!);
    assert.equal((await api.retrieve(id)).status, "EXECUTING");
    const result = await api.complete("w1", run!, { ok: true, output: { greeting: "hi Ada" } });
    assert.equal(result.status, "COMPLETED");

    const retrieved = await api.retrieve(id);
    assert.equal(retrieved.status, "COMPLETED");
    assert.deepEqual(retrieved.output, { greeting: "hi Ada" });
    assert.deepEqual(retrieved.payload, { name: "Ada" });
    assert.equal(retrieved.isCompleted, true);
    assert.equal(retrieved.isSuccess, true);
    assert.deepEqual(retrieved.tags, ["user:1"]);
    assert.equal(retrieved.attemptCount, 1);
    assert.deepEqual(retrieved.relatedRuns, {});
  });

  test("a completion for a lease that is no longer held is rejected, so no run completes twice", async () => {
    await api.register([{ id: "once" }]);
    const { id } = await api.trigger("once", {});
    const [run] = await api.dequeue("w1");
    assert.equal(run?.id, id);
    const first = await api.complete("w1", run!, { ok: true, output: 1 });
    assert.equal(first.accepted, true);
    const second = await api.complete("w1", run!, { ok: true, output: 2 });
    assert.equal(second.accepted, false);
    assert.equal(second.code, "CONFLICT");
    assert.deepEqual((await api.retrieve(id)).output, 1);
    const wrongWorker = await api.request("POST", `/engine/v1/runs/${id}/attempts/1/start`, { workerId: "w2" });
    assert.equal(wrongWorker.status, 409);
    assert.equal(wrongWorker.headers["x-should-retry"], "false");
  });

  test("a task no version has waits PENDING_VERSION and is queued when a version registers it", async () => {
    const { id } = await api.trigger("later-task", { n: 1 });
    assert.equal((await api.retrieve(id)).status, "PENDING_VERSION");
    assert.deepEqual(await api.dequeue("w1"), []);
    const registered = await api.register([{ id: "later-task" }]);
    assert.equal(registered.queuedPendingRuns, 1);
    assert.equal((await api.retrieve(id)).status, "QUEUED");
    const [run] = await api.dequeue("w1");
    assert.equal(run?.id, id);
    await api.complete("w1", run!, { ok: true });
  });

  test("a run triggered before its version, for a task on a named or shared queue, runs once the version registers", async () => {
    const named = await api.trigger("later-named", { n: 1 });
    const shared = await api.trigger("later-shared", { n: 2 });
    const delayed = await api.trigger("later-delayed", { n: 3 }, { delay: "1m" });
    assert.equal((await api.retrieve(named.id)).status, "PENDING_VERSION");
    const registered = await api.register(
      [
        { id: "later-named", queue: { name: "emails", concurrencyLimit: 2 } },
        { id: "later-shared", queue: { name: "shared" } },
        { id: "later-delayed", queue: { name: "shared" } },
      ],
      [{ name: "shared", concurrencyLimit: 5 }],
    );
    assert.equal(registered.queuedPendingRuns, 2);
    assert.equal((await api.retrieve(named.id)).status, "QUEUED");
    assert.equal((await api.retrieve(shared.id)).status, "QUEUED");
    clock.advance(61_000);
    await sweep();
    assert.equal((await api.retrieve(delayed.id)).status, "QUEUED");
    const runs = await api.dequeue("w1");
    assert.deepEqual(runs.map((run) => run.id).sort(), [named.id, shared.id, delayed.id].sort());
    for (const run of runs) await api.complete("w1", run, { ok: true });
    const [queues] = await t.database.db.sql<[{ names: string[] }]>`
      select array_agg(queue_name order by queue_name) as names from ratchet.runs
      where id = any(${runs.map((run) => fromPublicId("run", run.id)!)}::uuid[])`;
    assert.deepEqual(queues!.names, ["emails", "shared", "shared"]);
  });

  test("the same idempotency key returns the existing run until its TTL passes or it is reset", async () => {
    await api.register([{ id: "idem" }]);
    const first = await api.trigger("idem", { a: 1 }, { idempotencyKey: "k1", idempotencyKeyTTL: "10m" });
    const again = await api.trigger("idem", { a: 2 }, { idempotencyKey: "k1" });
    assert.equal(again.id, first.id);
    assert.equal(again.isCached, true);
    const byHeader = await api.ok("POST", "/api/v1/tasks/idem/trigger", { payload: {} }, { "idempotency-key": "k1" });
    assert.equal(byHeader.id, first.id);

    clock.advance(11 * 60_000);
    const afterTtl = await api.trigger("idem", { a: 3 }, { idempotencyKey: "k1", idempotencyKeyTTL: "10m" });
    assert.notEqual(afterTtl.id, first.id);
    assert.equal(afterTtl.isCached, false);

    await api.ok("POST", "/api/v1/idempotencyKeys/k1/reset", { taskIdentifier: "idem" });
    const afterReset = await api.trigger("idem", { a: 4 }, { idempotencyKey: "k1" });
    assert.notEqual(afterReset.id, afterTtl.id);
    const unknown = await api.request("POST", "/api/v1/idempotencyKeys/nope/reset", { taskIdentifier: "idem" });
    assert.equal(unknown.status, 404);
    for (const run of await api.dequeue("w1", 100)) await api.complete("w1", run, { ok: true });
  });

  test("a delayed run waits until the clock passes its delay, then can be rescheduled no more", async () => {
    await api.register([{ id: "delayed" }]);
    const { id } = await api.trigger("delayed", {}, { delay: "1h" });
    const run = await api.retrieve(id);
    assert.equal(run.status, "DELAYED");
    assert.equal(run.delayedUntil, new Date(clock.now().getTime() + 3_600_000).toISOString());
    const rescheduled = await api.ok("POST", `/api/v1/runs/${id}/reschedule`, { delay: "2h" });
    assert.equal(rescheduled.delayedUntil, new Date(clock.now().getTime() + 7_200_000).toISOString());

    clock.advance(3_600_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "DELAYED");
    clock.advance(3_600_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "QUEUED");
    const refused = await api.request("POST", `/api/v1/runs/${id}/reschedule`, { delay: "1h" });
    assert.equal(refused.status, 422);
    const [dequeued] = await api.dequeue("w1");
    assert.equal(dequeued?.id, id);
    await api.complete("w1", dequeued!, { ok: true });
  });

  test("a run not started within its TTL expires", async () => {
    await api.register([{ id: "ttl" }]);
    const { id } = await api.trigger("ttl", {}, { ttl: "5m" });
    clock.advance(4 * 60_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "QUEUED");
    clock.advance(2 * 60_000);
    await sweep();
    const run = await api.retrieve(id);
    assert.equal(run.status, "EXPIRED");
    assert.equal(run.isCompleted, true);
    assert.deepEqual(await api.dequeue("w1"), []);
  });

  test("a failed attempt is retried with Trigger.dev's backoff, then fails for good", async () => {
    await api.register([{ id: "flaky", retry: { maxAttempts: 3, minTimeoutInMs: 1000, factor: 2, randomize: false } }]);
    const { id } = await api.trigger("flaky", {});
    const fail = { ok: false, error: { type: "BUILT_IN_ERROR", name: "Error", message: "boom", stackTrace: "Error: boom" } };

    let [run] = await api.dequeue("w1");
    let result = await api.complete("w1", run!, fail);
    assert.equal(result.status, "QUEUED");
    assert.equal(result.retryAt, new Date(clock.now().getTime() + 1000).toISOString());
    assert.deepEqual(await api.dequeue("w1"), [], "not before the backoff");
    clock.advance(1000);
    [run] = await api.dequeue("w1");
    assert.equal(run?.attemptNumber, 2);
    result = await api.complete("w1", run!, fail);
    assert.equal(result.retryAt, new Date(clock.now().getTime() + 2000).toISOString());
    clock.advance(2000);
    [run] = await api.dequeue("w1");
    assert.equal(run?.attemptNumber, 3);
    result = await api.complete("w1", run!, fail);
    assert.equal(result.status, "FAILED");
    const retrieved = await api.retrieve(id);
    assert.equal(retrieved.status, "FAILED");
    assert.equal(retrieved.isFailed, true);
    assert.equal(retrieved.attemptCount, 3);
    assert.deepEqual(retrieved.error, { message: "boom", name: "Error", stackTrace: "Error: boom" });
  });

  test("skipRetrying (AbortTaskRunError) and a crash end the run at once", async () => {
    await api.register([{ id: "fatal", retry: { maxAttempts: 5 } }]);
    const aborted = await api.trigger("fatal", {});
    let [run] = await api.dequeue("w1");
    assert.equal((await api.complete("w1", run!, { ok: false, skipRetrying: true, error: { message: "no" } })).status, "FAILED");
    assert.equal((await api.retrieve(aborted.id)).status, "FAILED");

    const crashed = await api.trigger("fatal", {});
    [run] = await api.dequeue("w1");
    const result = await api.complete("w1", run!, { ok: false, status: "CRASHED", error: { message: "exit 1", code: "TASK_PROCESS_EXITED_WITH_NON_ZERO_CODE" } });
    assert.equal(result.status, "CRASHED");
    assert.equal((await api.retrieve(crashed.id)).status, "CRASHED");
  });

  test("a lease that is not renewed is lost: the attempt fails as 'worker lost' and is retried", async () => {
    await api.register([{ id: "lease", retry: { maxAttempts: 2, minTimeoutInMs: 0, randomize: false } }]);
    const { id } = await api.trigger("lease", {});
    const [run] = await api.dequeue("w-gone");
    await api.start("w-gone", run!);
    clock.advance(30_000);
    const beat = await api.ok("POST", "/engine/v1/heartbeat", { workerId: "w-gone", runs: [{ runId: id, attemptNumber: 1 }] });
    assert.deepEqual(beat.lost, []);
    clock.advance(59_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "EXECUTING", "the heartbeat extended the lease");
    clock.advance(2_000);
    const swept = await sweep();
    assert.equal(swept.leasesLost, 1);
    assert.equal((await api.retrieve(id)).status, "QUEUED");
    const late = await api.complete("w-gone", run!, { ok: true });
    assert.equal(late.accepted, false, "the lost worker cannot complete the run");
    const [retry] = await api.dequeue("w2");
    assert.equal(retry?.attemptNumber, 2);
    await api.complete("w2", retry!, { ok: true });
    assert.equal((await api.retrieve(id)).status, "COMPLETED");
  });

  test("a heartbeat racing a retry in place does not report the new attempt's lease as lost", async () => {
    await api.register([{ id: "racy", retry: { maxAttempts: 3, minTimeoutInMs: 10, randomize: false } }]);
    const { id } = await api.trigger("racy", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    const sql = t.database.db.sql;
    const waitingOnLocks = async (count: number) => {
      for (;;) {
        const [row] = await sql<[{ n: number }]>`
          select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
        if (row!.n >= count) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    // Hold the execution row so that the completion queues on it first and the heartbeat behind it:
    // the heartbeat then sees the old row deleted by the completion's transaction.
    let completion!: Promise<{ nextAttemptNumber?: number }>;
    let beat!: Promise<{ lost: string[]; held: string[] }>;
    await sql.begin(async (tx) => {
      await tx`select 1 from ratchet.executions where run_id = ${fromPublicId("run", id)} for update`;
      completion = api.complete("w1", run!, { ok: false, status: "FAILED", error: { message: "try again" }, retryInPlaceWithinMs: 1_000 });
      await waitingOnLocks(1);
      beat = api.ok("POST", "/engine/v1/heartbeat", { workerId: "w1", runs: [{ runId: id, attemptNumber: 1 }] });
      await waitingOnLocks(2);
    });
    assert.equal((await completion).nextAttemptNumber, 2);
    const answer = await beat;
    assert.deepEqual(answer.lost, [], "the run is still held by w1, on its next attempt");
    await api.start("w1", { id, attemptNumber: 2 });
    await api.complete("w1", { id, attemptNumber: 2 }, { ok: true });
    assert.equal((await api.retrieve(id)).status, "COMPLETED");
  });

  test("maxDuration: an attempt past its deadline ends TIMED_OUT and is not retried", async () => {
    await api.register([{ id: "slow", maxDuration: 10, retry: { maxAttempts: 5 } }]);
    const { id } = await api.trigger("slow", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    clock.advance(20_000);
    await api.ok("POST", "/engine/v1/heartbeat", { workerId: "w1", runs: [{ runId: id, attemptNumber: 1 }] });
    clock.advance(10_000);
    await sweep();
    const timedOut = await api.retrieve(id);
    assert.equal(timedOut.status, "TIMED_OUT");
    assert.equal(timedOut.attemptCount, 1);
  });

  test("cancel: a queued run at once; an executing run through its worker", async () => {
    await api.register([{ id: "cancel-me" }]);
    const queued = await api.trigger("cancel-me", {});
    await api.ok("POST", `/api/v2/runs/${queued.id}/cancel`);
    assert.equal((await api.retrieve(queued.id)).status, "CANCELED");
    assert.deepEqual(await api.dequeue("w1"), []);

    const executing = await api.trigger("cancel-me", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    await api.ok("POST", `/api/v2/runs/${executing.id}/cancel`);
    const beat = await api.ok("POST", "/engine/v1/heartbeat", { workerId: "w1", runs: [{ runId: executing.id, attemptNumber: 1 }] });
    assert.deepEqual(beat.cancel, [executing.id]);
    await api.complete("w1", run!, { ok: false, status: "CANCELED" });
    const canceled = await api.retrieve(executing.id);
    assert.equal(canceled.status, "CANCELED");
    assert.equal(canceled.isCancelled, true);
  });

  test("a waiting heartbeat sleeps through the worker's own completions and answers a cancel of any run it holds", async () => {
    await api.register([{ id: "beat-through" }]);
    const environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    const a = await api.trigger("beat-through", { n: 1 });
    const b = await api.trigger("beat-through", { n: 2 });
    const named = await api.dequeue("w-beat");
    assert.deepEqual(named.map((run) => run.id).sort(), [a.id, b.id].sort());
    for (const run of named) await api.start("w-beat", run);
    const beat = api.ok("POST", "/engine/v1/heartbeat", { workerId: "w-beat", runs: named.map((run) => ({ runId: run.id, attemptNumber: 1 })), waitSeconds: 30 });
    while (t.app.ratchet.notifier.heartbeatsWaiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    // Both named runs complete through this worker: it knows, so the heartbeat keeps waiting...
    for (const run of named) await api.complete("w-beat", run, { ok: true });
    // ...and a run it received afterwards, not named by this heartbeat, is canceled: that it answers.
    const c = await api.trigger("beat-through", { n: 3 });
    const [later] = await api.dequeue("w-beat");
    assert.equal(later?.id, c.id);
    await api.start("w-beat", later!);
    await api.ok("POST", `/api/v2/runs/${c.id}/cancel`);
    const answer = await beat;
    assert.deepEqual(answer.cancel, [c.id], "the cancel of a run received after the heartbeat was sent");
    await api.complete("w-beat", later!, { ok: false, status: "CANCELED" });
    assert.equal((await api.retrieve(c.id)).status, "CANCELED");
  });

  test("a cancel the worker is already acting on does not end its heartbeats at once; a new cancel does", async () => {
    await api.register([{ id: "beat-canceling" }]);
    const environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    const slow = await api.trigger("beat-canceling", { n: 1 });
    const other = await api.trigger("beat-canceling", { n: 2 });
    const runs = await api.dequeue("w-cancel");
    for (const run of runs) await api.start("w-cancel", run);
    await api.ok("POST", `/api/v2/runs/${slow.id}/cancel`);
    const leases = runs.map((run) => ({ runId: run.id, attemptNumber: 1 }));
    // Not yet told: answered at once with the cancel.
    const first = await api.ok("POST", "/engine/v1/heartbeat", { workerId: "w-cancel", runs: leases, waitSeconds: 30 });
    assert.deepEqual(first.cancel, [slow.id]);
    // Told, and saying so while the run's onCancel goes on: the heartbeat waits...
    let answered = false;
    const beat = api
      .ok("POST", "/engine/v1/heartbeat", { workerId: "w-cancel", runs: leases.map((lease) => (lease.runId === slow.id ? { ...lease, canceling: true } : lease)), waitSeconds: 30 })
      .finally(() => {
        answered = true;
      });
    while (t.app.ratchet.notifier.heartbeatsWaiting(environmentId) === 0 && !answered) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, false, "waiting, not answering the known cancel again");
    // ...until another of its runs is canceled.
    await api.ok("POST", `/api/v2/runs/${other.id}/cancel`);
    const answer = await beat;
    assert.deepEqual([...answer.cancel].sort(), [slow.id, other.id].sort());
    for (const run of runs) await api.complete("w-cancel", run, { ok: false, status: "CANCELED" });
  });

  test("a heartbeat's canceling flag is checked: not a boolean is a 400 naming it", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/engine/v1/heartbeat",
      headers: { authorization: `Bearer ${await t.key("dev")}` },
      payload: { workerId: "w-x", runs: [{ runId: "run_x", attemptNumber: 1, canceling: "yes" }] },
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.json().error, /canceling/);
  });

  test("a waiting heartbeat answers at once when a lease it named is taken away, the others still held", async () => {
    await api.register([{ id: "beat-deadline", maxDuration: 10 }, { id: "beat-plain" }]);
    const environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    const slow = await api.trigger("beat-deadline", {});
    const plain = await api.trigger("beat-plain", {});
    const runs = await api.dequeue("w-lose");
    assert.deepEqual(runs.map((run) => run.id).sort(), [slow.id, plain.id].sort());
    for (const run of runs) await api.start("w-lose", run);
    const started = Date.now();
    const beat = api.ok("POST", "/engine/v1/heartbeat", { workerId: "w-lose", runs: runs.map((run) => ({ runId: run.id, attemptNumber: 1 })), waitSeconds: 30 });
    while (t.app.ratchet.notifier.heartbeatsWaiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    clock.advance(30_000);
    assert.equal((await sweep()).leasesLost, 1, "past its maxDuration");
    const answer = await beat;
    assert.deepEqual(answer.lost, [slow.id]);
    assert.deepEqual(answer.cancel, []);
    assert.ok(Date.now() - started < 15_000, "answered when the lease went, not after its wait (20 s)");
    await api.complete("w-lose", runs.find((run) => run.id === plain.id)!, { ok: true });
  });

  test("a dequeue with start: true hands out runs already EXECUTING, with their maxDuration counting", async () => {
    await api.register([{ id: "started-at-once", maxDuration: 30 }]);
    const { id } = await api.trigger("started-at-once", {});
    const { runs } = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w1", maxRuns: 5, waitSeconds: 0, start: true });
    assert.deepEqual(runs.map((run: { id: string }) => run.id), [id]);
    const started = await api.retrieve(id);
    assert.equal(started.status, "EXECUTING");
    assert.equal(started.startedAt, clock.now().toISOString());
    const [execution] = await t.database.db.sql<[{ deadline: Date }]>`
      select deadline_at as deadline from ratchet.executions where run_id = ${fromPublicId("run", id)}`;
    assert.equal(execution!.deadline.toISOString(), new Date(clock.now().getTime() + (30 + 15) * 1000).toISOString());
    await api.complete("w1", runs[0], { ok: true, output: 1 });
    assert.equal((await api.retrieve(id)).status, "COMPLETED");
  });

  test("a completion asking for next runs gets one started run per slot it frees, within the limits; without it, none", async () => {
    await api.register([{ id: "next-runs", queue: { concurrencyLimit: 2 }, retry: { maxAttempts: 2 } }]);
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push((await api.trigger("next-runs", { i })).id);
    const complete = (completions: unknown[], next?: unknown) =>
      api.ok("POST", "/engine/v1/complete", { workerId: "w-next", completions, ...(next ? { next } : {}) });
    const done = (run: { id: string; attemptNumber: number }, extra: Record<string, unknown> = { ok: true }) => ({ runId: run.id, attemptNumber: run.attemptNumber, ...extra });

    const { runs: first } = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w-next", maxRuns: 10, waitSeconds: 0, start: true });
    assert.equal(first.length, 2, "the queue's limit");
    // The old shape: results only, and the slot stays for the worker's own dequeue.
    const old = await complete([done(first[0])]);
    assert.equal(old.results[0].status, "COMPLETED");
    assert.equal(old.runs, undefined);
    const [third] = await api.dequeue("w-next", 10);
    assert.ok(third);
    await api.start("w-next", third);
    // The manual clock gives every run the same time, so the order among them is not asserted.
    const handedOut = new Set([first[0].id, first[1].id, third.id]);

    // Two completions free two slots: two runs come back, started, and no more than the limit allows.
    const both = await complete([done(first[1]), done(third!)], { maxRuns: 100 });
    assert.deepEqual(both.results.map((result: { status: string }) => result.status), ["COMPLETED", "COMPLETED"]);
    assert.equal(both.runs.length, 2);
    for (const run of both.runs) {
      assert.ok(!handedOut.has(run.id), "a run not handed out before");
      handedOut.add(run.id);
      assert.equal((await api.retrieve(run.id)).status, "EXECUTING");
      assert.equal(run.taskIdentifier, "next-runs");
      assert.equal(run.attemptNumber, 1);
      assert.equal(run.envvarsVersion, 0, "no variables set yet: version 0, as GET /engine/v1/envvars says");
    }

    // A retry in place keeps its slot: of two completions, only the other one's slot is filled.
    const retryInPlace = { ok: false, error: { message: "again" }, retryDelayMs: 0, retryInPlaceWithinMs: 30_000 };
    const mixed = await complete([done(both.runs[0], retryInPlace), done(both.runs[1])], { maxRuns: 2 });
    assert.equal(mixed.results[0].nextAttemptNumber, 2);
    assert.equal(mixed.runs.length, 1);
    assert.ok(!handedOut.has(mixed.runs[0].id));
    handedOut.add(mixed.runs[0].id);
    assert.deepEqual(await api.dequeue("w-next", 10), [], "the limit is full: the retry and the new run");

    // A refused completion (the lease is gone) claims nothing beyond the slots really freed.
    const refused = await complete([done(both.runs[1])], { maxRuns: 1 });
    assert.equal(refused.results[0].accepted, false);
    assert.deepEqual(refused.runs, [], "the limit is still full");

    const retried = { id: both.runs[0].id, attemptNumber: 2 };
    await api.start("w-next", retried);
    const last = await complete([done(retried), done(mixed.runs[0])], { maxRuns: 2 });
    assert.equal(last.runs.length, 1, "the one run left");
    assert.ok(!handedOut.has(last.runs[0].id));
    await complete([done(last.runs[0])]);
    for (const id of ids) assert.equal((await api.retrieve(id)).status, "COMPLETED");

    const bad = await api.request("POST", "/engine/v1/complete", { workerId: "w-next", completions: [done(last.runs[0])], next: { maxRuns: 0 } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /next\.maxRuns/);
  });

  test("a success reported after a cancel request still ends the run CANCELED", async () => {
    await api.register([{ id: "late-success" }]);
    const { id } = await api.trigger("late-success", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    await api.ok("POST", `/api/v2/runs/${id}/cancel`);
    const result = await api.complete("w1", run!, { ok: true, output: { done: true } });
    assert.equal(result.status, "CANCELED");
    assert.equal((await api.retrieve(id)).status, "CANCELED");
    const again = await api.complete("w1", run!, { ok: true });
    assert.equal(again.accepted, false, "the attempt ended once");
  });

  test("runs claimed for a worker that hung up meanwhile go straight back to the queue", async () => {
    await api.register([{ id: "hung-up" }]);
    // A first, empty dequeue records that a worker was seen, so the next one goes straight to the claim.
    assert.deepEqual(await api.dequeue("w-gone"), []);
    const { id } = await api.trigger("hung-up", {});
    const sql = t.database.db.sql;
    const [environment] = await sql<[{ id: string }]>`
      select environment_id as id from ratchet.runs where id = ${fromPublicId("run", id)}`;
    const gone = new AbortController();
    let claimed!: Promise<unknown[]>;
    // Hold the environment's row so the claim waits; the worker leaves while it does.
    await sql.begin(async (tx) => {
      await tx`select 1 from ratchet.environments where id = ${environment!.id} for update`;
      claimed = dequeue(t.app.ratchet.engine, t.app.ratchet.settings, {
        environmentId: environment!.id,
        workerId: "w-gone",
        max: 5,
        start: true,
        waitMs: 0,
        signal: gone.signal,
      });
      for (;;) {
        const [row] = await sql<[{ n: number }]>`
          select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
        if (row!.n >= 1) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      gone.abort();
    });
    assert.deepEqual(await claimed, [], "nothing is handed to a worker that is gone");
    const run = await api.retrieve(id);
    assert.equal(run.status, "QUEUED");
    assert.equal(run.attemptCount, 0, "no attempt spent");
    const [next] = await api.dequeue("w2");
    assert.equal(next?.id, id);
    assert.equal(next?.attemptNumber, 1);
    await api.complete("w2", next!, { ok: true });
  });

  test("replay creates a new run with the same task, payload and options", async () => {
    await api.register([{ id: "replay-me" }]);
    const original = await api.trigger("replay-me", { x: 1 }, { tags: ["a"], concurrencyKey: "ck" });
    const replay = await api.ok("POST", `/api/v1/runs/${original.id}/replay`);
    assert.notEqual(replay.id, original.id);
    const run = await api.retrieve(replay.id);
    assert.deepEqual(run.payload, { x: 1 });
    assert.deepEqual(run.tags, ["a"]);
    assert.equal(run.concurrencyKey, "ck");
    for (const dequeued of await api.dequeue("w1", 100)) await api.complete("w1", dequeued, { ok: true });
  });

  test("debounce collapses triggers into one run; trailing keeps the last payload, never past maxDelay", async () => {
    await api.register([{ id: "debounced" }]);
    const debounce = { key: "user-1", delay: "10s", mode: "trailing", maxDelay: "25s" };
    const first = await api.trigger("debounced", { v: 1 }, { debounce });
    const start = clock.now().getTime();
    clock.advance(8_000);
    const second = await api.trigger("debounced", { v: 2 }, { debounce });
    assert.equal(second.id, first.id);
    clock.advance(8_000);
    await api.trigger("debounced", { v: 3 }, { debounce });
    clock.advance(8_000);
    await api.trigger("debounced", { v: 4 }, { debounce });
    const run = await api.retrieve(first.id);
    assert.equal(run.status, "DELAYED");
    assert.deepEqual(run.payload, { v: 4 });
    assert.equal(run.delayedUntil, new Date(start + 25_000).toISOString(), "capped at maxDelay");
    clock.advance(2_000);
    await sweep();
    assert.equal((await api.retrieve(first.id)).status, "QUEUED");
    const fresh = await api.trigger("debounced", { v: 5 }, { debounce });
    assert.notEqual(fresh.id, first.id, "a new debounce window starts once the run is queued");
    await api.ok("POST", `/api/v2/runs/${fresh.id}/cancel`);
    for (const dequeued of await api.dequeue("w1", 100)) await api.complete("w1", dequeued, { ok: true });
  });

  test("priority gives a head start in seconds", async () => {
    await api.register([{ id: "prio" }]);
    const low = await api.trigger("prio", { p: "low" });
    clock.advance(5_000);
    const high = await api.trigger("prio", { p: "high" }, { priority: 10 });
    const runs = await api.dequeue("w1", 2);
    assert.deepEqual(runs.map((run) => run.id), [high.id, low.id]);
    for (const run of runs) await api.complete("w1", run, { ok: true });
  });

  test("queue and concurrency-key limits are exact, and each key gets the queue's limit", async () => {
    await api.register([{ id: "limited", queue: { concurrencyLimit: 2 } }]);
    for (let i = 0; i < 4; i += 1) await api.trigger("limited", { i });
    for (let i = 0; i < 3; i += 1) await api.trigger("limited", { i }, { concurrencyKey: "tenant-a" });
    for (let i = 0; i < 3; i += 1) await api.trigger("limited", { i }, { concurrencyKey: "tenant-b" });
    const runs = await api.dequeue("w1", 100);
    assert.equal(runs.length, 6, "2 without a key + 2 for tenant-a + 2 for tenant-b");
    assert.deepEqual(await api.dequeue("w1", 100), []);
    await api.complete("w1", runs[0]!, { ok: true });
    assert.equal((await api.dequeue("w1", 100)).length, 1);
    const queue = await api.ok("GET", "/api/v1/queues/limited?type=task");
    assert.equal(queue.name, "task/limited");
    assert.equal(queue.concurrencyLimit, 2);
    assert.equal(queue.running, 6);
    assert.equal(queue.queued, 3);
    assert.equal((await api.ok("GET", `/api/v1/queues/${queue.id}?type=id`)).name, "task/limited", "a queue can be addressed by id");
    assert.equal((await api.request("GET", "/api/v1/queues/not-an-id?type=id")).status, 404);

    await api.ok("POST", "/api/v1/queues/task%252Flimited/pause", { type: "custom", action: "pause" });
    const leftover = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w1", maxRuns: 100 });
    assert.deepEqual(leftover.runs, []);
    const resumed = await api.ok("POST", "/api/v1/queues/limited/pause", { type: "task", action: "resume" });
    assert.equal(resumed.paused, false);
    const overridden = await api.ok("POST", "/api/v1/queues/limited/concurrency/override", { type: "task", concurrencyLimit: 0 });
    assert.equal(overridden.concurrency.override, 0);
    await api.ok("POST", "/api/v1/queues/limited/concurrency/reset", { type: "task" });
    const list = await api.ok("GET", "/api/v1/queues");
    assert.ok(list.data.some((item: { name: string }) => item.name === "task/limited"));
  });

  test("bad input gets a 4xx naming the field, and nothing is written", async () => {
    await api.register([{ id: "strict" }]);
    const [before] = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.runs`;
    const tooManyTags = await api.request("POST", "/api/v1/tasks/strict/trigger", { payload: {}, options: { tags: Array.from({ length: 11 }, (_, i) => `t${i}`) } });
    assert.equal(tooManyTags.status, 400);
    assert.match(tooManyTags.body.error, /options\.tags/);
    const longTag = await api.request("POST", "/api/v1/tasks/strict/trigger", { payload: {}, options: { tags: ["x".repeat(128)] } });
    assert.equal(longTag.status, 400);
    const bigPayload = await api.request("POST", "/api/v1/tasks/strict/trigger", { payload: "x".repeat(3 * 1024 * 1024 + 10) });
    assert.equal(bigPayload.status, 413);
    assert.match(bigPayload.body.error, /payload is \d+ bytes/);
    const bigMetadata = await api.request("POST", "/api/v1/tasks/strict/trigger", { payload: {}, options: { metadata: { blob: "x".repeat(300_000) } } });
    assert.equal(bigMetadata.status, 413);
    const badDelay = await api.request("POST", "/api/v1/tasks/strict/trigger", { payload: {}, options: { delay: "soon" } });
    assert.equal(badDelay.status, 400);
    assert.match(badDelay.body.error, /options\.delay/);
    const badKey = await api.request("POST", "/api/v1/tasks/strict/trigger", { payload: {}, options: { idempotencyKey: "k".repeat(2049) } });
    assert.equal(badKey.status, 400);
    const badPage = await api.request("GET", "/api/v1/runs?page[size]=101");
    assert.equal(badPage.status, 400);
    assert.match(badPage.body.error, /page\[size\]/);
    const badStatus = await api.request("GET", "/api/v1/runs?filter[status]=RUNNING");
    assert.equal(badStatus.status, 400);
    const [afterCount] = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.runs`;
    assert.equal(afterCount?.count, before?.count);
    const notFound = await api.request("GET", "/api/v3/runs/run_00000000000000000000000000");
    assert.equal(notFound.status, 404);
  });

  test("an empty JSON body is accepted where no body is needed, as the SDK sends one", async () => {
    const { id } = await api.trigger("empty-body-task", {});
    const response = await t.app.inject({
      method: "POST",
      url: `/api/v2/runs/${id}/cancel`,
      headers: { authorization: `Bearer ${api.key}`, "content-type": "application/json" },
      payload: "",
    });
    assert.equal(response.statusCode, 200);
  });

  test("a streamed batch creates good items, reports bad ones by index, and deduplicates a resend", async () => {
    await api.register([{ id: "batched" }]);
    const created = await api.ok("POST", "/api/v3/batches", { runCount: 3 });
    assert.equal(created.isCached, false);
    const ndjson = [
      { index: 0, task: "batched", payload: { i: 0 }, options: { tags: ["bulk-tag"], metadata: { step: 1 }, priority: 5, maxAttempts: 2, concurrencyKey: "ck-1" } },
      { index: 1, task: "batched", payload: { i: 1 }, options: { tags: Array.from({ length: 11 }, (_, i) => `t${i}`) } },
      { index: 2, task: "batched", payload: { i: 2 } },
    ]
      .map((item) => JSON.stringify(item))
      .join("\n");
    const send = (body: string) =>
      t.app.inject({
        method: "POST",
        url: `/api/v3/batches/${created.id}/items`,
        headers: { authorization: `Bearer ${api.key}`, "content-type": "application/x-ndjson" },
        payload: body,
      });
    const first = (await send(ndjson)).json();
    assert.equal(first.itemsAccepted, 2);
    assert.equal(first.sealed, true);
    const again = (await send(ndjson)).json();
    assert.equal(again.itemsAccepted, 0);
    assert.equal(again.itemsDeduplicated, 2);
    const batch = await api.ok("GET", `/api/v2/batches/${created.id}`);
    assert.equal(batch.status, "PARTIAL_FAILED");
    assert.equal(batch.runs.length, 2);
    assert.equal(batch.processing.errors.length, 1);
    const bulkRun = await api.retrieve(batch.runs[0]);
    assert.deepEqual(bulkRun.payload, { i: 0 }, "items written in bulk keep their payload…");
    assert.deepEqual(bulkRun.tags, ["bulk-tag"], "…tags…");
    assert.deepEqual(bulkRun.metadata, { step: 1 }, "…metadata…");
    assert.equal(bulkRun.concurrencyKey, "ck-1", "…and options");
    assert.equal(bulkRun.batchId, created.id);
    assert.equal(batch.processing.errors[0].index, 1);
    assert.match(batch.processing.errors[0].error, /tags/);

    const malformed = await send(`${JSON.stringify({ index: 0, task: "batched" })}\n{not json`);
    assert.equal(malformed.statusCode, 400);
    assert.match(malformed.json().error, /line 2/);
    const tooBig = await api.request("POST", "/api/v3/batches", { runCount: 1001 });
    assert.equal(tooBig.status, 400);
    assert.match(tooBig.body.error, /runCount/);
    const cached = await api.ok("POST", "/api/v3/batches", { runCount: 1, idempotencyKey: "b1" });
    const cachedAgain = await api.ok("POST", "/api/v3/batches", { runCount: 1, idempotencyKey: "b1" });
    assert.equal(cachedAgain.id, cached.id);
    assert.equal(cachedAgain.isCached, true);
    for (const run of await api.dequeue("w1", 100)) await api.complete("w1", run, { ok: true });
  });

  test("the run list filters by status, task, tag and time, and pages both ways", async () => {
    await api.register([{ id: "listed" }]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push((await api.trigger("listed", { i }, { tags: i % 2 === 0 ? ["even"] : ["odd"] })).id);
      clock.advance(1000);
    }
    const even = await api.ok("GET", "/api/v1/runs?filter[taskIdentifier]=listed&filter[tag]=even");
    assert.deepEqual(even.data.map((run: { id: string }) => run.id), [ids[4], ids[2], ids[0]]);
    const page1 = await api.ok("GET", "/api/v1/runs?filter[taskIdentifier]=listed&page[size]=2");
    assert.deepEqual(page1.data.map((run: { id: string }) => run.id), [ids[4], ids[3]]);
    assert.equal(page1.pagination.previous, undefined);
    const page2 = await api.ok("GET", `/api/v1/runs?filter[taskIdentifier]=listed&page[size]=2&page[after]=${page1.pagination.next}`);
    assert.deepEqual(page2.data.map((run: { id: string }) => run.id), [ids[2], ids[1]]);
    const back = await api.ok("GET", `/api/v1/runs?filter[taskIdentifier]=listed&page[size]=2&page[before]=${page2.pagination.previous}`);
    assert.deepEqual(back.data.map((run: { id: string }) => run.id), [ids[4], ids[3]]);
    const queued = await api.ok("GET", "/api/v1/runs?filter[taskIdentifier]=listed&filter[status]=QUEUED,COMPLETED");
    assert.equal(queued.data.length, 5);
    const none = await api.ok("GET", "/api/v1/runs?filter[taskIdentifier]=listed&filter[status]=FAILED");
    assert.deepEqual(none.data, []);
    const from = clock.now().getTime() - 2500;
    const recent = await api.ok("GET", `/api/v1/runs?filter[taskIdentifier]=listed&filter[createdAt][from]=${from}`);
    assert.deepEqual(recent.data.map((run: { id: string }) => run.id), [ids[4], ids[3]]);
    const injected = await api.ok("GET", "/api/v1/runs?filter[tag]=' or 1=1 --&filter[taskIdentifier]=listed");
    assert.deepEqual(injected.data, [], "filters are parameters, never SQL");
    for (const run of await api.dequeue("w1", 100)) await api.complete("w1", run, { ok: true });
  });

  test("a long-polling dequeue waits for work and wakes as soon as a run is triggered", async () => {
    await api.register([{ id: "wake-me" }]);
    const environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    let settled = false;
    const pending = api.ok("POST", "/engine/v1/dequeue", { workerId: "w-wait", maxRuns: 1, waitSeconds: 30 }).then((body) => {
      settled = true;
      return body;
    });
    while (t.app.ratchet.notifier.waiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, "the request is waiting, not answering empty");
    const { id } = await api.trigger("wake-me", {});
    const { runs } = await pending;
    assert.equal(runs[0]?.id, id);
    await api.complete("w-wait", runs[0]!, { ok: true });
  });
});

describe("shutdown", () => {
  test("closing the server answers long-polling workers at once instead of waiting out their poll", async () => {
    const t = await createTestApp();
    const api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "idle" }]);
    const environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    const polling = api.request("POST", "/engine/v1/dequeue", { workerId: "w-poll", maxRuns: 1, waitSeconds: 30 });
    while (t.app.ratchet.notifier.waiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    const closed = t.app.close();
    const answer = await polling;
    await closed;
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.runs, []);
    assert.ok(Date.now() - started < 5_000, "the poll was cut short, not waited out (30 s)");
    await t.database.drop();
  });
});
