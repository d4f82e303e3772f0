// Schedules with an injected clock: time zones and daylight-saving changes, exactly once per tick
// with two servers, one catch-up after downtime, declarative sync and dev presence.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { ManualClock } from "../server/clock.ts";
import { connect } from "../server/db/client.ts";
import { fireDueSchedules } from "../server/engine/schedules.ts";
import { fromPublicId } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("schedules", () => {
  let t: TestApp;
  let api: ApiClient;
  const clock = new ManualClock("2026-03-06T12:00:00.000Z");
  const fire = () => fireDueSchedules(t.app.ratchet.engine, 1000);

  /** Fires due ticks while moving the clock forward in steps, as the sweeper would. */
  const runClock = async (until: string, stepMs: number) => {
    const end = new Date(until).getTime();
    while (clock.now().getTime() < end) {
      clock.advance(stepMs);
      await fire();
    }
  };
  const firedTimestamps = async (scheduleId: string) => {
    const rows = await t.database.db.sql<{ payload: { timestamp: string } }[]>`
      select payload from ratchet.runs where schedule_id = ${fromPublicId("sched", scheduleId)!} order by id`;
    return rows.map((row) => row.payload.timestamp);
  };

  before(async () => {
    t = await createTestApp({ clock });
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "report" }]);
  });
  after(() => t.close());

  test("a daily 02:30 in New York fires once a day across spring-forward and fall-back", async () => {
    clock.set("2026-03-06T12:00:00.000Z");
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "30 2 * * *", timezone: "America/New_York", deduplicationKey: "ny-daily" });
    assert.equal(schedule.nextRun, "2026-03-07T07:30:00.000Z", "02:30 EST is 07:30 UTC");
    await runClock("2026-03-10T12:00:00.000Z", 3_600_000);
    assert.deepEqual(await firedTimestamps(schedule.id), [
      "2026-03-07T07:30:00.000Z",
      "2026-03-08T07:00:00.000Z", // 02:30 does not exist on March 8: it fires at the jump, 03:00 EDT
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
      "2026-03-10T06:30:00.000Z",
    ]);
    clock.set("2026-10-30T12:00:00.000Z");
    await api.ok("POST", `/api/v1/schedules/${schedule.id}/deactivate`);
    await api.ok("POST", `/api/v1/schedules/${schedule.id}/activate`);
    await runClock("2026-11-03T12:00:00.000Z", 3_600_000);
    const fall = (await firedTimestamps(schedule.id)).slice(4);
    assert.deepEqual(fall, [
      "2026-10-31T06:30:00.000Z", // 02:30 EDT
      "2026-11-01T07:30:00.000Z", // 02:30 EST, once, on the day 01:00–02:00 repeats
      "2026-11-02T07:30:00.000Z",
      "2026-11-03T07:30:00.000Z",
    ]);
  });

  test("hourly in London fires every hour exactly once across both changes", async () => {
    for (const [start, end] of [["2026-03-28T22:00:00.000Z", "2026-03-29T06:00:00.000Z"], ["2026-10-24T22:00:00.000Z", "2026-10-25T06:00:00.000Z"]]) {
      clock.set(start!);
      const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", timezone: "Europe/London", deduplicationKey: `london-${start}` });
      await runClock(end!, 15 * 60_000);
      const fired = (await firedTimestamps(schedule.id)).map((time) => new Date(time).getTime());
      assert.equal(fired.length, 8, `eight hours between ${start} and ${end}`);
      fired.forEach((time, index) => index > 0 && assert.equal(time - fired[index - 1]!, 3_600_000, "an hour apart, none missed, none twice"));
      await api.ok("POST", `/api/v1/schedules/${schedule.id}/deactivate`);
    }
  });

  test("two servers firing the same ticks at once never fire one twice", async () => {
    clock.set("2026-05-01T00:00:00.000Z");
    const second = connect({ url: t.database.url, poolSize: 5 });
    const other = await buildApp({ config: t.config, db: second, clock, logger: pino({ level: "silent" }), sweeper: false });
    await other.ready();
    try {
      const schedules = [];
      for (let i = 0; i < 5; i += 1) {
        schedules.push(await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "*/5 * * * *", deduplicationKey: `race-${i}` }));
      }
      for (let step = 0; step < 24; step += 1) {
        clock.advance(5 * 60_000);
        await Promise.all([fire(), fireDueSchedules(other.ratchet.engine, 1000), fire(), fireDueSchedules(other.ratchet.engine, 1000)]);
      }
      for (const schedule of schedules) {
        const fired = await firedTimestamps(schedule.id);
        assert.equal(fired.length, 24);
        assert.equal(new Set(fired).size, 24, "each tick fired once");
        await api.ok("POST", `/api/v1/schedules/${schedule.id}/deactivate`);
      }
    } finally {
      await other.close();
      await second.close();
    }
  });

  test("a one-day outage yields one catch-up run, then ticks resume on time", async () => {
    clock.set("2026-06-01T00:00:00.000Z");
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", deduplicationKey: "outage" });
    clock.set("2026-06-02T00:30:00.000Z");
    await fire();
    await fire();
    assert.deepEqual(await firedTimestamps(schedule.id), ["2026-06-01T01:00:00.000Z"], "one catch-up, stamped with the first missed tick");
    const after = await api.ok("GET", `/api/v1/schedules/${schedule.id}`);
    assert.equal(after.nextRun, "2026-06-02T01:00:00.000Z");
    clock.set("2026-06-02T01:00:00.000Z");
    await fire();
    assert.equal((await firedTimestamps(schedule.id)).length, 2);
    await api.ok("POST", `/api/v1/schedules/${schedule.id}/deactivate`);
  });

  test("the payload carries the tick, the previous one and the next ten in the schedule's zone", async () => {
    clock.set("2026-07-01T00:00:00.000Z");
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 9 * * 1", timezone: "Asia/Tokyo", deduplicationKey: "tokyo", externalId: "user_7" });
    await runClock("2026-07-14T00:00:00.000Z", 6 * 3_600_000);
    const rows = await t.database.db.sql<{ payload: Record<string, unknown> }[]>`
      select payload from ratchet.runs where schedule_id = ${fromPublicId("sched", schedule.id)!} order by id`;
    assert.equal(rows.length, 2);
    const second = rows[1]!.payload;
    assert.equal(second.scheduleId, schedule.id);
    assert.equal(second.type, "IMPERATIVE");
    assert.equal(second.timestamp, "2026-07-13T00:00:00.000Z", "Monday 09:00 in Tokyo");
    assert.equal(second.lastTimestamp, "2026-07-06T00:00:00.000Z");
    assert.equal(second.externalId, "user_7");
    assert.equal(second.timezone, "Asia/Tokyo");
    const upcoming = second.upcoming as string[];
    assert.equal(upcoming.length, 10);
    upcoming.forEach((time, index) => assert.equal(time, new Date(Date.UTC(2026, 6, 20 + 7 * index)).toISOString()));
    await api.ok("POST", `/api/v1/schedules/${schedule.id}/deactivate`);
  });

  test("a deactivated schedule stops firing; the same deduplication key updates it; bad input names the field", async () => {
    clock.set("2026-08-01T00:00:00.000Z");
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "*/10 * * * *", deduplicationKey: "pausable" });
    const updated = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "*/30 * * * *", deduplicationKey: "pausable" });
    assert.equal(updated.id, schedule.id, "creating again with the key updates");
    assert.equal(updated.generator.expression, "*/30 * * * *");
    assert.match(updated.generator.description, /30 minutes/);
    const deactivated = await api.ok("POST", `/api/v1/schedules/${schedule.id}/deactivate`);
    assert.equal(deactivated.active, false);
    await runClock("2026-08-01T03:00:00.000Z", 10 * 60_000);
    assert.deepEqual(await firedTimestamps(schedule.id), []);

    const badCron = await api.request("POST", "/api/v1/schedules", { task: "report", cron: "61 * * * *", deduplicationKey: "bad" });
    assert.equal(badCron.status, 400);
    assert.match(badCron.body.error, /^body\.cron: /);
    const sixFields = await api.request("POST", "/api/v1/schedules", { task: "report", cron: "0 0 * * * *", deduplicationKey: "bad" });
    assert.match(sixFields.body.error, /five fields/);
    const badZone = await api.request("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", timezone: "Mars/Olympus", deduplicationKey: "bad" });
    assert.equal(badZone.status, 400);
    assert.match(badZone.body.error, /^body\.timezone: /);
    const list = await api.ok("GET", "/api/v1/schedules?perPage=100");
    assert.ok(list.data.some((item: { id: string }) => item.id === schedule.id));
    const zones = await t.app.inject({ method: "GET", url: "/api/v1/timezones" });
    assert.ok(zones.json().timezones.includes("America/New_York"));
    await api.ok("DELETE", `/api/v1/schedules/${schedule.id}`);
    assert.equal((await api.request("GET", `/api/v1/schedules/${schedule.id}`)).status, 404);
  });

  test("declarative schedules follow the registered code; dev ones fire only while a worker is connected", async () => {
    const dev = new ApiClient(t.app, await t.key("dev"));
    clock.set("2026-09-01T00:00:00.000Z");
    await dev.register([{ id: "nightly", schedule: { cron: "0 3 * * *", timezone: "Europe/Paris" } }]);
    let list = await dev.ok("GET", "/api/v1/schedules");
    const declared = list.data.find((item: { task: string }) => item.task === "nightly");
    assert.equal(declared.type, "DECLARATIVE");
    assert.equal(declared.nextRun, "2026-09-01T01:00:00.000Z", "03:00 in Paris (CEST)");
    const refused = await dev.request("DELETE", `/api/v1/schedules/${declared.id}`);
    assert.equal(refused.status, 422, "declared in code, changed in code");

    clock.set("2026-09-01T01:00:00.000Z");
    await fire();
    assert.deepEqual(await firedTimestamps(declared.id), [], "no dev worker connected: the tick passes");
    await dev.ok("POST", "/engine/v1/dequeue", { workerId: "dev-worker", maxRuns: 1 });
    clock.set("2026-09-02T01:00:00.000Z");
    await dev.ok("POST", "/engine/v1/dequeue", { workerId: "dev-worker", maxRuns: 1 });
    await fire();
    assert.deepEqual(await firedTimestamps(declared.id), ["2026-09-02T01:00:00.000Z"]);

    await dev.register([{ id: "other" }]);
    list = await dev.ok("GET", "/api/v1/schedules");
    assert.equal(list.data.some((item: { task: string }) => item.task === "nightly"), false, "removed with the task");
  });
  test("a cron that never fires is refused with a 400 naming cron, on create and on update", async () => {
    clock.set("2026-08-01T00:00:00.000Z");
    for (const cron of ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 11 *"]) {
      const refused = await api.request("POST", "/api/v1/schedules", { task: "report", cron, deduplicationKey: "never" });
      assert.equal(refused.status, 400, cron);
      assert.match(refused.body.error, /^body\.cron: .*never fires/);
    }
    const leapDay = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 0 29 2 *", deduplicationKey: "leap-day" });
    assert.equal(leapDay.nextRun, "2028-02-29T00:00:00.000Z", "rare is not never");
    const update = await api.request("PUT", `/api/v1/schedules/${leapDay.id}`, { task: "report", cron: "0 0 30 2 *" });
    assert.equal(update.status, 400);
    assert.match(update.body.error, /^body\.cron: /);
    assert.equal((await api.ok("GET", `/api/v1/schedules/${leapDay.id}`)).generator.expression, "0 0 29 2 *");
    await api.ok("DELETE", `/api/v1/schedules/${leapDay.id}`);
  });

  test("a schedule for a task no version of the environment has is refused with a 422 naming task", async () => {
    clock.set("2026-08-01T00:00:00.000Z");
    const refused = await api.request("POST", "/api/v1/schedules", { task: "ghost", cron: "0 * * * *", deduplicationKey: "ghost" });
    assert.equal(refused.status, 422);
    assert.match(refused.body.error, /^body\.task: .*"ghost"/);
    const list = await api.ok("GET", "/api/v1/schedules?perPage=100");
    assert.equal(list.data.some((item: { task: string }) => item.task === "ghost"), false, "nothing was created");
    // Known in another environment only is still unknown here.
    await new ApiClient(t.app, await t.key("staging")).register([{ id: "staging-only" }]);
    const elsewhere = await api.request("POST", "/api/v1/schedules", { task: "staging-only", cron: "0 * * * *", deduplicationKey: "elsewhere" });
    assert.equal(elsewhere.status, 422);
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", deduplicationKey: "to-ghost" });
    const update = await api.request("PUT", `/api/v1/schedules/${schedule.id}`, { task: "ghost", cron: "0 * * * *" });
    assert.equal(update.status, 422);
    assert.match(update.body.error, /^body\.task: /);
    assert.equal((await api.ok("GET", `/api/v1/schedules/${schedule.id}`)).task, "report");
    await api.ok("DELETE", `/api/v1/schedules/${schedule.id}`);
  });

  test("a window spreads each tick to a stable time after it, before the next tick", async () => {
    clock.set("2026-04-01T00:00:00.000Z");
    const hour = 3_600_000;
    const created = [];
    for (let i = 0; i < 8; i += 1) {
      created.push(await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", window: "30m", deduplicationKey: `spread-${i}` }));
    }
    const offsets = created.map((schedule) => {
      assert.equal(schedule.window, "30m");
      assert.equal(schedule.nextRun, "2026-04-01T01:00:00.000Z", "nextRun stays the cron's time");
      const offset = new Date(schedule.nextRunEffectiveAt).getTime() - new Date(schedule.nextRun).getTime();
      assert.ok(offset >= 0 && offset < 30 * 60_000, `offset ${offset} is within the window`);
      return offset;
    });
    assert.ok(new Set(offsets).size > 1, "schedules on the same cron do not all fire at once");

    const [first] = created;
    const firstOffset = offsets[0]!;
    clock.set(new Date(Date.parse("2026-04-01T01:00:00.000Z") + firstOffset - 1));
    await fire();
    assert.deepEqual(await firedTimestamps(first.id), [], "not before its time in the window");
    clock.set(new Date(Date.parse("2026-04-01T01:00:00.000Z") + firstOffset));
    await fire();
    assert.deepEqual(await firedTimestamps(first.id), ["2026-04-01T01:00:00.000Z"], "the payload carries the nominal tick");
    const after = await api.ok("GET", `/api/v1/schedules/${first.id}`);
    assert.equal(after.nextRun, "2026-04-01T02:00:00.000Z");
    assert.equal(Date.parse(after.nextRunEffectiveAt) - Date.parse(after.nextRun), firstOffset, "the same offset every tick");
    // Each later tick: not a millisecond early, then once, and not again half an hour later.
    for (let h = 2; h <= 5; h += 1) {
      const fireAt = Date.parse(`2026-04-01T0${h}:00:00.000Z`) + firstOffset;
      for (const at of [fireAt - 1, fireAt, fireAt + hour / 2]) {
        clock.set(new Date(at));
        await fire();
      }
    }
    assert.deepEqual(await firedTimestamps(first.id), ["2026-04-01T01:00:00.000Z", "2026-04-01T02:00:00.000Z", "2026-04-01T03:00:00.000Z", "2026-04-01T04:00:00.000Z", "2026-04-01T05:00:00.000Z"], "one run per tick, none lost or doubled by the window");

    // A percentage is of the interval to the next tick; without a window a tick fires on time.
    const percent = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "*/10 * * * *", window: "50%", deduplicationKey: "spread-percent" });
    const percentOffset = Date.parse(percent.nextRunEffectiveAt) - Date.parse(percent.nextRun);
    assert.ok(percentOffset >= 0 && percentOffset < 5 * 60_000);
    const exact = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", deduplicationKey: "spread-none" });
    assert.equal(exact.window, undefined);
    assert.equal(exact.nextRunEffectiveAt, exact.nextRun);
    // A window longer than the interval is capped at it: the tick still fires before the next one.
    const capped = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "*/5 * * * *", window: "24h", deduplicationKey: "spread-capped" });
    assert.ok(Date.parse(capped.nextRunEffectiveAt) - Date.parse(capped.nextRun) < 5 * 60_000);
    // PUT replaces the schedule's fields: without a window it has none.
    const updated = await api.ok("PUT", `/api/v1/schedules/${percent.id}`, { task: "report", cron: "*/10 * * * *" });
    assert.equal(updated.window, undefined);
    assert.equal(updated.nextRunEffectiveAt, updated.nextRun);

    for (const window of ["25h", "1441m", "1d", "101%", "30s", "1.5h", "soon"]) {
      const refused = await api.request("POST", "/api/v1/schedules", { task: "report", cron: "0 * * * *", window, deduplicationKey: "bad-window" });
      assert.equal(refused.status, 400, window);
      assert.match(refused.body.error, /^body\.window: /);
    }
    for (const schedule of [...created, percent, exact, capped]) await api.ok("DELETE", `/api/v1/schedules/${schedule.id}`);
  });

  test("a worker manifest's schedules get the same checks: refused at registration, naming the task's field", async () => {
    clock.set("2026-09-10T00:00:00.000Z");
    const staging = new ApiClient(t.app, await t.key("staging"));
    const never = await staging.request("POST", "/engine/v1/worker/register", { tasks: [{ id: "leap", schedule: { cron: "0 0 30 2 *" } }] });
    assert.equal(never.status, 400);
    assert.match(never.body.error, /tasks\[leap\]\.schedule\.cron: .*never fires/);
    const badWindow = await staging.request("POST", "/engine/v1/worker/register", { tasks: [{ id: "spread", schedule: { cron: "0 * * * *", window: "2d" } }] });
    assert.equal(badWindow.status, 400);
    assert.match(badWindow.body.error, /tasks\[spread\]\.schedule\.window: /);
    let list = await staging.ok("GET", "/api/v1/schedules");
    assert.equal(list.data.some((item: { task: string }) => item.task === "leap" || item.task === "spread"), false, "a refused registration leaves nothing");

    await staging.register([{ id: "spread", schedule: { cron: "0 * * * *", window: "2h" } }]);
    list = await staging.ok("GET", "/api/v1/schedules");
    const declared = list.data.find((item: { task: string }) => item.task === "spread");
    assert.equal(declared.window, "2h");
    assert.equal(declared.nextRun, "2026-09-10T01:00:00.000Z");
    const offset = Date.parse(declared.nextRunEffectiveAt) - Date.parse(declared.nextRun);
    assert.ok(offset >= 0 && offset < 3_600_000, "capped at the hour to the next tick");
    await staging.register([{ id: "spread", schedule: { cron: "0 * * * *", window: "2h" } }]);
    const again = (await staging.ok("GET", "/api/v1/schedules")).data.find((item: { task: string }) => item.task === "spread");
    assert.equal(again.nextRunEffectiveAt, declared.nextRunEffectiveAt, "re-registering the same code keeps the tick and its time");
    await staging.register([{ id: "spread", schedule: { cron: "0 * * * *" } }]);
    const plain = (await staging.ok("GET", "/api/v1/schedules")).data.find((item: { task: string }) => item.task === "spread");
    assert.equal(plain.window, undefined);
    assert.equal(plain.nextRunEffectiveAt, plain.nextRun, "removing the window in code moves the tick back on time");
    await staging.register([]);
  });
});
