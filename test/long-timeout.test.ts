// A maxDuration longer than setTimeout can hold (about 24.8 days) must not time the run out at once.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { setLongTimeout } from "../worker/long-timeout.ts";

describe("setLongTimeout", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
  afterEach(() => mock.timers.reset());

  test("the SDK's timeout.None (2^31 − 1 seconds) fires only when its time has come", () => {
    const step = 2_147_483_647;
    const fired: number[] = [];
    setLongTimeout(() => fired.push(1), 1000 * step);
    mock.timers.tick(1);
    assert.deepEqual(fired, [], "not at once, as a plain setTimeout would");
    // (The mock clock runs one timer per tick, so time goes in setTimeout-sized steps.)
    for (let index = 0; index < 999; index += 1) mock.timers.tick(step);
    assert.deepEqual(fired, [], "not before its time");
    mock.timers.tick(step);
    assert.deepEqual(fired, [1]);
  });

  test("a short wait is one timer, and cancelling stops a long one", () => {
    const fired: string[] = [];
    setLongTimeout(() => fired.push("short"), 1000);
    const cancel = setLongTimeout(() => fired.push("canceled"), 2 * 2_147_483_647);
    mock.timers.tick(1000);
    assert.deepEqual(fired, ["short"]);
    mock.timers.tick(2_147_483_647);
    cancel();
    for (let index = 0; index < 3; index += 1) mock.timers.tick(2_147_483_647);
    assert.deepEqual(fired, ["short"]);
  });
});
