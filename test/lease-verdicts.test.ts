// Who decides how an attempt ends when the worker and the server lose touch: the worker's result
// while it holds the lease, the sweeper once the worker is gone. Driven with an injected clock.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { dequeueConnectionLost, heartbeat, heartbeatConnectionLost } from "../server/engine/execution.ts";
import { pino } from "pino";
import { connect } from "../server/db/client.ts";
import { freePort } from "../server/db/scratch.ts";
import { Sweeper, sweepOnce } from "../server/engine/sweepers.ts";
import { fromPublicId } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("lease verdicts", () => {
  let t: TestApp;
  let api: ApiClient;
  let environmentId: string;
  const clock = new ManualClock("2026-04-01T12:00:00.000Z");
  const sweep = (afterOutage = false) => sweepOnce(t.app.ratchet.engine, t.app.ratchet.settings, { afterOutage });
  const beat = (workerId: string, id: string, heartbeatId: string) =>
    heartbeat(t.app.ratchet.engine, t.app.ratchet.settings, {
      environmentId,
      workerId,
      leases: [{ runId: fromPublicId("run", id)!, attemptNumber: 1 }],
      heartbeatId,
    });
  const hungUp = (workerId: string, id: string, heartbeatId: string) =>
    heartbeatConnectionLost(t.app.ratchet.engine, { environmentId, workerId, runIds: [fromPublicId("run", id)!], heartbeatId });

  before(async () => {
    t = await createTestApp({ clock });
    api = new ApiClient(t.app, await t.key("prod"));
    const [row] = await t.database.db.sql<[{ id: string }]>`select id from ratchet.environments where slug = 'prod'`;
    environmentId = row!.id;
  });
  after(() => t.close());
  beforeEach(() => clock.advance(10 * 60_000));

  test("a completion after a database outage longer than maxDuration + 15 s is accepted: the outage does not count", async () => {
    await api.register([{ id: "quick-body", maxDuration: 5, retry: { maxAttempts: 1 } }]);
    const { id } = await api.trigger("quick-body", {});
    const { runs } = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w1", maxRuns: 1, start: true });
    await sweep();
    // The body finishes within a second; the database goes away before the completion gets there
    // and comes back 40 s later (the deadline was 20 s after the start). The first sweep after the
    // outage runs first, as it would on a server whose sweeps failed meanwhile.
    clock.advance(40_000);
    const swept = await sweep(true);
    assert.equal(swept.outageCoveredMs, 40_000);
    assert.equal((await api.retrieve(id)).status, "EXECUTING");
    const completion = await api.complete("w1", runs[0], { ok: true, output: "finished in time" });
    assert.equal(completion.accepted, true);
    const run = await api.retrieve(id);
    assert.equal(run.status, "COMPLETED");
    assert.equal(run.output, "finished in time");
    assert.equal(run.attemptCount, 1);
  });

  test("after an outage, the deadline still rules an attempt that overruns it", async () => {
    await api.register([{ id: "slow-body", maxDuration: 5, retry: { maxAttempts: 1 } }]);
    const { id } = await api.trigger("slow-body", {});
    await api.ok("POST", "/engine/v1/dequeue", { workerId: "w1", maxRuns: 1, start: true });
    await sweep();
    clock.advance(10_000);
    await sweep(true);
    assert.equal((await api.retrieve(id)).status, "EXECUTING", "a gap of 10 s moved the deadline on by 10 s");
    clock.advance(21_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "TIMED_OUT", "31 s after the start, 21 s of them counted: past 5 + 15 s");
  });

  test("gaps between sweeps are not outages unless the sweeper saw its sweeps fail", async () => {
    await api.register([{ id: "plain", retry: { maxAttempts: 1 } }]);
    const { id } = await api.trigger("plain", {});
    await api.dequeue("w-gone");
    await sweep();
    clock.advance(61_000);
    const swept = await sweep();
    assert.equal(swept.outageCoveredMs, 0);
    assert.equal(swept.leasesLost, 1);
    assert.equal((await api.retrieve(id)).status, "FAILED");
  });

  test("a dropped heartbeat connection fails the attempt after the grace period, unless a heartbeat through any server follows", async () => {
    await api.register([{ id: "hung-up", retry: { maxAttempts: 2, minTimeoutInMs: 0, randomize: false } }]);
    const { id } = await api.trigger("hung-up", {});
    await api.ok("POST", "/engine/v1/dequeue", { workerId: "w1", maxRuns: 1, start: true });

    await beat("w1", id, "hb-a");
    assert.equal(await hungUp("w1", id, "hb-a"), 1, "server A saw the heartbeat's connection close");
    clock.advance(4_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "EXECUTING", "within the grace period");
    await beat("w1", id, "hb-b");
    assert.equal(await hungUp("w1", id, "hb-a"), 0, "a late close seen by server A does not mark a lease renewed through server B");
    clock.advance(30_000);
    await sweep();
    assert.equal((await api.retrieve(id)).status, "EXECUTING", "the worker heartbeated again: it is alive");

    assert.equal(await hungUp("w1", id, "hb-b"), 1);
    clock.advance(5_000);
    const swept = await sweep();
    assert.equal(swept.leasesLost, 1);
    const run = await api.retrieve(id);
    assert.equal(run.status, "QUEUED", "retried at once, not after the 60 s lease");
    const [attempt] = await t.database.db.sql<[{ error: { message: string } }]>`
      select error from ratchet.attempts where run_id = ${fromPublicId("run", id)!} and number = 1`;
    assert.match(attempt!.error.message, /connection closed .* \(worker lost\)/);
    const [retry] = await api.dequeue("w2");
    assert.equal(retry?.attemptNumber, 2);
    await api.complete("w2", retry!, { ok: true });
  });

  test("a dropped heartbeat also marks the worker's runs that no heartbeat has named yet, and a dropped dequeue those alone", async () => {
    await api.register([{ id: "unnamed", retry: { maxAttempts: 1 } }]);
    const named = await api.trigger("unnamed", { n: 1 });
    await api.ok("POST", "/engine/v1/dequeue", { workerId: "w3", maxRuns: 1, start: true });
    await beat("w3", named.id, "hb-c");
    const fresh = await api.trigger("unnamed", { n: 2 });
    await api.ok("POST", "/engine/v1/dequeue", { workerId: "w3", maxRuns: 1, start: true });
    const dequeueDropped = await dequeueConnectionLost(t.app.ratchet.engine, { environmentId, workerId: "w3" });
    assert.equal(dequeueDropped, 1, "only the run no heartbeat named");
    await beat("w3", fresh.id, "hb-d");
    assert.equal(await hungUp("w3", named.id, "hb-c"), 1);
    clock.advance(6_000);
    await sweep();
    assert.equal((await api.retrieve(named.id)).status, "FAILED");
    assert.equal((await api.retrieve(fresh.id)).status, "EXECUTING", "a heartbeat named it after the dequeue dropped");
  });

  test("a sweeper whose sweeps failed because the database was unreachable covers the outage once it is back", async () => {
    await api.register([{ id: "through-outage", maxDuration: 5, retry: { maxAttempts: 1 } }]);
    const { id } = await api.trigger("through-outage", {});
    const { runs } = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w1", maxRuns: 1, start: true });
    await sweep();

    // The real database, a real database nobody listens for, the real one back: an outage.
    const unreachable = connect({ url: `postgres://postgres:x@127.0.0.1:${await freePort()}/none`, poolSize: 1 });
    const deps = { ...t.app.ratchet.engine, db: t.database.db };
    const lines: string[] = [];
    let onLine: (() => void) | null = null;
    const logger = pino({ level: "warn" }, { write: (line: string) => (lines.push(line), onLine?.()) });
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => lines.some((line) => pattern.test(line)) && ((onLine = null), resolve());
        onLine = check;
        check();
      });
    const failures = () => lines.filter((line) => /sweep failed/.test(line)).length;
    const sweptAt = async () =>
      (await t.database.db.sql<[{ sweptAt: Date }]>`select swept_at as "sweptAt" from ratchet.instance`)[0]!.sweptAt.getTime();
    const sweeper = new Sweeper(deps, { ...t.app.ratchet.settings, sweepIntervalMs: 20 }, logger);
    sweeper.start();
    try {
      // A first sweep that succeeds, so the sweeper no longer counts as just started...
      clock.advance(1_000);
      const expected = clock.now().getTime();
      while ((await sweptAt()) !== expected) await new Promise((resolve) => setTimeout(resolve, 20));
      // ...then the database goes away for 40 s and comes back.
      deps.db = unreachable;
      const before = failures();
      await seen(/sweep failed/);
      while (failures() === before) await new Promise((resolve) => setTimeout(resolve, 20));
      clock.advance(40_000);
      deps.db = t.database.db;
      await seen(/leases and deadlines moved on/);
    } finally {
      await sweeper.stop();
      await unreachable.close();
    }
    assert.match(lines.find((line) => /moved on/.test(line))!, /"outageMs":40000/);
    assert.equal((await api.complete("w1", runs[0], { ok: true, output: 1 })).accepted, true);
    assert.equal((await api.retrieve(id)).status, "COMPLETED");
  });
});
