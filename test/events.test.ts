import assert from "node:assert/strict";
import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { after, before, describe, test } from "node:test";
import { bodyLimitBytes } from "../server/app.ts";
import { requireSecretKey } from "../server/auth/authenticate.ts";
import { ManualClock } from "../server/clock.ts";
import type { Db } from "../server/db/client.ts";
import { EventPartitionMaintainer, maintainEventPartitions } from "../server/engine/events-maintenance.ts";
import { applyHttpConventions } from "../server/http/conventions.ts";
import { fromPublicId } from "../server/ids.ts";
import { runEventRoutes } from "../server/routes/api/events.ts";
import { eventRoutes } from "../server/routes/engine/events.ts";
import { eventsEnsurePartitions, eventsInsert, eventsPartitionLockKey } from "../server/storage/events.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

// The server's clock for this file: a day no partition was created for (the template database was
// migrated today, so it holds today's partitions and the next week's only).
const clock = new ManualClock("2025-01-15T12:00:00.000Z");

describe("run events", () => {
  let t: TestApp;
  /** The engine and API as the app serves them, to trigger and dequeue runs. */
  let prod: ApiClient;
  /** The event routes in a scope of their own, built as the app builds its scopes. */
  let scope: FastifyInstance;
  let events: ApiClient;
  let otherEnvironment: ApiClient;

  before(async () => {
    t = await createTestApp({ clock });
    const context = t.app.ratchet;
    scope = Fastify({ bodyLimit: bodyLimitBytes });
    applyHttpConventions(scope);
    await scope.register(async (child) => {
      child.addHook("preHandler", requireSecretKey(context.db, context.clock));
      await child.register(async (routes) => eventRoutes(routes, context));
      await child.register(async (routes) => runEventRoutes(routes, context));
    });
    await scope.ready();
    const prodKey = await t.key("prod");
    prod = new ApiClient(t.app, prodKey);
    events = new ApiClient(scope, prodKey);
    otherEnvironment = new ApiClient(scope, await t.key("dev"));
    await prod.register([
      { id: "chatty", retry: { maxAttempts: 2, minTimeoutInMs: 0, factor: 1, randomize: false } },
    ]);
  });
  after(async () => {
    await scope.close();
    await t.close();
  });

  const sql = () => t.database.db.sql;

  async function partitions(): Promise<string[]> {
    const rows = await sql()<{ name: string }[]>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'ratchet.events'::regclass order by c.relname`;
    return rows.map((row) => row.name);
  }

  /** A triggered and dequeued run: its id and attempt. */
  async function runningRun(): Promise<{ id: string; attemptNumber: number }> {
    const { id } = await prod.trigger("chatty", {});
    const [run] = await prod.dequeue("w1");
    assert.equal(run?.id, id);
    return run!;
  }

  function event(seq: number, time: string, extra: Record<string, unknown> = {}) {
    return { seq, time, kind: "log", level: "info", message: `event ${seq}`, ...extra };
  }

  test("events posted in several batches, out of order across requests, come back in order", async () => {
    const run = await runningRun();
    const post = (attemptNumber: number, batch: unknown[]) =>
      events.ok("POST", `/engine/v1/runs/${run.id}/events`, { workerId: "w1", attemptNumber, events: batch });

    // The later batch arrives first; two events share a millisecond and are ordered by seq.
    assert.deepEqual(
      await post(1, [
        event(3, "2025-01-15T12:00:03.000Z"),
        event(5, "2025-01-15T12:00:04.000Z", { kind: "span", spanId: "s1", parentSpanId: "s0", durationMs: 12.5, attributes: { http: { status: 200 } } }),
        event(4, "2025-01-15T12:00:03.000Z", { level: "warn" }),
      ]),
      { accepted: 3 },
    );
    await post(1, [event(1, "2025-01-15T12:00:01.000Z"), event(0, "2025-01-15T12:00:00.500Z"), event(2, "2025-01-15T12:00:02.000Z")]);

    // A second attempt whose first event has the same time as the first attempt's last: attempt decides.
    await prod.complete("w1", run, { ok: false, error: { message: "boom" } });
    const [retry] = await prod.dequeue("w1");
    assert.equal(retry?.attemptNumber, 2);
    await post(2, [event(1, "2025-01-15T12:00:05.000Z"), event(0, "2025-01-15T12:00:04.000Z", { level: "error" })]);

    const listed = await events.ok("GET", `/api/v1/runs/${run.id}/events`);
    assert.deepEqual(
      listed.events.map((e: { attemptNumber: number; seq: number }) => [e.attemptNumber, e.seq]),
      [[1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [2, 0], [2, 1]],
    );
    assert.deepEqual(listed.events[5], {
      seq: 5,
      attemptNumber: 1,
      time: "2025-01-15T12:00:04.000Z",
      kind: "span",
      level: "info",
      message: "event 5",
      attributes: { http: { status: 200 } },
      spanId: "s1",
      parentSpanId: "s0",
      durationMs: 12.5,
    });
    assert.deepEqual(listed.events[0], { seq: 0, attemptNumber: 1, time: "2025-01-15T12:00:00.500Z", kind: "log", level: "info", message: "event 0" });

    const limited = await events.ok("GET", `/api/v1/runs/${run.id}/events?limit=2`);
    assert.deepEqual(limited.events.map((e: { seq: number }) => e.seq), [0, 1]);
    const badLimit = await events.request("GET", `/api/v1/runs/${run.id}/events?limit=10001`);
    assert.equal(badLimit.status, 400);
    assert.match(badLimit.body.error, /querystring\.limit/);
    await prod.complete("w1", retry!, { ok: true });
  });

  test("a retried batch is stored once", async () => {
    const run = await runningRun();
    const body = { workerId: "w1", attemptNumber: 1, events: [event(0, "2025-01-15T12:01:00.000Z"), event(1, "2025-01-15T12:01:00.000Z")] };
    await events.ok("POST", `/engine/v1/runs/${run.id}/events`, body);
    assert.deepEqual(await events.ok("POST", `/engine/v1/runs/${run.id}/events`, body), { accepted: 2 });
    const listed = await events.ok("GET", `/api/v1/runs/${run.id}/events`);
    assert.equal(listed.events.length, 2);
    await prod.complete("w1", run, { ok: true });
  });

  test("a key of another environment gets 404 for posting and for reading a run's events", async () => {
    const run = await runningRun();
    const body = { workerId: "w1", attemptNumber: 1, events: [event(0, "2025-01-15T12:02:00.000Z")] };
    const posted = await otherEnvironment.request("POST", `/engine/v1/runs/${run.id}/events`, body);
    assert.equal(posted.status, 404);
    assert.equal(posted.body.code, "NOT_FOUND");
    const read = await otherEnvironment.request("GET", `/api/v1/runs/${run.id}/events`);
    assert.equal(read.status, 404);
    assert.equal(read.body.code, "NOT_FOUND");

    const [stored] = await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.events where run_id = ${fromPublicId("run", run.id)}`;
    assert.equal(stored?.n, 0, "nothing was written for the other environment's request");
    for (const id of ["run_00000000000000000000000000", "not-a-run"]) {
      assert.equal((await events.request("GET", `/api/v1/runs/${id}/events`)).status, 404);
      assert.equal((await events.request("POST", `/engine/v1/runs/${id}/events`, body)).status, 404);
    }
    const unauthenticated = await scope.inject({ method: "GET", url: `/api/v1/runs/${run.id}/events` });
    assert.equal(unauthenticated.statusCode, 401);
    await prod.complete("w1", run, { ok: true });
  });

  test("an event for a day without a created partition is not lost: its partition is created", async () => {
    assert.equal((await partitions()).includes("events_20250114"), false);
    const run = await runningRun();
    await events.ok("POST", `/engine/v1/runs/${run.id}/events`, {
      workerId: "w1",
      attemptNumber: 1,
      events: [event(0, "2025-01-14T23:59:59.999Z"), event(1, "2025-01-15T00:00:00.000Z")],
    });
    assert.ok((await partitions()).includes("events_20250114"));
    const listed = await events.ok("GET", `/api/v1/runs/${run.id}/events`);
    assert.deepEqual(listed.events.map((e: { time: string }) => e.time), ["2025-01-14T23:59:59.999Z", "2025-01-15T00:00:00.000Z"]);
    const [row] = await sql()<{ partition: string }[]>`
      select tableoid::regclass::text as partition from ratchet.events
      where run_id = ${fromPublicId("run", run.id)} and seq = 0`;
    assert.equal(row?.partition, "ratchet.events_20250114");
    await prod.complete("w1", run, { ok: true });
  });

  test("concurrent inserts that all meet the same missing day all land", async () => {
    assert.equal((await partitions()).includes("events_20250113"), false);
    const runId = "00000000-0000-7000-8000-000000000002";
    const inserted = await Promise.all(
      Array.from({ length: 8 }, (_, seq) =>
        eventsInsert(sql(), [
          {
            environmentId: "00000000-0000-4000-8000-000000000001",
            runId,
            attemptNumber: 1,
            seq,
            time: new Date("2025-01-13T08:00:00Z"),
            kind: "log",
            level: "info",
            message: `concurrent ${seq}`,
            attributes: null,
            spanId: null,
            parentSpanId: null,
            durationMs: null,
          },
        ]),
      ),
    );
    assert.deepEqual(inserted, [1, 1, 1, 1, 1, 1, 1, 1]);
    const [row] = await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.events_20250113 where run_id = ${runId}`;
    assert.equal(row?.n, 8);
  });

  test("text Postgres cannot store (NUL, lone surrogates) is replaced rather than failing the batch", async () => {
    const run = await runningRun();
    await events.ok("POST", `/engine/v1/runs/${run.id}/events`, {
      workerId: "w1",
      attemptNumber: 1,
      events: [event(0, "2025-01-15T12:03:00.000Z", { message: "a\u0000b\ud800", attributes: { "k\u0000": ["v\u0000"] } })],
    });
    const [stored] = (await events.ok("GET", `/api/v1/runs/${run.id}/events`)).events;
    assert.equal(stored.message, "a\ufffdb\ufffd");
    assert.deepEqual(stored.attributes, { "k\ufffd": ["v\ufffd"] });
    await prod.complete("w1", run, { ok: true });
  });

  test("an oversize message or attributes, too many events or a time out of range get a 4xx naming the field and write nothing", async () => {
    const run = await runningRun();
    const url = `/engine/v1/runs/${run.id}/events`;
    const post = (batch: unknown[]) => events.request("POST", url, { workerId: "w1", attemptNumber: 1, events: batch });
    const valid = event(0, "2025-01-15T12:04:00.000Z");

    const longMessage = await post([valid, event(1, "2025-01-15T12:04:01.000Z", { message: "é".repeat(32_769) })]);
    assert.equal(longMessage.status, 413);
    assert.equal(longMessage.body.code, "PAYLOAD_TOO_LARGE");
    assert.match(longMessage.body.error, /^events\[1\]\.message is 65538 bytes; the limit is 65536 bytes/);

    const bigAttributes = await post([event(0, "2025-01-15T12:04:00.000Z", { attributes: { blob: "x".repeat(65_536) } }), valid]);
    assert.equal(bigAttributes.status, 413);
    assert.match(bigAttributes.body.error, /^events\[0\]\.attributes is \d+ bytes/);

    const tooMany = await post(Array.from({ length: 1001 }, (_, seq) => event(seq, "2025-01-15T12:04:00.000Z")));
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.error, /body\.events/);

    const badKind = await post([valid, { ...valid, seq: 1, kind: "metric" }]);
    assert.equal(badKind.status, 400);
    assert.match(badKind.body.error, /body\.events\.1\.kind/);

    const ancient = await post([valid, event(1, "2024-12-01T00:00:00.000Z")]);
    assert.equal(ancient.status, 400);
    assert.match(ancient.body.error, /^events\[1\]\.time: /);
    const future = await post([event(1, "2025-01-17T00:00:00.000Z")]);
    assert.equal(future.status, 400);

    assert.deepEqual((await events.ok("GET", `/api/v1/runs/${run.id}/events`)).events, [], "no request wrote anything");

    // Exactly at the limits is accepted, and the table's own check agrees with the route.
    await events.ok("POST", url, {
      workerId: "w1",
      attemptNumber: 1,
      events: [event(0, "2025-01-15T12:04:00.000Z", { message: "é".repeat(32_768) })],
    });
    assert.equal((await events.ok("GET", `/api/v1/runs/${run.id}/events`)).events[0].message.length, 32_768);
    await prod.complete("w1", run, { ok: true });
  });

  test("partitions are created ahead and dropped after retention, and only day partitions are dropped", async () => {
    // The migration made today's partition (the real today: it ran when the tests started).
    const real = new Date();
    const realDay = `events_${real.toISOString().slice(0, 10).replaceAll("-", "")}`;
    assert.ok((await partitions()).includes(realDay), `${realDay} exists after migrating`);

    await eventsEnsurePartitions(sql(), new Date("2024-05-01T00:00:00Z"), 12); // 1 … 12 May
    await eventsInsert(sql(), [
      {
        environmentId: "00000000-0000-4000-8000-000000000001",
        runId: "00000000-0000-7000-8000-000000000001",
        attemptNumber: 1,
        seq: 0,
        time: new Date("2024-05-05T10:00:00Z"),
        kind: "log",
        level: "info",
        message: "old",
        attributes: null,
        spanId: null,
        parentSpanId: null,
        durationMs: null,
      },
    ]);
    // Not ours to drop: a partition with another name, and a table with a day name that is not attached.
    await sql()`create table ratchet.events_manual partition of ratchet.events for values from ('2024-04-01 00:00:00+00') to ('2024-04-02 00:00:00+00')`;
    await sql()`create table ratchet.events_20240402 (id integer)`;

    const deps = { db: t.database.db, clock: new ManualClock("2024-06-10T05:00:00.000Z") };
    const result = await maintainEventPartitions(deps, { retentionDays: 30, aheadDays: 3 });
    assert.deepEqual(result, { skipped: false, created: 4, dropped: 10 });

    const remaining = await partitions();
    const may = remaining.filter((name) => name.startsWith("events_202405"));
    assert.deepEqual(may, ["events_20240511", "events_20240512"], "days before 11 May (10 June − 30 days) are dropped");
    assert.deepEqual(remaining.filter((name) => name.startsWith("events_202406")), [
      "events_20240610",
      "events_20240611",
      "events_20240612",
      "events_20240613",
    ]);
    assert.ok(remaining.includes("events_manual"));
    assert.ok(remaining.includes("events_20250114") && remaining.includes(realDay), "newer days are kept");
    const [standalone] = await sql()<{ present: boolean }[]>`select to_regclass('ratchet.events_20240402') is not null as present`;
    assert.equal(standalone?.present, true);
    const [old] = await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.events where "time" < '2024-05-11'`;
    assert.equal(old?.n, 0, "the dropped days' events are gone");

    assert.deepEqual(await maintainEventPartitions(deps, { retentionDays: 30, aheadDays: 3 }), { skipped: false, created: 0, dropped: 0 });
    await sql()`drop table ratchet.events_manual`;
    await sql()`drop table ratchet.events_20240402`;
  });

  test("only one process maintains partitions at a time: the others skip their turn", async () => {
    const deps = { db: t.database.db, clock: new ManualClock("2024-08-01T00:00:00.000Z") };
    await sql().begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${eventsPartitionLockKey.toString()}::bigint)`;
      assert.deepEqual(await maintainEventPartitions(deps, { retentionDays: 30, aheadDays: 1 }), { skipped: true, created: 0, dropped: 0 });
      // The SQL functions wait for the same lock (sql/0003_events.sql uses the same key).
      await assert.rejects(
        sql().begin(async (other) => {
          await other`set local lock_timeout = '50ms'`;
          await other`select ratchet.events_ensure_partitions('2024-08-01', 1)`;
        }),
        (error: unknown) => (error as { code?: string }).code === "55P03",
      );
    });
    assert.equal((await partitions()).includes("events_20240801"), false);
    assert.equal((await maintainEventPartitions(deps, { retentionDays: 30, aheadDays: 1 })).created, 2);
  });

  test("the maintainer runs a pass when started, and logs a failed pass instead of throwing", async () => {
    const clockAt = new ManualClock("2024-09-01T00:00:00.000Z");
    const warnings: unknown[] = [];
    const logger = { info: () => {}, warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger;

    const maintainer = new EventPartitionMaintainer({ db: t.database.db, clock: clockAt }, { retentionDays: 3650, aheadDays: 1 }, logger);
    maintainer.start();
    await maintainer.stop();
    assert.ok((await partitions()).includes("events_20240902"));
    assert.deepEqual(warnings, []);

    const broken = { sql: { begin: () => Promise.reject(new Error("database down")) } } as unknown as Db;
    const failing = new EventPartitionMaintainer({ db: broken, clock: clockAt }, { retentionDays: 30 }, logger);
    failing.start();
    await failing.stop();
    assert.equal(warnings.length, 1);
  });
});
