// Large payloads and outputs (packets) through the official @trigger.dev/sdk: offloaded at 128 KB,
// uploaded and read back through presigned URLs, kept in Postgres and deleted with their run.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { configure, runs, tasks } from "@trigger.dev/sdk";
import { ManualClock } from "../server/clock.ts";
import { deleteUnattachedPackets } from "../server/engine/realtime-maintenance.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

function bigPayload(bytes: number) {
  return { text: "x".repeat(bytes), when: new Date("2026-01-02T03:04:05.000Z") };
}

describe("packets: large payloads and outputs", () => {
  let t: TestApp;
  let worker: ApiClient;
  let address: string;
  let key: string;
  /** Over the socket, not app.inject: presigned URLs point at the origin the request reached. */
  async function http(method: string, url: string) {
    const response = await fetch(`${address}${url}`, { method, headers: { authorization: `Bearer ${key}` } });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  }

  before(async () => {
    t = await createTestApp();
    key = await t.key("dev");
    address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    worker = new ApiClient(t.app, key);
    await worker.register([{ id: "big-task" }]);
  });
  after(() => t.close());

  async function packetCount(runId?: string) {
    const sql = t.database.db.sql;
    const [row] = runId
      ? await sql<{ n: number }[]>`select count(*)::int as n from ratchet.packets p join ratchet.runs r on r.id = p.run_id where r.id = ${runId}`
      : await sql<{ n: number }[]>`select count(*)::int as n from ratchet.packets`;
    return row!.n;
  }

  for (const [label, bytes] of [["200 KB", 200 * 1024], ["10 MB", 10 * 1024 * 1024]] as const) {
    test(`a ${label} payload is offloaded by the SDK, stored with its run and retrieved decoded`, async () => {
      const handle = await tasks.trigger("big-task", bigPayload(bytes));
      const stored = (await http("GET", `/api/v3/runs/${handle.id}`)).body;
      assert.equal(stored.payloadType, "application/store");
      assert.match(stored.payloadPresignedUrl ?? "", /^http:\/\/127\.0\.0\.1:\d+\/packets\//);
      const run = await runs.retrieve(handle.id);
      assert.equal(run.payload.text.length, bytes);
      // Superjson survived: the SDK decoded the packet with its content type.
      assert.ok(run.payload.when instanceof Date);
      const [latest] = await t.database.db.sql<{ id: string }[]>`select id from ratchet.runs order by id desc limit 1`;
      assert.equal(await packetCount(latest!.id), 1);
    });
  }

  test("a worker's offloaded output is served to the SDK, and the packet goes with its run", async () => {
    const handle = await tasks.trigger("big-task", { small: true });
    const dequeued = (await worker.dequeue("w-big", 10)).find((run) => run.id === handle.id);
    assert.ok(dequeued);
    await worker.start("w-big", dequeued);
    // As the SDK's task executor does: ask for an upload URL named after the attempt, PUT there.
    const path = `${handle.id}-1/output.json`;
    const presigned = (await http("PUT", `/api/v2/packets/${encodeURIComponent(path)}`)).body;
    assert.equal(presigned.storagePath, path);
    const output = JSON.stringify({ doubled: "y".repeat(300 * 1024) });
    const upload = await fetch(presigned.presignedUrl!, { method: "PUT", headers: { "content-type": "application/json" }, body: output });
    assert.equal(upload.status, 200);
    await worker.complete("w-big", dequeued, { ok: true, output: path, outputType: "application/store" });
    const run = await runs.retrieve(handle.id);
    assert.equal(run.status, "COMPLETED");
    assert.equal(run.output.doubled.length, 300 * 1024);
    // Through the per-run packet route too (what subscriptions use).
    const viaRun = (await http("GET", `/api/v1/runs/${handle.id}/packets/output`)).body;
    assert.equal(await (await fetch(viaRun.presignedUrl!)).text(), output);

    const before = await packetCount();
    await t.database.db.sql`delete from ratchet.runs where environment_id = (select environment_id from ratchet.runs limit 1) and status = 'COMPLETED'`;
    assert.equal(await packetCount(), before - 1);
  });

  test("presigned URLs are refused when forged, expired, for another method or another path", async () => {
    const presigned = (await http("PUT", `/api/v2/packets/${encodeURIComponent("trigger/packet_abc/payload.json")}`)).body;
    const url = new URL(presigned.presignedUrl!);
    const put = (target: URL | string) => fetch(target, { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
    const forged = new URL(url);
    forged.searchParams.set("signature", Buffer.alloc(32).toString("base64url"));
    assert.equal((await put(forged)).status, 403);
    const otherPath = new URL(url.toString().replace("packet_abc", "packet_abd"));
    assert.equal((await put(otherPath)).status, 403);
    const later = new URL(url);
    later.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 1));
    assert.equal((await put(later)).status, 403);
    assert.equal((await fetch(url)).status, 403, "a PUT URL does not read");
    assert.equal((await put(url)).status, 200);
    const bad = await worker.request("PUT", `/api/v2/packets/${encodeURIComponent("../etc/passwd")}`);
    assert.equal(bad.status, 400);
    assert.equal((await worker.request("GET", `/api/v1/packets/${encodeURIComponent("trigger/none/payload.json")}`)).status, 404);
  });

  test("a packet no run refers to is deleted a day after its upload; one a run refers to stays", async () => {
    const sql = t.database.db.sql;
    const attached = (await sql<{ n: number }[]>`select count(*)::int as n from ratchet.packets where run_id is not null`)[0]!.n;
    assert.ok(attached > 0);
    const clock = new ManualClock(new Date(Date.now() + 86_400_000 - 60_000));
    assert.equal(await deleteUnattachedPackets({ db: t.database.db, clock }), 0, "within the day nothing goes");
    clock.advance(120_000);
    assert.ok((await deleteUnattachedPackets({ db: t.database.db, clock })) >= 1);
    const left = (await sql<{ n: number }[]>`select count(*)::int as n from ratchet.packets where run_id is null`)[0]!.n;
    assert.equal(left, 0);
    assert.equal(await packetCount(), attached);
  });
});
