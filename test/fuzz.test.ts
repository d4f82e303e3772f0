// Property-based fuzzing of every API and worker route (fast-check): random and malformed paths,
// queries, bodies and content types must only ever get a 2xx or a 4xx — never a 5xx — and leave the
// database consistent (nothing half-written).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

const requestsPerRoute = Number(process.env.RATCHET_FUZZ_REQUESTS ?? 200);

describe("fuzzing every route", () => {
  let t: TestApp;
  let api: ApiClient;
  let ids: Record<string, string>;

  before(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "fuzz" }]);
    const run = await api.trigger("fuzz", { a: 1 }, { idempotencyKey: "fuzz-key" });
    const batch = await api.ok("POST", "/api/v3/batches", { runCount: 2 });
    const token = await api.ok("POST", "/api/v1/waitpoints/tokens", {});
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "fuzz", cron: "0 * * * *", deduplicationKey: "fuzz" });
    ids = { runId: run.id, batchId: batch.id, tokenId: token.id, scheduleId: schedule.id, key: "fuzz-key", queue: "fuzz", taskId: "fuzz", position: "0", attemptNumber: "1", hash: "0".repeat(64) };
  });
  after(() => t.close());

  test(`${requestsPerRoute} random requests per route get only 2xx or 4xx, and leave no half-written state`, async () => {
    const routes = t.app.ratchetRoutes.filter((route) => /^\/(api|engine)\//.test(route.url) && route.method !== "HEAD");
    const segment = fc.oneof(
      fc.constantFrom(...Object.values(ids)),
      fc.string({ maxLength: 80 }),
      fc.constantFrom("run_00000000000000000000000000", "..", "%2F", "%252F", "%00", "' or 1=1 --", "🙂", "a".repeat(300), "\u0000", "a\u0000b", "2147483648"),
    );
    // Values Postgres cannot hold: NUL, lone surrogates, numbers past 2^31 and far past any date, durations of millennia.
    const hostile = fc.constantFrom("\u0000", "a\u0000", "\ud800", "x\udfff", 2 ** 31, 1e15, -1e300, 1e308, "1000000w", "99999999999999999999s", "0000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z");
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostile, fc.dictionary(fc.oneof(fc.string({ maxLength: 5 }), hostile.map(String)), hostile, { maxKeys: 2 }));
    const json = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.record({ payload: fc.jsonValue({ maxDepth: 3 }), options: fc.dictionary(fc.constantFrom("tags", "delay", "ttl", "queue", "idempotencyKey", "idempotencyKeyTTL", "priority", "maxAttempts", "maxDuration", "debounce", "metadata", "concurrencyKey", "lockToVersion", "parentRunId", "machine"), fc.jsonValue({ maxDepth: 2 })) }),
      fc.record({ payload: value, options: fc.dictionary(fc.constantFrom("tags", "delay", "ttl", "queue", "idempotencyKeyTTL", "priority", "maxDuration", "concurrencyKey", "machine", "lockToVersion"), value) }),
      fc.dictionary(fc.constantFrom("delay", "timeout", "ttl", "priority", "maxDuration", "tags", "idempotencyKey", "deduplicationKey", "externalId", "version", "workerId", "data", "runCount", "attemptNumber"), value),
      fc.record({ workerId: fc.string({ maxLength: 40 }), runs: fc.array(fc.record({ runId: segment, attemptNumber: fc.integer({ min: -5, max: 5 }) }), { maxLength: 3 }), maxRuns: fc.integer({ min: -5, max: 200 }), op: fc.constantFrom("get", "record", "wait", "nope") }),
    );
    const body = fc.oneof(
      json.map((value) => ({ text: JSON.stringify(value), type: "application/json" })),
      fc.string({ maxLength: 200 }).map((text) => ({ text, type: "application/json" })),
      fc.array(json, { maxLength: 4 }).map((lines) => ({ text: lines.map((line) => JSON.stringify(line)).join("\n"), type: "application/x-ndjson" })),
      fc.string({ maxLength: 100 }).map((text) => ({ text, type: "text/plain" })),
      fc.constant({ text: "", type: "application/json" }),
      fc.integer({ min: 100, max: 6000 }).map((depth) => ({ text: `{"payload":${"[".repeat(depth)}${"]".repeat(depth)}}`, type: "application/json" })),
      fc.constant(null),
    );
    const query = fc.dictionary(
      fc.oneof(fc.constantFrom("filter[status]", "filter[tag]", "filter[createdAt][from]", "filter[createdAt][period]", "page[size]", "page[after]", "page[before]", "type", "page", "perPage", "limit"), fc.string({ maxLength: 10 })),
      fc.oneof(fc.string({ maxLength: 40 }), hostile.map(String)),
      { maxKeys: 4 },
    );
    let sent = 0;
    for (const [index, route] of routes.entries()) {
      const samples = fc.sample(fc.record({ params: fc.array(segment, { minLength: 6, maxLength: 6 }), query, body }), { numRuns: requestsPerRoute, seed: 4242 + index });
      for (const sample of samples) {
        let position = 0;
        const path = route.url.replace(/:[A-Za-z]+/g, () => encodeURIComponent(sample.params[position++] ?? ""));
        const search = new URLSearchParams(sample.query).toString();
        const payload = sample.body?.text;
        // Long-polls would wait out their poll: ask them not to wait.
        const text = payload && /"waitSeconds"/.test(payload) ? payload.replace(/"waitSeconds":[^,}]*/g, '"waitSeconds":0') : payload;
        const response = await t.app.inject({
          method: route.method as "GET",
          url: `${path}${search ? `?${search}` : ""}`,
          headers: { authorization: `Bearer ${api.key}`, ...(sample.body ? { "content-type": sample.body.type } : {}) },
          payload: route.method === "GET" || route.method === "DELETE" ? undefined : text,
        });
        assert.ok(
          response.statusCode < 500,
          `${route.method} ${path}?${search} with ${JSON.stringify(sample.body)?.slice(0, 300)} → ${response.statusCode} ${response.body.slice(0, 300)}`,
        );
        sent += 1;
      }
    }
    assert.ok(sent >= routes.length * requestsPerRoute);

    const sql = t.database.db.sql;
    const [orphanEntries] = await sql<{ count: number }[]>`
      select count(*)::int as count from ratchet.queue_entries e left join ratchet.runs r on r.id = e.run_id
      where r.id is null or r.status <> 'QUEUED'`;
    assert.equal(orphanEntries?.count, 0, "every queue entry belongs to a QUEUED run");
    const [queuedWithoutEntry] = await sql<{ count: number }[]>`
      select count(*)::int as count from ratchet.runs r
      where r.status = 'QUEUED' and not exists (select 1 from ratchet.queue_entries e where e.run_id = r.id)`;
    assert.equal(queuedWithoutEntry?.count, 0, "every QUEUED run can be dequeued");
    const [strayExecutions] = await sql<{ count: number }[]>`
      select count(*)::int as count from ratchet.executions x join ratchet.runs r on r.id = x.run_id
      where r.status not in ('DEQUEUED', 'EXECUTING')`;
    assert.equal(strayExecutions?.count, 0, "only dequeued or executing runs hold a slot");
    const [runsWithoutStatusTime] = await sql<{ count: number }[]>`
      select count(*)::int as count from ratchet.runs where status in ('COMPLETED', 'FAILED', 'CANCELED', 'CRASHED', 'EXPIRED', 'TIMED_OUT') and finished_at is null`;
    assert.equal(runsWithoutStatusTime?.count, 0, "every finished run has its finish time");
  });
});
