// The waiter set behind the queue notifier's waitForWork and the stream notifier's wait: a wake
// settles only its key's waiters, timeouts and aborts settle one waiter, and settled keys are gone.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KeyedWaiters } from "../server/engine/keyed-waiters.ts";

describe("KeyedWaiters", () => {
  test("a wake settles the waiters of its key only, and leaves no empty key behind", async () => {
    const waiters = new KeyedWaiters();
    const settled: string[] = [];
    const a1 = waiters.wait("a", 60_000).then(() => settled.push("a1"));
    const a2 = waiters.wait("a", 60_000).then(() => settled.push("a2"));
    const b = waiters.wait("b", 60_000).then(() => settled.push("b"));
    assert.equal(waiters.count("a"), 2);
    waiters.wake("a");
    await Promise.all([a1, a2]);
    assert.deepEqual(settled.sort(), ["a1", "a2"]);
    assert.equal(waiters.count("a"), 0);
    assert.equal(waiters.count("b"), 1);
    waiters.wakeAll();
    await b;
    assert.equal(waiters.count("b"), 0);
  });

  test("a timeout or an abort settles that waiter alone", async () => {
    const waiters = new KeyedWaiters();
    const controller = new AbortController();
    const aborted = waiters.wait("k", 60_000, controller.signal);
    const timed = waiters.wait("k", 1);
    const staying = waiters.wait("k", 60_000);
    assert.equal(await timed, false, "a timeout is not a wake");
    assert.equal(waiters.count("k"), 2);
    controller.abort();
    assert.equal(await aborted, false, "nor is an abort");
    assert.equal(waiters.count("k"), 1);
    waiters.wake("k");
    assert.equal(await staying, true);
    assert.equal(waiters.count("k"), 0);
  });
});
