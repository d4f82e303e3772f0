// The worker protocol's side of checkpoints (docs/checkpoints.md), without Docker: a suspension
// names its checkpoint (of its own run only) or why it replays; a resumed run's dequeue answer
// carries its checkpoint to a worker that restores them, while one that cannot gets the run to
// replay and the checkpoint goes; a run that finishes or is canceled keeps no checkpoint; the
// periodic orphan sweep collects unreferenced objects, skipping a pass another replica holds.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { sweepOnce } from "../server/engine/sweepers.ts";
import { fromPublicId } from "../server/ids.ts";
import { uuidv7 } from "../server/ids.ts";
import { checkpointSweepLockKey, checkpointsInsert, checkpointsSweepOrphans } from "../server/storage/checkpoints.ts";
import { CheckpointOrphanSweeper } from "../server/checkpoints/orphan-sweeper.ts";
import { pino } from "pino";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("checkpoints in the worker protocol", () => {
  let t: TestApp;
  let api: ApiClient;
  let other: ApiClient;
  let environmentId: string;
  const clock = new ManualClock("2026-06-01T08:00:00.000Z");
  const sql = () => t.database.db.sql;
  const sweep = () => sweepOnce(t.app.ratchet.engine, t.app.ratchet.settings);
  const largeObjects = async () => (await sql()<{ n: number }[]>`select count(*)::int as n from pg_largeobject_metadata`)[0]!.n;
  const attempt = async (id: string) =>
    (await sql()<{ checkpoints: number; fallback: string | null }[]>`
      select checkpoints, checkpoint_fallback as fallback from ratchet.attempts where run_id = ${fromPublicId("run", id)!} order by number desc limit 1`)[0]!;

  /** A run that waits a day, dequeued and started by w1. */
  const waitingRun = async () => {
    const { id } = await api.trigger("ckpt", {});
    const [run] = await api.dequeue("w1");
    assert.equal(run!.id, id);
    await api.start("w1", run!);
    const until = new Date(clock.now().getTime() + 86_400_000).toISOString();
    await api.ok("POST", `/engine/v1/runs/${id}/journal/0`, { workerId: "w1", op: "wait", kind: "wait", name: "wait.for", wait: { type: "DATETIME", date: until } });
    return id;
  };
  /** A checkpoint row of the run with a real large object, as the runner stores it. */
  const checkpointOf = async (id: string) => {
    const checkpointId = uuidv7();
    await sql().begin(async (tx) => {
      const [object] = await tx<{ oid: number }[]>`select lo_from_bytea(0, '\\x00ff'::bytea)::int8::float8 as oid`;
      await checkpointsInsert(tx, {
        id: checkpointId,
        runId: fromPublicId("run", id)!,
        environmentId,
        attempt: 1,
        workerVersion: null,
        image: "node:24-bookworm-slim",
        containerConfig: {},
        sizeRaw: 2,
        sizeStored: 2,
        loOid: object!.oid,
      });
    });
    return checkpointId;
  };
  const dueAndQueued = async () => {
    clock.advance(86_400_000 + 1000);
    await sweep();
  };

  before(async () => {
    t = await createTestApp({ clock });
    api = new ApiClient(t.app, await t.key("prod"));
    other = new ApiClient(t.app, await t.key("dev"));
    await api.register([{ id: "ckpt", queue: { concurrencyLimit: 1000 } }]);
    await other.register([{ id: "ckpt" }]);
    environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
  });
  after(() => t.close());
  beforeEach(() => clock.advance(60_000));

  test("a checkpointed suspension resumes with its checkpoint id for a worker that restores", async () => {
    const id = await waitingRun();
    const checkpointId = await checkpointOf(id);
    assert.deepEqual(await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1", checkpointId }), { suspended: true });
    assert.deepEqual(await attempt(id), { checkpoints: 1, fallback: null });
    await dueAndQueued();
    const { runs } = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w2", waitSeconds: 0, checkpoints: true });
    assert.equal(runs[0].id, id);
    assert.equal(runs[0].checkpointId, checkpointId);
    // Finishing deletes the checkpoint and unlinks its object (the runner's restore would have).
    await api.complete("w2", runs[0], { ok: true, output: "done" });
    assert.equal(await largeObjects(), 0);
  });

  test("a worker that cannot restore replays the run: the checkpoint goes, the attempt says why", async () => {
    const id = await waitingRun();
    const checkpointId = await checkpointOf(id);
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1", checkpointId });
    await dueAndQueued();
    const { runs } = await api.ok("POST", "/engine/v1/dequeue", { workerId: "w3", waitSeconds: 0 });
    assert.equal(runs[0].id, id);
    assert.equal(runs[0].checkpointId, undefined);
    assert.equal(await largeObjects(), 0);
    assert.match((await attempt(id)).fallback ?? "", /cannot restore checkpoints: replayed/);
    await api.complete("w3", runs[0], { ok: true, output: "done" });
  });

  test("a replay suspension records its fallback reason; a canceled waiting run keeps no checkpoint", async () => {
    const id = await waitingRun();
    await checkpointOf(id);
    assert.deepEqual(await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1", fallbackReason: "checkpoint failed: CRIU refused" }), { suspended: true });
    assert.deepEqual(await attempt(id), { checkpoints: 0, fallback: "checkpoint failed: CRIU refused" });
    assert.equal(await largeObjects(), 1);
    await api.ok("POST", `/api/v2/runs/${id}/cancel`);
    assert.equal((await api.retrieve(id)).status, "CANCELED");
    assert.equal(await largeObjects(), 0, "canceling the waiting run unlinked its checkpoint");
  });

  test("the periodic orphan sweep unlinks an unreferenced large object, one replica at a time", async () => {
    const [planted] = await sql()<{ oid: number }[]>`select lo_from_bytea(0, '\\x00ff'::bytea)::int8::float8 as oid`;
    // Another replica holding the sweep's lock: this pass is skipped, nothing is touched.
    const held = await t.database.db.sql.reserve();
    await held`begin`;
    await held`select pg_advisory_xact_lock(${checkpointSweepLockKey.toString()}::bigint)`;
    assert.equal(await checkpointsSweepOrphans(sql()), null);
    await held`rollback`;
    held.release();
    const sweeper = new CheckpointOrphanSweeper(t.database.db, pino({ level: "silent" }), 20);
    sweeper.start();
    try {
      for (let tries = 0; tries < 200 && (await largeObjects()) > 0; tries += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      await sweeper.stop();
    }
    assert.equal((await sql()`select 1 from pg_largeobject_metadata where oid = ${planted!.oid}`).length, 0);
  });

  test("a suspension naming another run's checkpoint, or none, is refused with the field named", async () => {
    const id = await waitingRun();
    const victim = await checkpointOf(id);
    // The same id from another environment's key: its run is not that key's.
    const { id: otherId } = await other.trigger("ckpt", {});
    const [otherRun] = await other.dequeue("x1");
    await other.start("x1", otherRun!);
    const refused = await other.request("POST", `/engine/v1/runs/${otherId}/suspend`, { workerId: "x1", checkpointId: victim });
    assert.equal(refused.status, 404);
    assert.match(refused.body.error, /checkpointId/);
    const unknown = await api.request("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1", checkpointId: uuidv7() });
    assert.equal(unknown.status, 404);
    const malformed = await api.request("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w1", checkpointId: "not-a-uuid" });
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.error, /checkpointId/);
    assert.equal((await api.retrieve(id)).status, "EXECUTING", "a refused suspension leaves the run as it was");
  });
});
