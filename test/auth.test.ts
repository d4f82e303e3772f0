import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateSecretKey, hashSecretKey, looksLikeSecretKey } from "../server/auth/secret-keys.ts";
import { apiKeysRevoke } from "../server/storage/api-keys.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("secret keys", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(() => t.close());

  const whoami = (authorization?: string) =>
    t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: authorization ? { authorization } : {} });

  test("keys have Trigger.dev's prefixes per environment", () => {
    assert.match(generateSecretKey("dev"), /^tr_dev_[A-Za-z0-9]{24}$/);
    assert.match(generateSecretKey("staging"), /^tr_stg_[A-Za-z0-9]{24}$/);
    assert.match(generateSecretKey("prod"), /^tr_prod_[A-Za-z0-9]{24}$/);
    assert.match(generateSecretKey("preview"), /^tr_preview_[A-Za-z0-9]{24}$/);
    assert.notEqual(generateSecretKey("dev"), generateSecretKey("dev"));
  });

  test("a key authenticates as its own environment", async () => {
    for (const environment of ["dev", "staging", "prod", "preview"] as const) {
      const key = await t.key(environment);
      const response = await whoami(`Bearer ${key}`);
      assert.equal(response.statusCode, 200);
      const body = response.json();
      assert.equal(body.environment.type, environment);
      assert.equal(body.project.ref, t.project.ref);
    }
  });

  test("only a hash of the key is stored", async () => {
    const key = await t.key("prod");
    const rows = await t.database.db.sql`select * from ratchet.api_keys`;
    const stored = JSON.stringify(rows.map((row) => ({ ...row, key_hash: Buffer.from(row.key_hash).toString("hex") })));
    assert.ok(!stored.includes(key), "the plaintext key must not be stored");
    assert.ok(!stored.includes(key.slice(8)), "the random part must not be stored");
    const [match] = await t.database.db.sql`select 1 from ratchet.api_keys where key_hash = ${hashSecretKey(key)}`;
    assert.ok(match);
  });

  test("a missing, malformed, unknown or revoked key gets 401 with a JSON error", async () => {
    const key = await t.key("dev");
    assert.equal((await whoami(`Bearer ${key}`)).statusCode, 200);
    await apiKeysRevoke(t.database.db.sql, { keyHash: hashSecretKey(key) }, new Date());

    const cases = [undefined, "Bearer", "Basic abc", "Bearer garbage", `Bearer ${generateSecretKey("dev")}`, `Bearer ${key}`];
    for (const authorization of cases) {
      const response = await whoami(authorization);
      assert.equal(response.statusCode, 401, `for ${authorization}`);
      assert.match(response.headers["content-type"] as string, /application\/json/);
      const body = response.json();
      assert.equal(body.code, "UNAUTHORIZED");
      assert.equal(typeof body.error, "string");
      assert.ok(!response.body.includes("at "), "no stack trace");
    }
  });

  test("the key format check accepts only well-formed keys", () => {
    assert.ok(looksLikeSecretKey(generateSecretKey("prod")));
    assert.ok(!looksLikeSecretKey("tr_dev_short"));
    assert.ok(!looksLikeSecretKey("tr_live_aaaaaaaaaaaaaaaaaaaaaaaa"));
    assert.ok(!looksLikeSecretKey(`${generateSecretKey("dev")}' or 1=1 --`));
  });

  test("using a key records when it was last used", async () => {
    const key = await t.key("staging");
    await whoami(`Bearer ${key}`);
    const deadline = Date.now() + 5_000;
    let lastUsed: Date | null = null;
    while (Date.now() < deadline) {
      const [row] = await t.database.db.sql<{ last_used_at: Date | null }[]>`
        select last_used_at from ratchet.api_keys where key_hash = ${hashSecretKey(key)}`;
      lastUsed = row?.last_used_at ?? null;
      if (lastUsed) break;
      await new Promise((done) => setImmediate(done));
    }
    assert.ok(lastUsed instanceof Date);
  });

  test("a long-polling dequeue whose key is revoked while it waits hands out nothing, and the run stays queued", async () => {
    const revoked = new ApiClient(t.app, await t.key("prod"));
    const other = new ApiClient(t.app, await t.key("prod"));
    await other.register([{ id: "after-revoke" }]);
    const environmentId = (await other.ok("GET", "/api/v1/whoami")).environment.id;
    const polling = revoked.request("POST", "/engine/v1/dequeue", { workerId: "w-revoked", maxRuns: 1, waitSeconds: 30 });
    while (t.app.ratchet.notifier.waiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(await apiKeysRevoke(t.database.db.sql, { keyHash: hashSecretKey(revoked.key) }, new Date()));
    // Triggered with another key of the same environment: the notification wakes the waiting poll.
    const { id } = await other.trigger("after-revoke", {});
    const answer = await polling;
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
    assert.equal(answer.body.code, "UNAUTHORIZED");
    assert.equal((await other.retrieve(id)).status, "QUEUED", "the run was not handed out");
    const [claimed] = await other.dequeue("w-other", 1);
    assert.equal(claimed?.id, id, "a worker with a valid key gets it");
    await other.complete("w-other", claimed!, { ok: true });
  });

  test("a long-polling heartbeat whose key is revoked while it waits is answered 401 at its next wake-up", async () => {
    const revoked = new ApiClient(t.app, await t.key("staging"));
    const other = new ApiClient(t.app, await t.key("staging"));
    await other.register([{ id: "held" }, { id: "waker" }]);
    const environmentId = (await other.ok("GET", "/api/v1/whoami")).environment.id;
    await revoked.trigger("held", {});
    const [run] = await revoked.dequeue("w-held", 1);
    await revoked.start("w-held", run!);
    const polling = revoked.request("POST", "/engine/v1/heartbeat", { workerId: "w-held", runs: [{ runId: run!.id, attemptNumber: 1 }], waitSeconds: 30 });
    while (t.app.ratchet.notifier.heartbeatsWaiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(await apiKeysRevoke(t.database.db.sql, { keyHash: hashSecretKey(revoked.key) }, new Date()));
    const started = Date.now();
    await other.trigger("waker", {});
    const answer = await polling;
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
    assert.ok(Date.now() - started < 10_000, "answered at the wake-up, not after the whole wait");
  });
});
