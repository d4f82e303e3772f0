// Environment variables end to end: the official SDK's envvars.* against a listening Ratchet, the
// real `ratchet dev` worker injecting them into attempts, values encrypted at rest, and secret values
// redacted from everything a run stores — also when a task posts to the worker protocol directly.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { configure, envvars } from "@trigger.dev/sdk";
import { apiClientManager } from "@trigger.dev/core/v3";
import { createKeyring, openValue, sealValue } from "../server/engine/envvars-crypto.ts";
import { reencryptVariables } from "../server/engine/envvars.ts";
import { redactorOf } from "../server/engine/envvars-redaction.ts";
import { envvarsList } from "../server/storage/envvars.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { httpApiOk } from "./helpers/http-api.ts";
import { projectRoot, runCli } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const finalStatuses = new Set(["COMPLETED", "FAILED", "CRASHED", "CANCELED", "TIMED_OUT", "SYSTEM_FAILURE"]);

/** Every row of every text-like column of the database that contains `needle` (bytea as hex too). */
async function findInDatabase(sql: TestApp["database"]["db"]["sql"], needle: string): Promise<string[]> {
  const columns = await sql<{ schema: string; table: string; column: string; type: string }[]>`
    select c.table_schema as schema, c.table_name as table, c.column_name as column, c.data_type as type
    from information_schema.columns c join information_schema.tables t
      on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
    where c.table_schema not in ('pg_catalog', 'information_schema')
      and c.data_type in ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')`;
  assert.ok(columns.length > 20, `${columns.length} columns scanned`);
  const hex = Buffer.from(needle).toString("hex");
  const found: string[] = [];
  for (const { schema, table, column } of columns) {
    const [row] = await sql<{ count: number }[]>`
      select count(*)::int as count from ${sql(schema)}.${sql(table)}
      where strpos(${sql(column)}::text, ${needle}) > 0 or strpos(${sql(column)}::text, ${hex}) > 0`;
    if (row!.count > 0) {
      const rows = await sql.unsafe(`select ${column}::text as v from "${schema}"."${table}" where strpos(${column}::text, $1) > 0 limit 1`, [needle]);
      found.push(`${schema}.${table}.${column} ${JSON.stringify(rows[0]?.v)?.slice(0, 300)}`);
    }
  }
  return found;
}

describe("environment variables and secrets", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker | undefined;
  const secret = `sk_live_${randomBytes(12).toString("hex")}`;
  const changedGreeting = `greeting-${randomBytes(8).toString("hex")}`;
  const api = httpApiOk(() => url, () => key);
  const waitForRun = async (id: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${id}`);
      if (finalStatuses.has(run.status)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${run.status}:\n${worker?.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const run = async (task: string) => waitForRun((await api("POST", `/api/v1/tasks/${task}/trigger`, { payload: {} })).id);

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: url, accessToken: key });
  });
  after(async () => {
    await worker?.stop();
    await t.close();
  });

  test("the official SDK's envvars calls work unmodified, and secrets come back redacted", async () => {
    const ref = t.project.ref;
    assert.deepEqual(await envvars.list(ref, "dev"), []);
    assert.deepEqual(await envvars.create(ref, "dev", { name: "GREETING", value: "hello" }), { success: true });
    // The SDK's params type predates isSecret; its request schema (and Trigger.dev's API) has it.
    const secretVariable = { name: "API_TOKEN", value: secret, isSecret: true };
    await envvars.create(ref, "dev", secretVariable);
    assert.deepEqual(await envvars.upload(ref, "dev", { variables: { BULK_A: "a", BULK_B: "b" }, override: false }), { success: true });
    const listed = await envvars.list(ref, "dev");
    assert.deepEqual(
      listed.map((variable) => [variable.name, variable.value, variable.isSecret]),
      [["API_TOKEN", "<redacted>", true], ["BULK_A", "a", false], ["BULK_B", "b", false], ["GREETING", "hello", false]],
    );
    assert.deepEqual(await envvars.retrieve(ref, "dev", "GREETING"), { name: "GREETING", value: "hello", isSecret: false });
    assert.equal((await envvars.retrieve(ref, "dev", "API_TOKEN")).value, "<redacted>");
    // envvars.update() outside a task throws a ReferenceError inside SDK 4.x itself (it reads an
    // undeclared variable), so the update goes through the SDK's own client, which it would call.
    await apiClientManager.clientOrThrow().updateEnvVar(ref, "dev", "BULK_A", { value: "a2" });
    assert.equal((await envvars.retrieve(ref, "dev", "BULK_A")).value, "a2");
    await envvars.del(ref, "dev", "BULK_B");
    await assert.rejects(envvars.retrieve(ref, "dev", "BULK_B"), /No environment variable BULK_B/);
    // Without override an import leaves existing values alone; with it, they are replaced.
    await envvars.upload(ref, "dev", { variables: { BULK_A: "ignored" }, override: false });
    assert.equal((await envvars.retrieve(ref, "dev", "BULK_A")).value, "a2");
    await envvars.upload(ref, "dev", { variables: { BULK_A: "replaced" }, override: true });
    assert.equal((await envvars.retrieve(ref, "dev", "BULK_A")).value, "replaced");
  });

  test("bad input is a 4xx naming the field, and a key manages only its own environment", async () => {
    const client = new ApiClient(t.app, key);
    const base = `/api/v1/projects/${t.project.ref}/envvars/dev`;
    const bad = await client.request("POST", base, { name: "1BAD", value: "x" });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /name/);
    assert.equal((await client.request("POST", base, { name: "RATCHET_SECRET_KEY", value: "x" })).status, 400);
    assert.equal((await client.request("POST", base, { name: "GREETING", value: "again" })).status, 409);
    assert.equal((await client.request("POST", base, { name: "OK" })).status, 400);
    assert.equal((await client.request("PUT", `${base}/NOPE`, { value: "x" })).status, 404);
    assert.equal((await client.request("GET", `/api/v1/projects/${t.project.ref}/envvars/prod`)).status, 403);
    assert.equal((await client.request("GET", `/api/v1/projects/proj_aaaaaaaaaaaaaaaaaaaa/envvars/dev`)).status, 404);
    assert.equal((await client.request("GET", `/api/v1/projects/${t.project.ref}/envvars/nowhere`)).status, 404);
  });

  test("a worker injects the variables into attempts; a change applies to the attempts that start afterwards", async () => {
    worker = startWorker(join(projectRoot, "test/fixtures/envvars-project"), { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
    await api("POST", `/api/v1/projects/${t.project.ref}/envvars/dev`, { name: "OVERRIDDEN", value: "from the server" });
    const first = await run("read-env");
    assert.equal(first.status, "COMPLETED", worker.output());
    // `ratchet dev` loads .env and .env.local over the server's dev variables.
    assert.deepEqual(first.output, { greeting: "hello", atImport: "hello", fromDotenv: "dotenv value", fromDotenvLocal: "local value", overridden: "from .env.local" });
    await api("PUT", `/api/v1/projects/${t.project.ref}/envvars/dev/GREETING`, { value: changedGreeting });
    const second = await run("read-env");
    assert.equal(second.output.greeting, changedGreeting);
    assert.equal(second.output.atImport, changedGreeting, "a process started with the old variables is not reused");
  });

  test("a task reads an encrypted secret that is stored nowhere in plain text, and its logs say [redacted]", async () => {
    const revealed = await run("reveal-secret");
    assert.equal(revealed.status, "COMPLETED", worker!.output());
    assert.deepEqual(revealed.output, { token: "[redacted]", length: secret.length }, "the task saw the real value");
    const failed = await run("throw-secret");
    assert.equal(failed.status, "FAILED");
    assert.equal(failed.error.message, "the API refused [redacted]");
    const { events } = await api("GET", `/api/v1/runs/${revealed.id}/events`);
    const line = events.find((event: { message: string }) => event.message.startsWith("calling the API"));
    assert.ok(line, JSON.stringify(events));
    assert.equal(line.message, "calling the API with [redacted]");
    assert.equal(line.attributes.token, "[redacted]");
    assert.deepEqual(line.attributes.nested, { list: ["[redacted]"] });

    // From here the test is the worker: the dev worker steps aside so it does not take the run.
    await worker!.stop();
    worker = undefined;
    // A task that skips the SDK and posts its own events and output is redacted all the same.
    const client = new ApiClient(t.app, key);
    await client.register([{ id: "bypass" }]);
    const bypass = await client.trigger("bypass", {});
    const [claimed] = await client.dequeue("bypass-worker", 1);
    assert.equal(claimed?.id, bypass.id);
    await client.start("bypass-worker", claimed!);
    await client.ok("POST", `/engine/v1/runs/${bypass.id}/events`, {
      workerId: "bypass-worker",
      attemptNumber: 1,
      events: [{ seq: 0, time: new Date().toISOString(), kind: "log", level: "info", message: `raw ${secret}`, attributes: { [secret]: secret } }],
    });
    await client.ok("POST", `/engine/v1/runs/${bypass.id}/journal/0`, { workerId: "bypass-worker", op: "record", kind: "step", name: "s", output: JSON.stringify({ json: `step ${secret}` }) });
    await client.complete("bypass-worker", claimed!, { ok: true, output: { copied: secret, inside: `"${secret}"` } });
    assert.deepEqual((await client.retrieve(bypass.id)).output, { copied: "[redacted]", inside: '"[redacted]"' });

    assert.deepEqual(await findInDatabase(t.database.db.sql, secret), []);
    // Values that are not secret are sealed at rest too (only what a run outputs is stored as is).
    const plain = `plain-${randomBytes(8).toString("hex")}`;
    await api("POST", `/api/v1/projects/${t.project.ref}/envvars/dev`, { name: "NOT_SECRET", value: plain });
    assert.deepEqual(await findInDatabase(t.database.db.sql, plain), []);
  });

  test("the worker route answers 304 while nothing changed", async () => {
    const first = await fetch(`${url}/engine/v1/envvars`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(first.status, 200);
    const etag = first.headers.get("etag")!;
    assert.equal(((await first.json()) as { variables: Record<string, string> }).variables.API_TOKEN, secret);
    const again = await fetch(`${url}/engine/v1/envvars`, { headers: { authorization: `Bearer ${key}`, "if-none-match": etag } });
    assert.equal(again.status, 304);
    await api("POST", `/api/v1/projects/${t.project.ref}/envvars/dev`, { name: "NEW_ONE", value: "x" });
    const changed = await fetch(`${url}/engine/v1/envvars`, { headers: { authorization: `Bearer ${key}`, "if-none-match": etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get("etag"), etag);
  });

  test("rotating the master key: old keys still open values, reencrypt moves them all to the new key", async () => {
    const environmentId = (await new ApiClient(t.app, key).ok("GET", "/api/v1/whoami")).environment.id;
    const oldRing = t.app.ratchet.keyring;
    const newKey = randomBytes(32).toString("base64");
    const rotated = createKeyring(newKey, [Buffer.from(oldRing.current.key).toString("hex")]);
    const before = await envvarsList(t.database.db.sql, environmentId);
    assert.ok(before.every((row) => row.keyId === oldRing.current.id));
    // Opening with the rotated ring works before re-encryption (the old key is listed)...
    assert.equal(openValue(rotated, environmentId, "API_TOKEN", before.find((row) => row.name === "API_TOKEN")!), secret);
    assert.equal(await reencryptVariables(t.database.db, rotated, 2), before.length);
    assert.equal(await reencryptVariables(t.database.db, rotated), 0, "a second run has nothing left to do");
    const after = await envvarsList(t.database.db.sql, environmentId);
    const newOnly = createKeyring(newKey);
    assert.ok(after.every((row) => row.keyId === newOnly.current.id));
    assert.equal(openValue(newOnly, environmentId, "API_TOKEN", after.find((row) => row.name === "API_TOKEN")!), secret);
    // ...and once re-encrypted, the old key alone opens nothing.
    assert.throws(() => openValue(oldRing, environmentId, "API_TOKEN", after.find((row) => row.name === "API_TOKEN")!), /not configured/);

    // The same rotation again, through the command line an operator runs.
    const nextKey = randomBytes(32).toString("hex");
    const cli = await runCli(["admin", "envvars", "reencrypt"], { DATABASE_URL: t.database.url, RATCHET_ENCRYPTION_KEY: nextKey, RATCHET_ENCRYPTION_OLD_KEYS: `${randomBytes(32).toString("base64")}, ${newKey}` });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, new RegExp(`Re-encrypted ${after.length} values`));
    const next = createKeyring(nextKey);
    const resealed = await envvarsList(t.database.db.sql, environmentId);
    assert.equal(openValue(next, environmentId, "API_TOKEN", resealed.find((row) => row.name === "API_TOKEN")!), secret);
    const missingOld = await runCli(["admin", "envvars", "reencrypt"], { DATABASE_URL: t.database.url, RATCHET_ENCRYPTION_KEY: randomBytes(32).toString("hex") });
    assert.equal(missingOld.code, 1, "a value under a key that is not configured stops the command");
    assert.match(missingOld.stderr, /not configured/);
  });

  test("a sealed value is bound to its variable and environment", () => {
    const ring = createKeyring(randomBytes(32).toString("hex"));
    const sealed = sealValue(ring, "env-a", "NAME", "value");
    assert.equal(openValue(ring, "env-a", "NAME", sealed), "value");
    assert.throws(() => openValue(ring, "env-b", "NAME", sealed), /does not decrypt/);
    assert.throws(() => openValue(ring, "env-a", "OTHER", sealed), /does not decrypt/);
    assert.throws(() => createKeyring("too short"), /32 random bytes/);
  });

  test("redaction replaces whole secrets, escaped forms too, and leaves short values alone", () => {
    const redact = redactorOf(["abc", 'quo"te\\value', "longer-secret", "longer"]);
    assert.equal(redact("x abc longer-secret longer"), "x abc [redacted] [redacted]");
    assert.equal(redact(JSON.stringify({ v: 'quo"te\\value' })), '{"v":"[redacted]"}');
    assert.deepEqual(redact({ a: ["longer"], longer: 1 }), { a: ["[redacted]"], "[redacted]": 1 });
  });
});
