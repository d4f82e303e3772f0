// Checkpoint and restore for real: a Node process in a container (node:24-bookworm-slim, built
// locally by docker/ci-setup.sh) holds a counter, a random value and an open file; it is dumped with
// CRIU, its container removed, the image kept as one Postgres large object, and restored into a
// fresh container where the same process goes on. Needs dockerd --experimental and CRIU 4
// (`bash docker/ci-setup.sh` as root); without them the suite says why and skips.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { checkpointContainer } from "../../server/checkpoints/checkpoint.ts";
import { criuAvailable } from "../../server/checkpoints/criu.ts";
import { CheckpointLimitError, defaultCheckpointLimits } from "../../server/checkpoints/limits.ts";
import { checkpointableSeccomp } from "../../server/checkpoints/seccomp.ts";
import { restoreContainer } from "../../server/checkpoints/restore.ts";
import { checkpointsInsert, checkpointsSweepOrphans } from "../../server/storage/checkpoints.ts";
import { uuidv7 } from "../../server/ids.ts";
import { createTestApp, type TestApp } from "../helpers/app.ts";
import { ApiClient } from "../helpers/engine.ts";
import { dockerUnavailable } from "../helpers/docker.ts";

const docker = new Docker();
const dockerMissing = await dockerUnavailable();
const criu = dockerMissing ? null : await criuAvailable(docker);
const skip = dockerMissing ?? (criu && !criu.ok ? criu.reason : null);
if (skip) console.log(`Checkpoint suite skipped: ${skip}`);

const image = "node:24-bookworm-slim";
// The task: state in memory (counter, random value) and in an open descriptor, a side effect once.
const program = `
const fs = require("node:fs");
const random = Math.random().toString(36).slice(2);
fs.appendFileSync("/state/side-effects.log", "side effect " + random + "\\n");
const fd = fs.openSync("/state/counter.log", "a");
let counter = 0;
setInterval(() => { counter += 1; fs.writeSync(fd, counter + " " + random + "\\n"); }, 50);
`;

/** Resolves once `check` returns a value, polling the file system the container writes to. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lines = async (file: string) => (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean);

describe("checkpoint and restore through Postgres large objects", { skip: skip ?? false }, () => {
  let t: TestApp;
  let stateDir: string;
  let environmentId: string;
  let runId: string;
  const containers: string[] = [];
  const largeObjects = async () => Number((await t.database.db.sql`select count(*)::int as n from pg_largeobject_metadata`)[0]!.n);
  const last = async () => {
    const all = await lines(join(stateDir, "counter.log"));
    const [counter, random] = all.at(-1)!.split(" ");
    return { counter: Number(counter), random: random!, count: all.length };
  };

  before(async () => {
    t = await createTestApp();
    const api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "suspended" }]);
    environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    runId = uuidv7();
    await t.database.db.sql`
      insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, created_at, updated_at)
      values (${runId}, ${environmentId}, 'suspended', 'task/suspended', 'WAITING', '{}'::json, now(), now())`;
    stateDir = await mkdtemp(join(tmpdir(), "ratchet-checkpoint-"));
    await writeFile(join(stateDir, "app.js"), program);
  });
  after(async () => {
    for (const id of containers) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
    await t?.close();
  });

  test("a checkpointed process resumes in a fresh container with its memory, its open file and no re-run", async () => {
    const container = await docker.createContainer({
      Image: image,
      Cmd: ["node", "/state/app.js"],
      Labels: { "ratchet.test": "checkpoint" },
      HostConfig: { Binds: [`${stateDir}:/state`], SecurityOpt: [checkpointableSeccomp()] },
    });
    containers.push(container.id);
    await container.start();
    await until("the task to count", async () => ((await lines(join(stateDir, "counter.log"))).length >= 5 ? true : undefined));

    // A cap too small refuses the checkpoint with a clear error and leaves the task running.
    await assert.rejects(
      checkpointContainer(docker, t.database.db.sql, container.id, { runId, environmentId, attempt: 1, workerVersion: "v1" }, {
        ...defaultCheckpointLimits,
        maxCheckpointBytes: 1000,
      }),
      (error: unknown) => error instanceof CheckpointLimitError && /exceeds the cap of 1000 bytes per checkpoint/.test(error.message),
    );
    assert.equal(await largeObjects(), 0);
    const beforeResume = await last();
    await until("the task to run on after the refused checkpoint", async () => ((await last()).counter > beforeResume.counter ? true : undefined));
    await assert.rejects(
      checkpointContainer(docker, t.database.db.sql, container.id, { runId, environmentId, attempt: 1, workerVersion: "v1" }, {
        ...defaultCheckpointLimits,
        maxEnvironmentBytes: 0,
      }),
      /the environment's checkpoints already keep 0 bytes \(cap 0\)/,
    );

    const checkpointStarted = performance.now();
    const { checkpoint, dumpMs, storeMs } = await checkpointContainer(docker, t.database.db.sql, container.id, {
      runId,
      environmentId,
      attempt: 1,
      workerVersion: "v1",
    });
    const checkpointMs = performance.now() - checkpointStarted;
    await assert.rejects(container.inspect(), /no such container/i);
    assert.equal(await largeObjects(), 1);
    assert.equal(checkpoint.runId, runId);
    assert.equal(checkpoint.image, image);
    const atCheckpoint = await last();
    assert.equal(atCheckpoint.count, atCheckpoint.counter, "one line per tick, none lost");

    const { containerId, restoreMs } = await restoreContainer(docker, t.database.db.sql, checkpoint.id);
    containers.push(containerId);
    const resumed = await until("the restored task to count on", async () => {
      const now = await last();
      return now.counter >= atCheckpoint.counter + 5 ? now : undefined;
    });
    assert.equal(resumed.random, atCheckpoint.random, "the random value made before the checkpoint is the same");
    assert.equal(resumed.count, resumed.counter, "the counter went on from memory, through the same descriptor");
    assert.equal((await lines(join(stateDir, "side-effects.log"))).length, 1, "the side effect happened once");
    assert.equal(await largeObjects(), 0, "the large object is unlinked after the restore");
    assert.equal((await t.database.db.sql`select count(*)::int as n from ratchet.checkpoints`)[0]!.n, 0);

    console.log(
      `checkpoint figures: raw ${checkpoint.sizeRaw} B, stored ${checkpoint.sizeStored} B, ` +
        `checkpoint ${checkpointMs.toFixed(0)} ms (CRIU dump ${dumpMs.toFixed(0)} ms, store ${storeMs.toFixed(0)} ms), restore ${restoreMs.toFixed(0)} ms`,
    );
  });

  test("the sweeper collects a large object no checkpoint references", async () => {
    const [planted] = await t.database.db.sql<{ oid: number }[]>`select lo_from_bytea(0, '\\x00ff'::bytea)::int8::float8 as oid`;
    assert.equal(await largeObjects(), 1);
    assert.equal(await checkpointsSweepOrphans(t.database.db.sql), 1);
    assert.equal(await largeObjects(), 0);
    const [gone] = await t.database.db.sql`select 1 from pg_largeobject_metadata where oid = ${planted!.oid}`;
    assert.equal(gone, undefined);
  });

  test("a referenced large object survives the sweep and goes with its run", async () => {
    const [object] = await t.database.db.sql<{ oid: number }[]>`select lo_from_bytea(0, '\\x00ff'::bytea)::int8::float8 as oid`;
    await t.database.db.sql.begin((tx) =>
      checkpointsInsert(tx, {
        id: uuidv7(),
        runId,
        environmentId,
        attempt: 1,
        workerVersion: null,
        image,
        containerConfig: {},
        sizeRaw: 2,
        sizeStored: 2,
        loOid: object!.oid,
      }),
    );
    assert.equal(await checkpointsSweepOrphans(t.database.db.sql), 0);
    assert.equal(await largeObjects(), 1);
    // Retention deletes the run; the cascade deletes the row; the trigger unlinks the object.
    await t.database.db.sql`delete from ratchet.runs where id = ${runId}`;
    assert.equal(await largeObjects(), 0);
  });
});
