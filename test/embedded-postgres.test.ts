// The embedded Postgres under a real server process: brought back when it dies, and reachable by
// the `postgres` user when Ratchet runs as root from a folder only root may enter.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  isAlive,
  postgresPid,
  removeDataDir,
  runCli,
  spawnServer,
  tempDataDir,
  waitUntilReady,
  type ServerProcess,
} from "./helpers/server-process.ts";

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
    try {
      const server = await spawnServer({ dataDir });
      await waitUntilReady(server);
      const created = await runCli(["keys", "create", "--env", "dev"], { RATCHET_DATA_DIR: dataDir });
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
      await removeDataDir(dataDir);
    }
  });
});
