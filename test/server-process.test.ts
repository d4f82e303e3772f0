import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { describe, test } from "node:test";
import { freePort } from "../server/db/scratch.ts";
import { createTestDatabase } from "./helpers/database.ts";
import {
  exitOf,
  isAlive,
  postgresPid,
  removeDataDir,
  runCli,
  spawnServer,
  tempDataDir,
  waitUntilReady,
} from "./helpers/server-process.ts";

async function whoami(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
  await response.arrayBuffer();
  return response.status;
}

async function occupy(port: number): Promise<Server> {
  return new Promise((done) => {
    const server = createServer();
    server.listen({ port, host: "127.0.0.1" }, () => done(server));
  });
}

describe("the server process", () => {
  test("`npm start` on a fresh data directory is ready within 30 s and SIGTERM leaves no Postgres behind", async () => {
    const dataDir = await tempDataDir();
    try {
      const server = await spawnServer({ dataDir, viaNpm: true });
      const elapsed = await waitUntilReady(server, 30_000);
      assert.ok(elapsed < 30_000);
      assert.match(server.output(), /Ratchet is running at http:\/\//);
      assert.match(server.output(), /ratchet keys create --env dev/);
      const pid = await postgresPid(dataDir);
      assert.ok(pid !== null && isAlive(pid), "the embedded Postgres is running");
      server.child.kill("SIGTERM");
      const { code } = await exitOf(server);
      assert.equal(code, 0);
      assert.ok(!isAlive(pid!), "Postgres stopped with the server");
    } finally {
      await removeDataDir(dataDir);
    }
  });

  test("data survives a restart, and keys made by the CLI work and can be revoked while it runs", async () => {
    const dataDir = await tempDataDir();
    try {
      const first = await spawnServer({ dataDir });
      await waitUntilReady(first);
      const created = await runCli(["admin", "keys", "create", "--env", "dev", "--name", "ci"], { RATCHET_DATA_DIR: dataDir });
      assert.equal(created.code, 0, created.stderr);
      const key = created.stdout.trim();
      assert.match(created.stdout, /^tr_dev_[A-Za-z0-9]{24}\n$/, "stdout holds the key and nothing else");
      assert.equal(await whoami(first.url, key), 200);
      assert.equal(await whoami(first.url, "tr_dev_garbagegarbagegarbagegarb"), 401);
      first.child.kill("SIGTERM");
      assert.equal((await exitOf(first)).code, 0);

      const second = await spawnServer({ dataDir, port: first.port, pgPort: first.pgPort });
      await waitUntilReady(second);
      assert.equal(await whoami(second.url, key), 200, "the key survived the restart");

      const listed = await runCli(["admin", "keys", "list"], { RATCHET_DATA_DIR: dataDir });
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /tr_dev_/);
      assert.ok(!listed.stdout.includes(key), "the list never shows a key");

      const revoked = await runCli(["admin", "keys", "revoke", key], { RATCHET_DATA_DIR: dataDir });
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal(await whoami(second.url, key), 401, "a revoked key is rejected at once");
      second.child.kill("SIGTERM");
      assert.equal((await exitOf(second)).code, 0);
      assert.ok(!second.output().includes(key), "the key never appears in the server's output");
    } finally {
      await removeDataDir(dataDir);
    }
  });

  test("a second SIGTERM stops at once and still leaves no Postgres behind", async () => {
    const dataDir = await tempDataDir();
    try {
      const server = await spawnServer({ dataDir });
      await waitUntilReady(server);
      const pid = await postgresPid(dataDir);
      server.child.kill("SIGTERM");
      server.child.kill("SIGTERM");
      await exitOf(server);
      assert.ok(pid !== null && !isAlive(pid), "Postgres stopped");
    } finally {
      await removeDataDir(dataDir);
    }
  });

  test("a Postgres orphaned by a killed server is stopped and replaced on the next start", async () => {
    const dataDir = await tempDataDir();
    try {
      const killed = await spawnServer({ dataDir });
      await waitUntilReady(killed);
      const orphan = await postgresPid(dataDir);
      killed.child.kill("SIGKILL");
      await killed.exited;
      assert.ok(orphan !== null && isAlive(orphan), "SIGKILL leaves Postgres running");

      const next = await spawnServer({ dataDir, pgPort: killed.pgPort });
      await waitUntilReady(next);
      assert.ok(!isAlive(orphan!), "the orphan was stopped");
      next.child.kill("SIGTERM");
      assert.equal((await exitOf(next)).code, 0);
    } finally {
      await removeDataDir(dataDir);
    }
  });

  test("a data directory in use by another server is refused with a clear message", async () => {
    const dataDir = await tempDataDir();
    try {
      const first = await spawnServer({ dataDir });
      await waitUntilReady(first);
      const second = await spawnServer({ dataDir });
      const { code } = await exitOf(second);
      assert.equal(code, 1);
      assert.match(second.output(), /in use by another Ratchet process/);
      assert.equal(await (await fetch(`${first.url}/readyz`)).status, 200, "the first server is unharmed");
      first.child.kill("SIGTERM");
      await exitOf(first);
    } finally {
      await removeDataDir(dataDir);
    }
  });

  test("a taken embedded Postgres port is reported clearly", async () => {
    const dataDir = await tempDataDir();
    const pgPort = await freePort();
    const blocker = await occupy(pgPort);
    try {
      const server = await spawnServer({ dataDir, pgPort });
      const { code } = await exitOf(server);
      assert.equal(code, 1);
      assert.match(server.output(), new RegExp(`Port ${pgPort} is already in use.*RATCHET_EMBEDDED_PG_PORT`));
      assert.equal(await postgresPid(dataDir).then((pid) => pid !== null && isAlive(pid)), false);
    } finally {
      blocker.close();
      await removeDataDir(dataDir);
    }
  });

  test("a taken HTTP port is reported clearly and Postgres is stopped", async () => {
    const dataDir = await tempDataDir();
    const port = await freePort();
    const blocker = await occupy(port);
    try {
      const server = await spawnServer({ dataDir, port });
      const { code } = await exitOf(server);
      assert.equal(code, 1);
      assert.match(server.output(), new RegExp(`Port ${port} is already in use.*Set PORT`));
      const pid = await postgresPid(dataDir);
      assert.ok(pid === null || !isAlive(pid), "no Postgres left behind");
    } finally {
      blocker.close();
      await removeDataDir(dataDir);
    }
  });

  test("it refuses to start against a database migrated by a newer Ratchet", async () => {
    const database = await createTestDatabase();
    const dataDir = await tempDataDir();
    try {
      await database.db.sql`insert into ratchet.migrations (id, name) values (9999, 'from_the_future')`;
      const server = await spawnServer({ dataDir, env: { DATABASE_URL: database.url } });
      const { code } = await exitOf(server);
      assert.equal(code, 1);
      assert.match(server.output(), /migrated by a newer version of Ratchet/);
    } finally {
      await database.drop();
      await removeDataDir(dataDir);
    }
  });

  test("a misspelt setting stops the start with the closest valid name", async () => {
    const dataDir = await tempDataDir();
    const server = await spawnServer({ dataDir, env: { RATCHET_LOG_LEVL: "debug" } });
    const { code } = await exitOf(server);
    assert.equal(code, 1);
    assert.match(server.output(), /RATCHET_LOG_LEVL is not a Ratchet setting; did you mean RATCHET_LOG_LEVEL\?/);
  });
});
