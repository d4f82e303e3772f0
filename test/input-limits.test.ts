// Client mistakes are 4xx, never 500, and never half-written: text Postgres cannot store, JSON nested
// too deep, durations, dates and integers past what the columns hold, out-of-range worker manifests,
// and a dashboard that renders whatever the API accepted in bounded size.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { limits } from "../server/api/limits.ts";
import { jsonDepthBeyond } from "../server/api/input-safety.ts";
import { maxDurationMs, parseDurationMs } from "../server/engine/durations.ts";
import { previewLimits } from "../server/dashboard/json-preview.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

type Counts = Record<string, number>;

describe("input limits", () => {
  let t: TestApp;
  let api: ApiClient;
  let delayedRunId: string;

  const counts = async (): Promise<Counts> => {
    const [row] = await t.database.db.sql<Counts[]>`
      select (select count(*)::int from ratchet.runs) as runs, (select count(*)::int from ratchet.batches) as batches,
        (select count(*)::int from ratchet.schedules) as schedules, (select count(*)::int from ratchet.waitpoints) as waitpoints,
        (select count(*)::int from ratchet.worker_versions) as versions, (select count(*)::int from ratchet.tasks) as tasks`;
    return row!;
  };

  /** Sends the request and asserts a 400 whose message names the field, and that nothing was written. */
  const refused = async (method: "GET" | "POST" | "PUT", url: string, body: unknown, field: RegExp) => {
    const before = await counts();
    const response = await api.request(method, url, body);
    assert.equal(response.status, 400, `${method} ${url} ${JSON.stringify(body)?.slice(0, 200)} → ${response.status} ${JSON.stringify(response.body)}`);
    assert.ok(["VALIDATION_FAILED", "BAD_REQUEST"].includes(response.body.code), JSON.stringify(response.body));
    assert.match(response.body.error, field);
    assert.deepEqual(await counts(), before, `${method} ${url} wrote nothing`);
    return response.body as { error: string; code: string };
  };

  const rawRequest = (method: "POST", url: string, text: string, type = "application/json") =>
    t.app.inject({ method, url, headers: { authorization: `Bearer ${api.key}`, "content-type": type }, payload: text });

  before(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "limits" }]);
    delayedRunId = (await api.trigger("limits", { a: 1 }, { delay: "1h" })).id;
  });
  after(() => t.close());

  describe("a NUL character or a lone surrogate in any text field is a 400 naming the field", () => {
    const trigger = "/api/v1/tasks/limits/trigger";
    const cases: Array<[string, unknown, RegExp]> = [
      ["a tag", { payload: 1, options: { tags: ["ok", "a\u0000b"] } }, /^body\.options\.tags\.1: must not contain NUL/],
      ["a tag with a lone surrogate", { payload: 1, options: { tags: ["a\ud800"] } }, /^body\.options\.tags\.0: must be valid Unicode/],
      ["the idempotency key", { payload: 1, options: { idempotencyKey: "k\u0000" } }, /^body\.options\.idempotencyKey: /],
      ["the concurrency key", { payload: 1, options: { concurrencyKey: "c\u0000" } }, /^body\.options\.concurrencyKey: /],
      ["the queue", { payload: 1, options: { queue: { name: "q\u0000" } } }, /^body\.options\.queue\.name: /],
      ["the machine", { payload: 1, options: { machine: "m\u0000" } }, /^body\.options\.machine: /],
      ["lockToVersion", { payload: 1, options: { lockToVersion: "v\u0000" } }, /^body\.options\.lockToVersion: /],
      ["the debounce key", { payload: 1, options: { debounce: { key: "d\u0000", delay: "5s" } } }, /^body\.options\.debounce\.key: /],
      ["a payload value", { payload: { deep: ["x", "y\u0000"] } }, /^body\.payload\.deep\.1: must not contain NUL/],
      ["a payload key", { payload: { "k\u0000": 1 } }, /^body\.payload: the key "k\\u0000" must not contain NUL/],
      ["a payload lone surrogate", { payload: "\udc00" }, /^body\.payload: must be valid Unicode/],
      ["a metadata value", { payload: 1, options: { metadata: { note: "\u0000" } } }, /^body\.options\.metadata\.note: /],
    ];
    for (const [name, body, field] of cases) {
      test(`trigger: ${name}`, async () => {
        await refused("POST", trigger, body, field);
      });
    }

    test("query filters and path parameters", async () => {
      await refused("GET", "/api/v1/runs?filter%5Btag%5D=%00", undefined, /^query\.filter\[tag\]: must not contain NUL/);
      await refused("GET", "/api/v1/waitpoints/tokens?filter%5BidempotencyKey%5D=a%00", undefined, /^query\.filter\[idempotencyKey\]: /);
      await refused("GET", "/api/v1/queues/%00", undefined, /^params\.queue: must not contain NUL/);
      await refused("POST", "/api/v1/idempotencyKeys/k%00/reset", { taskIdentifier: "limits" }, /^params\.key: /);
    });

    test("the worker protocol: version, workerId", async () => {
      await refused("POST", "/engine/v1/worker/register", { version: "v\u0000", tasks: [{ id: "limits" }] }, /^body\.version: /);
      await refused("POST", "/engine/v1/worker/register", { tasks: [{ id: "limits", queue: { name: "q\ud800" } }] }, /^body\.tasks\.0\.queue\.name: must be valid Unicode/);
      await refused("POST", "/engine/v1/dequeue", { workerId: "w\u0000", waitSeconds: 0 }, /^body\.workerId: /);
    });

    test("schedules and wait tokens", async () => {
      const schedule = { task: "limits", cron: "0 * * * *" };
      await refused("POST", "/api/v1/schedules", { ...schedule, deduplicationKey: "d\u0000" }, /^body\.deduplicationKey: /);
      await refused("POST", "/api/v1/schedules", { ...schedule, deduplicationKey: "d", externalId: "e\u0000" }, /^body\.externalId: /);
      await refused("POST", "/api/v1/waitpoints/tokens", { idempotencyKey: "t\u0000" }, /^body\.idempotencyKey: /);
      await refused("POST", "/api/v1/waitpoints/tokens", { tags: ["\ud800"] }, /^body\.tags\.0: /);
    });

    test("a one-request batch with such an item is refused whole and leaves no batch behind", async () => {
      await refused(
        "POST",
        "/api/v2/tasks/batch",
        { items: [{ task: "limits", payload: 1 }, { task: "limits", payload: 1, options: { tags: ["\u0000"] } }] },
        /^body\.items\.1\.options\.tags\.0: /,
      );
      const pending = await t.database.db.sql`select 1 from ratchet.batches where status = 'PENDING'`;
      assert.equal(pending.length, 0);
    });

    test("an NDJSON batch item with such a field fails that item, not the request", async () => {
      const batch = await api.ok("POST", "/api/v3/batches", { runCount: 3 });
      const lines = [
        { index: 0, task: "limits", payload: { ok: true } },
        { index: 1, task: "limits", payload: { bad: "\u0000" } },
        { index: 2, task: "limits", payload: 1, options: { concurrencyKey: "\udbff" } },
      ];
      const response = await rawRequest("POST", `/api/v3/batches/${batch.id}/items`, lines.map((line) => JSON.stringify(line)).join("\n"), "application/x-ndjson");
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().itemsAccepted, 1);
      const retrieved = await api.ok("GET", `/api/v2/batches/${batch.id}`);
      assert.equal(retrieved.runs.length, 1);
      assert.deepEqual(
        retrieved.processing.errors.map((error: { index: number; error: string }) => [error.index, error.error.split(":")[0]]),
        [[1, "items[1].payload.bad"], [2, "items[2].options.concurrencyKey"]],
      );
    });

    test("a worker completion whose output cannot be stored fails that attempt with the reason; the others in the request land", async () => {
      // An environment of its own, so the dequeue sees only these two runs.
      const worker = new ApiClient(t.app, await t.key("staging"));
      await worker.register([{ id: "outputs" }]);
      const first = await worker.trigger("outputs", 1);
      const second = await worker.trigger("outputs", 2);
      const runs = await worker.dequeue("w-out", 2);
      assert.equal(runs.length, 2);
      for (const run of runs) await worker.start("w-out", run);
      const byId = new Map(runs.map((run) => [run.id, run]));
      const response = await worker.ok("POST", "/engine/v1/complete", {
        workerId: "w-out",
        completions: [
          { runId: first.id, attemptNumber: byId.get(first.id)!.attemptNumber, ok: true, output: { text: "nul\u0000" } },
          { runId: second.id, attemptNumber: byId.get(second.id)!.attemptNumber, ok: true, output: { fine: true } },
        ],
      });
      assert.deepEqual(response.results.map((result: { accepted: boolean }) => result.accepted), [true, true]);
      const failed = await worker.retrieve(first.id);
      assert.equal(failed.status, "FAILED");
      assert.match(failed.error.message, /output cannot be stored: completions\.0\.output\.text: must not contain NUL/);
      assert.equal((await worker.retrieve(second.id)).status, "COMPLETED");
    });
  });

  describe("JSON nested deeper than the limit is a 400 before anything recursive reads it", () => {
    const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

    test("a request body", async () => {
      const before = await counts();
      const response = await rawRequest("POST", "/api/v1/tasks/limits/trigger", `{"payload":${deep(5000)}}`);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), { error: `body: JSON is nested deeper than ${limits.jsonDepth} levels`, code: "VALIDATION_FAILED" });
      assert.deepEqual(await counts(), before);
      const within = await rawRequest("POST", "/api/v1/tasks/limits/trigger", `{"payload":${deep(limits.jsonDepth - 1)}}`);
      assert.equal(within.statusCode, 200, within.body);
    });

    test("brackets inside strings do not count", () => {
      assert.equal(jsonDepthBeyond(JSON.stringify({ text: "[".repeat(1000), quote: '\\"[[[' })), null);
      assert.equal(jsonDepthBeyond(deep(limits.jsonDepth)), null);
      assert.equal(jsonDepthBeyond(deep(limits.jsonDepth + 1)), limits.jsonDepth + 1);
    });

    test("a superjson payload, which is JSON inside a string", async () => {
      await refused("POST", "/api/v1/tasks/limits/trigger", { payload: JSON.stringify({ json: JSON.parse(deep(1000)) }), options: { payloadType: "application/super+json" } }, /^payload: JSON is nested deeper/);
    });

    test("an NDJSON line", async () => {
      const batch = await api.ok("POST", "/api/v3/batches", { runCount: 1 });
      const before = await counts();
      const response = await rawRequest("POST", `/api/v3/batches/${batch.id}/items`, `{"index":0,"task":"limits","payload":${deep(5000)}}`, "application/x-ndjson");
      assert.equal(response.statusCode, 400);
      assert.match(response.json().error, /^line 1: JSON is nested deeper than/);
      assert.deepEqual(await counts(), before);
    });
  });

  describe("durations, dates and integers past what Postgres holds are a 400 naming the field", () => {
    const trigger = "/api/v1/tasks/limits/trigger";
    const cases: Array<[string, string, unknown, RegExp]> = [
      ["delay", trigger, { payload: 1, options: { delay: "1000000w" } }, /^body\.options\.delay: must be a date from 1970|^body\.options\.delay: must be at most/],
      ["a delay date before 1970", trigger, { payload: 1, options: { delay: "0000-01-01T00:00:00Z" } }, /^body\.options\.delay: must be a date from 1970/],
      ["ttl", trigger, { payload: 1, options: { ttl: 1e15 } }, /^body\.options\.ttl: must be at most 3650d/],
      ["idempotencyKeyTTL", trigger, { payload: 1, options: { idempotencyKey: "k", idempotencyKeyTTL: "99999999999w" } }, /^body\.options\.idempotencyKeyTTL: must be at most/],
      ["debounce delay", trigger, { payload: 1, options: { debounce: { key: "d", delay: "1000000w" } } }, /^body\.options\.debounce\.delay: must be at most/],
      ["debounce maxDelay", trigger, { payload: 1, options: { debounce: { key: "d", delay: "5s", maxDelay: "99999999d" } } }, /^body\.options\.debounce\.maxDelay: /],
      ["maxDuration", trigger, { payload: 1, options: { maxDuration: 2 ** 31 } }, /^body\.options\.maxDuration: /],
      ["token timeout", "/api/v1/waitpoints/tokens", { timeout: "1000000w" }, /^body\.timeout: /],
      ["token timeout date", "/api/v1/waitpoints/tokens", { timeout: "0000-01-01T00:00:00Z" }, /^body\.timeout: must be a date from 1970/],
      ["token idempotencyKeyTTL", "/api/v1/waitpoints/tokens", { idempotencyKey: "t", idempotencyKeyTTL: "99999999999w" }, /^body\.idempotencyKeyTTL: /],
    ];
    for (const [name, url, body, field] of cases) {
      test(name, async () => {
        await refused("POST", url, body, field);
      });
    }

    test("reschedule and replay", async () => {
      await refused("POST", `/api/v1/runs/${delayedRunId}/reschedule`, { delay: "1000000w" }, /^body\.delay: /);
      await refused("POST", `/api/v1/runs/${delayedRunId}/replay`, { delay: "1000000w" }, /^body\.delay: /);
      await refused("POST", `/api/v1/runs/${delayedRunId}/replay`, { priority: 1e12 }, /^body\.priority: /);
      await refused("POST", `/api/v1/runs/${delayedRunId}/replay`, { maxDuration: 2 ** 31 }, /^body\.maxDuration: /);
      await refused("POST", `/api/v1/runs/${delayedRunId}/replay`, { ttl: "999999999w" }, /^body\.ttl: /);
    });

    test("attempt numbers past 2^31 in the worker protocol", async () => {
      await refused("POST", "/engine/v1/complete", { workerId: "w", completions: [{ runId: delayedRunId, attemptNumber: 2 ** 31, ok: true }] }, /^body\.completions\.0\.attemptNumber: /);
      await refused("POST", "/engine/v1/heartbeat", { workerId: "w", runs: [{ runId: delayedRunId, attemptNumber: 2 ** 31 }] }, /^body\.runs\.0\.attemptNumber: /);
      await refused("POST", `/engine/v1/runs/${delayedRunId}/attempts/${2 ** 31}/start`, { workerId: "w" }, /^params\.attemptNumber: /);
    });

    test("the SDK's timeout.None (maxDuration 2147483647) is accepted and the run starts", async () => {
      const worker = new ApiClient(t.app, await t.key("preview"));
      await worker.register([{ id: "forever" }]);
      const { id } = await worker.trigger("forever", 1, { maxDuration: limits.int32Max });
      const response = await worker.ok("POST", "/engine/v1/dequeue", { workerId: "w-forever", maxRuns: 1, waitSeconds: 0, start: true });
      assert.deepEqual(response.runs.map((run: { id: string }) => run.id), [id]);
    });

    test("the longest duration is accepted", async () => {
      const { id } = await api.trigger("limits", 1, { delay: `${limits.durationMaxDays}d`, ttl: `${limits.durationMaxDays}d` });
      assert.equal((await api.retrieve(id)).status, "DELAYED");
    });
  });

  describe("a worker manifest out of range is refused at registration", () => {
    test("a task ttl past the maximum names the task and the field, and registers nothing", async () => {
      const body = await refused(
        "POST",
        "/engine/v1/worker/register",
        { tasks: [{ id: "fine" }, { id: "forever-ttl", ttl: 1e15 }] },
        /^body\.tasks\.1\.ttl: task "forever-ttl": ttl must be at most/,
      );
      assert.equal(body.code, "VALIDATION_FAILED");
      await refused("POST", "/engine/v1/worker/register", { tasks: [{ id: "word-ttl", ttl: "forever" }] }, /^body\.tasks\.0\.ttl: task "word-ttl": ttl must be a duration/);
    });

    test("other settings past what the columns hold", async () => {
      await refused("POST", "/engine/v1/worker/register", { tasks: [{ id: "t", maxDuration: 2 ** 31 }] }, /^body\.tasks\.0\.maxDuration: /);
      await refused("POST", "/engine/v1/worker/register", { tasks: [{ id: "t", retry: { maxTimeoutInMs: 1e18 } }] }, /^body\.tasks\.0\.retry\.maxTimeoutInMs: /);
    });

    test("a task ttl within range registers and its runs trigger", async () => {
      await api.register([{ id: "numeric-ttl", ttl: 90.5 }]);
      const { id } = await api.trigger("numeric-ttl", 1);
      const run = await api.retrieve(id);
      assert.equal(run.status, "QUEUED");
      assert.equal(run.ttl, "90.5");
    });
  });

  test("one duration parser: SQL's ratchet.duration_ms reads every stored TTL as durations.ts does", async () => {
    const inputs = [
      "0", "1", "90", "1.5", "1.0005", "1.0004", "0.0015", "10m", "1h30m", "2d", "1w", "1w2d3h4m5s", " 10m ", "\t5s\n", "01m",
      "3650d", "3651d", "315360000", "315360000.001", "99999999999999999999w", "99999999999999999999", "", "m", "10", "1e3",
      "-5s", "10 m", "1.5h", "١٠s", "10M", "5s ",
    ];
    const rows = await t.database.db.sql<{ input: string; ms: string | null }[]>`
      select input, ratchet.duration_ms(input)::text as ms from unnest(${inputs}::text[]) as input`;
    for (const { input, ms } of rows) {
      const expected = parseDurationMs(input);
      assert.equal(ms === null ? null : Number(ms), expected, `duration_ms(${JSON.stringify(input)})`);
    }
    assert.equal(parseDurationMs("3650d"), maxDurationMs);
  });

  describe("errors outside the error table are in the documented shape", () => {
    test("a malformed percent-encoding is a 400 BAD_REQUEST", async () => {
      for (const url of ["/api/v1/%zz", "/api/v1/queues/%ED%A0%80"]) {
        const response = await api.request("GET", url);
        assert.equal(response.status, 400);
        assert.deepEqual(Object.keys(response.body).sort(), ["code", "error"]);
        assert.equal(response.body.code, "BAD_REQUEST");
      }
    });

    test("a wrong method on an existing path is a 405 with an Allow header", async () => {
      const response = await api.request("DELETE", "/api/v1/runs");
      assert.equal(response.status, 405);
      assert.equal(response.headers.allow, "GET, HEAD");
      assert.equal(response.body.code, "METHOD_NOT_ALLOWED");
      const withParams = await api.request("PUT", `/api/v3/runs/${delayedRunId}`, {});
      assert.equal(withParams.status, 405);
      assert.equal(withParams.headers.allow, "GET, HEAD");
      const several = await api.request("POST", `/api/v1/runs/${delayedRunId}/metadata`, {});
      assert.equal(several.status, 405);
      assert.equal(several.headers.allow, "GET, HEAD, PUT");
      const unknown = await api.request("GET", "/api/v1/nothing-here");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, "ROUTE_NOT_FOUND");
    });

    test("a wrong content type and a body too large on the real app", async () => {
      const media = await rawRequest("POST", "/api/v1/tasks/limits/trigger", "<a/>", "application/xml");
      assert.equal(media.statusCode, 415);
      assert.deepEqual(Object.keys(media.json()).sort(), ["code", "error"]);
      const large = await rawRequest("POST", "/api/v1/tasks/limits/trigger", JSON.stringify({ payload: "x".repeat(5 * 1024 * 1024) }));
      assert.equal(large.statusCode, 413);
      assert.deepEqual(large.json().code, "PAYLOAD_TOO_LARGE");
    });
  });

  describe("the dashboard's run page renders any payload in bounded size", () => {
    let browser: Browser;
    let base: string;
    before(async () => {
      browser = await signedInAdmin(t.app, t.database.db);
      base = `/p/${t.project.ref}/prod`;
    });

    const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
    /** A run whose stored payload is what an older server accepted (the API refuses it now). */
    const runWithStoredPayload = async (payload: string, type: string) => {
      const { id } = await api.trigger("limits", 1);
      await t.database.db.sql`
        update ratchet.runs set payload = ${JSON.stringify(payload)}::text::json, payload_type = ${type}
        where id = (select id from ratchet.runs order by id desc limit 1)`;
      return id;
    };
    const boundedPage = (html: string) => html.length < previewLimits.chars * 3 + 64 * 1024;

    test("a 240 KB superjson payload of nested arrays", async () => {
      const text = JSON.stringify({ json: "__" }).replace('"__"', nested(120_000));
      const id = await runWithStoredPayload(text, "application/super+json");
      const page = await browser.page(`${base}/runs/${id}`);
      assert.equal(page.response.statusCode, 200);
      assert.ok(boundedPage(page.response.body), `${page.response.body.length} bytes of HTML`);
      const link = page.document.querySelector(`a[href="${base}/runs/${id}/raw/payload"]`);
      assert.ok(link, "the page links to the raw payload");
      const raw = await browser.request("GET", `${base}/runs/${id}/raw/payload`);
      assert.equal(raw.statusCode, 200);
      assert.match(String(raw.headers["content-type"]), /^application\/json/);
      assert.equal(raw.headers["x-content-type-options"], "nosniff");
      assert.equal(raw.body, text);
      const api3 = await api.request("GET", `/api/v3/runs/${id}`);
      assert.equal(api3.status, 200, "the API hands back what it cannot parse as the text");
    });

    test("a 72 KB payload nested 36,000 levels", async () => {
      const text = JSON.stringify({ json: "__" }).replace('"__"', nested(36_000));
      const id = await runWithStoredPayload(text, "application/super+json");
      const page = await browser.page(`${base}/runs/${id}`);
      assert.equal(page.response.statusCode, 200);
      assert.ok(boundedPage(page.response.body), `${page.response.body.length} bytes of HTML`);
    });

    test("a payload as deep as the API allows and as large (3 MB), collapsed and cut with a link", async () => {
      let value: unknown = Array.from({ length: 5 }, (_, index) => index);
      for (let level = 0; level < limits.jsonDepth - 3; level += 1) value = [value, level];
      const wide = Array.from({ length: 60_000 }, (_, index) => ({ index, text: "lorem ipsum dolor" }));
      const deepRun = await api.trigger("limits", { value });
      const wideRun = await api.trigger("limits", wide);
      for (const id of [deepRun.id, wideRun.id]) {
        const page = await browser.page(`${base}/runs/${id}`);
        assert.equal(page.response.statusCode, 200);
        assert.ok(boundedPage(page.response.body), `${page.response.body.length} bytes of HTML`);
        assert.match(page.response.body, /shortened preview/);
        const raw = await browser.request("GET", `${base}/runs/${id}/raw/payload`);
        assert.equal(raw.statusCode, 200);
      }
      const raw = await browser.request("GET", `${base}/runs/${wideRun.id}/raw/payload`);
      assert.deepEqual(JSON.parse(raw.body), wide);
    });

    test("the tokens page shows short previews of large outputs, and refuses outputs it cannot store", async () => {
      const large = Array.from({ length: 40_000 }, (_, index) => ({ index, text: "lorem ipsum dolor" }));
      for (let count = 0; count < 3; count += 1) {
        const token = await api.ok("POST", "/api/v1/waitpoints/tokens", {});
        await api.ok("POST", `/api/v1/waitpoints/tokens/${token.id}/complete`, { data: large });
      }
      const page = await browser.page(`${base}/tokens`);
      assert.equal(page.response.statusCode, 200);
      assert.ok(page.response.body.length < 64 * 1024, `${page.response.body.length} bytes of HTML`);
      const token = await api.ok("POST", "/api/v1/waitpoints/tokens", {});
      const nul = await browser.submit(`${base}/tokens`, `${base}/tokens/${token.id}/complete`, { data: '{"note": "\\u0000"}' });
      assert.equal(nul.statusCode, 400);
      assert.match(nul.body, /cannot be stored: output\.note: must not contain NUL/);
      const deep = await browser.submit(`${base}/tokens`, `${base}/tokens/${token.id}/complete`, { data: nested(1000) });
      assert.equal(deep.statusCode, 400);
      assert.equal((await api.ok("GET", `/api/v1/waitpoints/tokens/${token.id}`)).status, "WAITING");
    });

    test("log lines are shortened on the page: 1,000 lines of 60 KB each stay a small page", async () => {
      const { id } = await api.trigger("limits", 1);
      const big = "x".repeat(60 * 1024);
      for (let start = 0; start < 1000; start += 40) {
        const events = Array.from({ length: 40 }, (_, index) => ({
          seq: start + index, time: new Date().toISOString(), kind: "log", level: "info", message: big, attributes: { big: big.slice(0, 30_000) },
        }));
        await api.ok("POST", `/engine/v1/runs/${id}/events`, { workerId: "w", attemptNumber: 1, events });
      }
      const page = await browser.page(`${base}/runs/${id}`);
      assert.equal(page.response.statusCode, 200);
      assert.equal(page.document.querySelectorAll(".logs li").length, 1000);
      assert.ok(page.response.body.length < 4 * 1024 * 1024, `${page.response.body.length} bytes of HTML`);
    });

    test("the raw value needs the same sign-in as the run page", async () => {
      const { id } = await api.trigger("limits", { secret: 1 });
      const stranger = new Browser(t.app);
      const response = await stranger.request("GET", `${base}/runs/${id}/raw/payload`);
      assert.equal(response.statusCode, 302);
      assert.match(String(response.headers.location), /^\/login/);
      const missing = await browser.request("GET", `${base}/runs/${id}/raw/nothing`);
      assert.equal(missing.statusCode, 404);
    });
  });
});
