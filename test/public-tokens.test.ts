// Public access tokens through the official @trigger.dev/sdk: the token a trigger hands back, tokens
// the SDK signs itself with the secret key, tokens the server mints; scoped exactly, expiring,
// one-time trigger and batch trigger tokens; forged, expired and misplaced tokens refused; CORS for browsers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { auth, configure, runs, tasks } from "@trigger.dev/sdk";
import { buildApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

async function status(promise: Promise<unknown>): Promise<number | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    // A batch's failure (BatchTriggerError) carries the HTTP error as its cause.
    const failure = error as { status?: number; cause?: { status?: number } };
    return failure.status ?? failure.cause?.status ?? -1;
  }
}

describe("public access tokens", () => {
  let t: TestApp;
  let key: string;
  let address: string;
  let client: ApiClient;

  before(async () => {
    t = await createTestApp();
    key = await t.key("dev");
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    client = new ApiClient(t.app, key);
    await client.register([{ id: "task-a" }, { id: "task-b" }]);
  });
  after(() => t.close());

  const asToken = <T>(accessToken: string, fn: () => Promise<T>) => {
    let result: Promise<T>;
    return auth.withAuth({ accessToken, baseURL: address }, async () => {
      result = fn();
      await result.catch(() => {});
    }).then(() => result!);
  };

  test("a trigger's publicAccessToken reads its run and no other", async () => {
    const a = await tasks.trigger("task-a", { n: 1 });
    const b = await tasks.trigger("task-a", { n: 2 });
    assert.match(a.publicAccessToken, /^eyJ/);
    const run = await asToken(a.publicAccessToken, () => runs.retrieve(a.id));
    assert.equal(run.id, a.id);
    assert.deepEqual(run.payload, { n: 1 });
    assert.equal(await status(asToken(a.publicAccessToken, () => runs.retrieve(b.id))), 404);
    // Not a key: secret-key routes refuse it.
    assert.equal(await status(asToken(a.publicAccessToken, () => runs.list().then((page) => page.data))), 401);
    assert.equal(await status(asToken(a.publicAccessToken, () => runs.cancel(a.id))), 401);
  });

  test("auth.createPublicToken (signed by the SDK with the secret key) is scoped to its runs and tags", async () => {
    const a = await tasks.trigger("task-a", {}, { tags: ["order-1"] });
    const b = await tasks.trigger("task-b", {}, { tags: ["order-2"] });
    const byRun = await auth.createPublicToken({ scopes: { read: { runs: [a.id] } } });
    assert.equal((await asToken(byRun, () => runs.retrieve(a.id))).id, a.id);
    assert.equal(await status(asToken(byRun, () => runs.retrieve(b.id))), 404);
    const byTag = await auth.createPublicToken({ scopes: { read: { tags: ["order-2"] } }, expirationTime: "1h" });
    assert.equal((await asToken(byTag, () => runs.retrieve(b.id))).id, b.id);
    assert.equal(await status(asToken(byTag, () => runs.retrieve(a.id))), 404);
    const byTask = await auth.createPublicToken({ scopes: { read: { tasks: ["task-b"] } } });
    assert.equal(await status(asToken(byTask, () => runs.retrieve(a.id))), 404);
    assert.equal((await asToken(byTask, () => runs.retrieve(b.id))).id, b.id);
  });

  test("expired and forged tokens are refused", async () => {
    const a = await tasks.trigger("task-a", {});
    const expired = await auth.createPublicToken({ scopes: { read: { runs: [a.id] } }, expirationTime: Math.floor(Date.now() / 1000) - 5 });
    const response = await fetch(`${address}/api/v3/runs/${a.id}`, { headers: { authorization: `Bearer ${expired}` } });
    assert.equal(response.status, 401);
    assert.match(((await response.json()) as { error: string }).error, /expired/);

    const { sub } = await client.ok("POST", "/api/v1/auth/jwt/claims");
    const forged = await new SignJWT({ pub: true, sub, scopes: [`read:runs:${a.id}`] })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("https://id.trigger.dev")
      .setAudience("https://api.trigger.dev")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("tr_dev_notthekeynotthekeynotth"));
    assert.equal(await status(asToken(forged, () => runs.retrieve(a.id))), 401);
    // A real token whose scopes were edited no longer verifies.
    const real = await auth.createPublicToken({ scopes: { read: { runs: ["run_other"] } } });
    const [header, payload, signature] = real.split(".");
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), scopes: [`read:runs:${a.id}`] })).toString("base64url");
    assert.equal(await status(asToken(`${header}.${widened}.${signature}`, () => runs.retrieve(a.id))), 401);
    const none = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${widened}.`;
    assert.equal((await fetch(`${address}/api/v3/runs/${a.id}`, { headers: { authorization: `Bearer ${none}` } })).status, 401);
  });

  test("a trigger token triggers only its task, once unless made for multiple use", async () => {
    const once = await auth.createTriggerPublicToken("task-a");
    const first = await asToken(once, () => tasks.trigger("task-a", { via: "token" }));
    assert.match(first.id, /^run_/);
    assert.equal(await status(asToken(once, () => tasks.trigger("task-a", {}))), 401, "spent");
    const multiple = await auth.createTriggerPublicToken("task-a", { multipleUse: true });
    await asToken(multiple, () => tasks.trigger("task-a", {}));
    await asToken(multiple, () => tasks.trigger("task-a", {}));
    assert.equal(await status(asToken(multiple, () => tasks.trigger("task-b", {}))), 403);
    // The handle's own token reads the run it triggered.
    assert.equal((await asToken(first.publicAccessToken, () => runs.retrieve(first.id))).id, first.id);
    // A read token does not trigger.
    const read = await auth.createPublicToken({ scopes: { read: { runs: true } } });
    assert.equal(await status(asToken(read, () => tasks.trigger("task-a", {}))), 403);
  });

  test("a batch trigger token batches only its tasks, once unless made for multiple use; the handle reads the batch's runs", async () => {
    const once = await auth.createBatchTriggerPublicToken("task-a");
    const handle = await asToken(once, () => tasks.batchTrigger("task-a", [{ payload: { n: 1 } }, { payload: { n: 2 } }]));
    assert.match(handle.batchId, /^batch_/);
    assert.equal(handle.runCount, 2);
    const batch = await client.ok("GET", `/api/v1/batches/${handle.batchId}`);
    assert.equal(batch.runs.length, 2, "both items became runs");
    const run = await asToken(handle.publicAccessToken, () => runs.retrieve(batch.runs[0]));
    assert.deepEqual(run.payload, { n: 1 });
    assert.equal(await status(asToken(once, () => tasks.batchTrigger("task-a", [{ payload: {} }]))), 401, "spent");

    const multiple = await auth.createBatchTriggerPublicToken(["task-a", "task-b"], { multipleUse: true });
    await asToken(multiple, () => tasks.batchTrigger("task-a", [{ payload: {} }]));
    const both = await asToken(multiple, () => tasks.batchTrigger("task-b", [{ payload: {} }]));
    assert.match(both.batchId, /^batch_/);
    // One task outside the scopes refuses the whole batch, in either API, and creates nothing.
    const onlyA = await auth.createBatchTriggerPublicToken("task-a", { multipleUse: true });
    const before = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.batches`;
    assert.equal(await status(asToken(onlyA, () => tasks.batchTrigger("task-b", [{ payload: {} }]))), 403);
    const mixed = await fetch(`${address}/api/v2/tasks/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${onlyA}`, "content-type": "application/json" },
      body: JSON.stringify({ items: [{ task: "task-a" }, { task: "task-b" }] }),
    });
    assert.equal(mixed.status, 403);
    assert.match(((await mixed.json()) as { error: string }).error, /task-b/);
    const after = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.batches`;
    assert.equal(after[0]!.count, before[0]!.count);
    // A trigger token or a read token does not batch trigger; a batch token does not trigger alone.
    const trigger = await auth.createTriggerPublicToken("task-a", { multipleUse: true });
    assert.equal(await status(asToken(trigger, () => tasks.batchTrigger("task-a", [{ payload: {} }]))), 403);
    assert.equal(await status(asToken(onlyA, () => tasks.trigger("task-a", {}))), 403);
    // The one-request API takes the token as well.
    const direct = await fetch(`${address}/api/v2/tasks/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${onlyA}`, "content-type": "application/json" },
      body: JSON.stringify({ items: [{ task: "task-a", payload: "{}" }] }),
    });
    assert.equal(direct.status, 200, await direct.clone().text());
    assert.match(direct.headers.get("x-trigger-jwt") ?? "", /^eyJ/);
  });

  test("a batch token fills only the batch it created: not a secret key's batch, not another environment's", async () => {
    const token = await auth.createBatchTriggerPublicToken("task-a", { multipleUse: true });
    const items = (id: string) =>
      fetch(`${address}/api/v3/batches/${id}/items`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson" },
        body: `${JSON.stringify({ index: 0, task: "task-a", payload: "{}" })}\n`,
      });
    // The victim's real batch, made with the secret key and still waiting for its items.
    const victim = await client.ok("POST", "/api/v3/batches", { runCount: 1, taskIdentifiers: ["task-a"] });
    const refused = await items(victim.id);
    assert.equal(refused.status, 404);
    assert.ok(!(await refused.text()).includes("task-a"));
    assert.equal((await client.ok("GET", `/api/v1/batches/${victim.id}`)).runs.length, 0, "nothing was added");
    // Its idempotency key does not hand the token the victim's batch either.
    const keyed = await client.ok("POST", "/api/v3/batches", { runCount: 1, taskIdentifiers: ["task-a"], idempotencyKey: "victim-key" });
    const reuse = await fetch(`${address}/api/v3/batches`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ runCount: 1, taskIdentifiers: ["task-a"], idempotencyKey: "victim-key" }),
    });
    assert.equal(reuse.status, 409);
    assert.ok(!(await reuse.text()).includes(keyed.id));
    assert.equal(reuse.headers.get("x-trigger-jwt"), null);
    // Another environment's batch token, with the victim's ids.
    const prodKey = await t.key("prod");
    let foreign = "";
    await auth.withAuth({ accessToken: prodKey, baseURL: address }, async () => {
      foreign = await auth.createBatchTriggerPublicToken("task-a", { multipleUse: true });
    });
    const foreignItems = await fetch(`${address}/api/v3/batches/${victim.id}/items`, {
      method: "POST",
      headers: { authorization: `Bearer ${foreign}`, "content-type": "application/x-ndjson" },
      body: `${JSON.stringify({ index: 0, task: "task-a", payload: "{}" })}\n`,
    });
    assert.equal(foreignItems.status, 404);
    // Bad input names the field; a browser cannot parent a batch on a run.
    const unnamed = await fetch(`${address}/api/v3/batches`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ runCount: 1 }),
    });
    assert.equal(unnamed.status, 400);
    assert.match(((await unnamed.json()) as { error: string }).error, /taskIdentifiers/);
    const parented = await fetch(`${address}/api/v3/batches`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ runCount: 1, taskIdentifiers: ["task-a"], parentRunId: "run_x" }),
    });
    assert.equal(parented.status, 403);
    // Reading a batch still needs a secret key.
    assert.equal((await fetch(`${address}/api/v1/batches/${victim.id}`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
  });

  test("tokens minted by the server verify; a revoked key's self-signed tokens stop working", async () => {
    const a = await tasks.trigger("task-a", {});
    const { token } = await client.ok("POST", "/api/v1/auth/public-tokens", { scopes: [`read:runs:${a.id}`], expirationTime: "10m" });
    assert.equal((await asToken(token, () => runs.retrieve(a.id))).id, a.id);
    assert.equal((await client.request("POST", "/api/v1/auth/public-tokens", { scopes: [] })).status, 400);
    assert.equal((await client.request("POST", "/api/v1/auth/public-tokens", { scopes: ["read:runs"], expirationTime: "soon" })).status, 400);

    const other = await t.key("dev");
    let selfSigned = "";
    await auth.withAuth({ accessToken: other, baseURL: address }, async () => {
      selfSigned = await auth.createPublicToken({ scopes: { read: { runs: [a.id] } } });
    });
    assert.equal((await asToken(selfSigned, () => runs.retrieve(a.id))).id, a.id);
    await t.database.db.sql`update ratchet.api_keys set revoked_at = now() where key_hash = sha256(${other}::bytea)`;
    assert.equal(await status(asToken(selfSigned, () => runs.retrieve(a.id))), 401);
  });

  test("a token of another environment reads nothing of this one", async () => {
    const a = await tasks.trigger("task-a", {});
    const prodKey = await t.key("prod");
    let foreign = "";
    await auth.withAuth({ accessToken: prodKey, baseURL: address }, async () => {
      foreign = await auth.createPublicToken({ scopes: { read: { runs: [a.id] } } });
    });
    assert.equal(await status(asToken(foreign, () => runs.retrieve(a.id))), 404);
  });

  test("CORS: preflights and responses of the API allow the configured origins, never the dashboard", async () => {
    const preflight = await fetch(`${address}/api/v3/runs/run_x`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    const a = await tasks.trigger("task-a", {});
    const response = await fetch(`${address}/api/v3/runs/${a.id}`, { headers: { origin: "https://app.example.com", authorization: `Bearer ${a.publicAccessToken}` } });
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    const dashboard = await fetch(`${address}/login`, { headers: { origin: "https://app.example.com" } });
    assert.equal(dashboard.headers.get("access-control-allow-origin"), null);

    const config = loadConfig({ DATABASE_URL: t.database.url, RATCHET_LOG_LEVEL: "silent", RATCHET_CORS_ORIGINS: "https://app.example.com" });
    const restricted = await buildApp({ config, db: t.database.db, sweeper: false });
    try {
      const allowed = await restricted.inject({ method: "OPTIONS", url: "/api/v3/runs/run_x", headers: { origin: "https://app.example.com", "access-control-request-method": "GET" } });
      assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example.com");
      const refused = await restricted.inject({ method: "OPTIONS", url: "/api/v3/runs/run_x", headers: { origin: "https://evil.example.com", "access-control-request-method": "GET" } });
      assert.equal(refused.headers["access-control-allow-origin"], undefined);
    } finally {
      await restricted.close();
    }
  });
});
