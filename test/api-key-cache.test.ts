// Servers cache what a secret key resolves to (server/auth/api-key-cache.ts). Two server processes
// on one database: a key both have cached stops working on both at once when it is revoked from
// elsewhere (the CLI, plain SQL), and a change of the key's environment is seen at once too.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { removeDataDir, runCli, spawnServer, tempDataDir, waitUntilReady, type ServerProcess } from "./helpers/server-process.ts";
import { createTestApp } from "./helpers/app.ts";
import { hashSecretKey } from "../server/auth/secret-keys.ts";
import { apiKeysRevoke } from "../server/storage/api-keys.ts";

async function whoami(url: string, key: string): Promise<{ status: number; body: { environment?: { id: string } } }> {
  const response = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as { environment?: { id: string } } };
}

/**
 * A change made by another process reaches a server by NOTIFY: "at once" is within its delivery,
 * milliseconds, but not before the next statement of this test. Asks until `done`, for up to 2 s.
 */
async function soon<T>(ask: () => Promise<T>, done: (answer: T) => boolean): Promise<T> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const answer = await ask();
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function queueLimit(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/queues`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(response.status, 200);
  // A queue without a limit of its own runs at most the environment's limit, which comes with the key.
  const body = (await response.json()) as { data: Array<{ concurrency: { current: number } }> };
  return body.data[0]!.concurrency.current;
}

describe("API keys cached by two server processes", () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  const dataDirs: string[] = [];
  const env = () => ({ DATABASE_URL: database.url });
  const createKey = async () => {
    const created = await runCli(["admin", "keys", "create", "--env", "prod", "--name", "cached"], env());
    assert.equal(created.code, 0, created.stderr);
    return created.stdout.trim();
  };

  before(async () => {
    database = await createTestDatabase();
    for (let index = 0; index < 2; index += 1) {
      const dataDir = await tempDataDir();
      dataDirs.push(dataDir);
      servers.push(await spawnServer({ dataDir, env: env() }));
    }
    await Promise.all(servers.map((server) => waitUntilReady(server)));
  });

  after(async () => {
    for (const server of servers) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    await Promise.all(dataDirs.map((dir) => removeDataDir(dir)));
    await database?.drop();
  });

  test("a key revoked by the CLI stops at once on both servers that had it cached; another key goes on working", async () => {
    const key = await createKey();
    const other = await createKey();
    for (const server of servers) {
      for (let i = 0; i < 3; i += 1) assert.equal((await whoami(server.url, key)).status, 200);
      assert.equal((await whoami(server.url, other)).status, 200);
    }
    const revoked = await runCli(["admin", "keys", "revoke", key], env());
    assert.equal(revoked.code, 0, revoked.stderr);
    for (const server of servers) {
      assert.equal((await soon(() => whoami(server.url, key), (response) => response.status === 401)).status, 401, `revoked on ${server.url}`);
      assert.equal((await whoami(server.url, other)).status, 200);
    }
  });

  test("a key revoked with plain SQL stops at once too, and a change of its environment is seen at once", async () => {
    const key = await createKey();
    for (const server of servers) assert.equal((await whoami(server.url, key)).status, 200);
    const environmentId = (await whoami(servers[0]!.url, key)).body.environment!.id;
    const register = await fetch(`${servers[0]!.url}/engine/v1/worker/register`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ tasks: [{ id: "cached-limit" }] }),
    });
    assert.equal(register.status, 200);
    for (const server of servers) assert.equal(await queueLimit(server.url, key), 100);
    await database.db.sql`update ratchet.environments set concurrency_limit = 7 where id = ${environmentId}`;
    for (const server of servers) assert.equal(await soon(() => queueLimit(server.url, key), (limit) => limit === 7), 7, `the new limit on ${server.url}`);

    await database.db.sql`update ratchet.api_keys set revoked_at = now() where key_hash = ${hashSecretKey(key)}`;
    for (const server of servers) {
      const answer = await soon(() => whoami(server.url, key), (response) => response.status === 401);
      assert.equal(answer.status, 401, `revoked within the notification's delivery on ${server.url}`);
    }
  });
});

describe("API keys cached in one process", () => {
  test("a key in use is answered from the cache, and revoking it here drops it before any notification", async () => {
    const t = await createTestApp();
    try {
      const key = await t.key("prod");
      const ask = () => t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${key}` } });
      assert.equal((await ask()).statusCode, 200);
      const hashHex = hashSecretKey(key).toString("hex");
      assert.ok(t.app.ratchet.apiKeys.get(hashHex), "cached after its first use");
      assert.ok(await apiKeysRevoke(t.database.db.sql, { keyHash: hashSecretKey(key) }, new Date()));
      assert.equal(t.app.ratchet.apiKeys.get(hashHex), undefined);
      assert.equal((await ask()).statusCode, 401);
    } finally {
      await t.close();
    }
  });
});
