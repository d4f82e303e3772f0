// An environment's overview (its landing page) and the tasks page's activity: runs finished per
// minute by status, p50/p95 duration by task and queue depth, drawn as SVG with a title, a
// description and a table, from runs that went through the real engine routes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { ManualClock } from "../server/clock.ts";
import type { Sql } from "../server/db/client.ts";
import { overviewFinishedByBucket, overviewTaskActivity } from "../server/storage/overview.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { signedInAdmin, type Browser } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

type Node = { textContent: string | null; getAttribute(name: string): string | null; querySelectorAll(selector: string): Iterable<Node> };
type Doc = { querySelector(selector: string): Node | null; querySelectorAll(selector: string): Iterable<Node> };
const text = (document: Doc, selector: string) => document.querySelector(selector)?.textContent?.replace(/\s+/g, " ").trim() ?? "";
/** Each row's cells, space-separated. */
const rows = (document: Doc, selector: string) =>
  [...document.querySelectorAll(selector)].map((row) => [...row.querySelectorAll("th, td")].map((cell) => cell.textContent?.replace(/\s+/g, " ").trim() ?? "").join(" "));

describe("overview and task activity", () => {
  const clock = new ManualClock("2026-03-01T10:00:30.000Z");
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;

  before(async () => {
    t = await createTestApp({ clock });
    browser = await signedInAdmin(t.app, t.database.db);
    base = `/p/${t.project.ref}/prod`;
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "alpha" }, { id: "beta" }, { id: "gamma" }, { id: "idle" }]);
    // alpha: three runs of 1, 2 and 3 s, completed; beta: one of 5 s, failed; a minute apart.
    for (const [task, seconds, ok] of [["alpha", 1, true], ["alpha", 2, true], ["alpha", 3, true], ["beta", 5, false]] as const) {
      if (task !== "alpha" || seconds > 1) clock.advance(60_000 - seconds * 1000);
      await api.trigger(task, {});
      const [run] = await api.dequeue("w-1", 1);
      await api.start("w-1", run!);
      clock.advance(seconds * 1000);
      await api.complete("w-1", run!, ok ? { ok: true, output: {} } : { ok: false, error: { name: "Error", message: "boom" }, skipRetrying: true });
    }
    // gamma: a backlog of four nobody dequeues.
    for (let i = 0; i < 4; i += 1) await api.trigger("gamma", {});
  });
  after(() => t.close());

  test("the environment's address lands on its overview, first in the nav", async () => {
    const landing = await browser.request("GET", base);
    assert.equal(landing.statusCode, 302);
    assert.equal(landing.headers.location, `${base}/overview`);
    const { response, document } = await browser.page(`${base}/overview`);
    assert.equal(response.statusCode, 200, response.body.slice(0, 300));
    const first = document.querySelector('nav[aria-label="Sections"] a');
    assert.equal(first?.getAttribute("href"), `${base}/overview`);
    assert.equal(first?.getAttribute("aria-current"), "page");
  });

  test("runs per minute by status: an SVG with a title, a description and a table", async () => {
    const { document } = await browser.page(`${base}/overview`);
    const svg = document.querySelector('svg[aria-labelledby="runs-title"][aria-describedby="runs-desc"]');
    assert.equal(svg?.getAttribute("role"), "img");
    assert.match(text(document, "#runs-title"), /Runs finished per minute, last hour/);
    assert.match(text(document, "#runs-desc"), /^4 runs finished in the last hour: 3 COMPLETED, 1 FAILED\./);
    assert.equal([...document.querySelectorAll("svg .chart-bar rect.chart-completed")].length, 3, "a bar segment for each minute with completions");
    assert.equal([...document.querySelectorAll("svg .chart-bar rect.chart-failed")].length, 1);
    // The table: one row per minute with runs, a column per status present.
    assert.deepEqual(rows(document, "#runs-heading ~ details table thead tr"), ["Minute (UTC) COMPLETED FAILED Total"]);
    const body = rows(document, "#runs-heading ~ details table tbody tr");
    assert.deepEqual(body, ["10:00 1 0 1", "10:01 1 0 1", "10:02 1 0 1", "10:03 0 1 1"]);
  });

  test("p50/p95 duration by task and queue depth, charted and tabled", async () => {
    const { document } = await browser.page(`${base}/overview`);
    assert.match(text(document, "#durations-desc"), /alpha p50 2\.0 s, p95 2\.9 s; beta p50 5\.0 s, p95 5\.0 s/);
    assert.deepEqual(rows(document, "#durations-heading ~ details table tbody tr"), ["alpha 3 2.0 s 2.9 s", "beta 1 5.0 s 5.0 s"]);
    assert.equal([...document.querySelectorAll('svg[aria-labelledby="durations-title"][aria-describedby="durations-desc"] g.chart-row')].length, 2);
    assert.match(text(document, "#queues-desc"), /task\/gamma 4 queued, 0 running/);
    assert.deepEqual(rows(document, "#queues-heading ~ details table tbody tr"), ["task/gamma 4 0"]);
  });

  test("the range is a link: runs older than an hour show over 24 hours only; a bad range is a 400", async () => {
    clock.advance(2 * 3_600_000);
    const hour = await browser.page(`${base}/overview`);
    assert.match(text(hour.document, "#runs-desc"), /No runs finished in the last hour/);
    const link = hour.document.querySelector('nav[aria-label="Time range"] a[href$="range=24h"]');
    assert.ok(link, "a link to the 24-hour view");
    const day = await browser.page(link.getAttribute("href")!);
    assert.equal(day.response.statusCode, 200);
    assert.match(text(day.document, "#runs-title"), /per 15 minutes, last 24 hours/);
    assert.match(text(day.document, "#runs-desc"), /^4 runs finished in the last 24 hours/);
    assert.equal(day.document.querySelector('nav[aria-label="Time range"] a[aria-current="page"]')?.textContent, "Last 24 hours");
    assert.deepEqual(rows(day.document, "#runs-heading ~ details table tbody tr"), ["10:00 3 1 4"]);

    const bad = await browser.request("GET", `${base}/overview?range=week`, undefined, { accept: "application/json" });
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.parse(bad.body).error, /range/);
    clock.advance(-2 * 3_600_000);
  });

  test("the tasks page shows each task's last 24 hours: counts by status, p50 and p95", async () => {
    const { response, document } = await browser.page(`${base}/tasks`);
    assert.equal(response.statusCode, 200);
    const row = (task: string) => text(document, `tr[data-task="${task}"]`);
    assert.match(row("alpha"), /3 COMPLETED 2\.0 s 2\.9 s$/);
    assert.match(row("beta"), /1 FAILED 5\.0 s 5\.0 s$/);
    assert.match(row("idle"), /none – –$/);
    assert.equal(document.querySelector('tr[data-task="alpha"] a.status-completed')?.getAttribute("href"), `${base}/runs?task=alpha&status=COMPLETED`);
    // A day later, nothing is recent.
    clock.advance(25 * 3_600_000);
    assert.match(text((await browser.page(`${base}/tasks`)).document, 'tr[data-task="alpha"]'), /none – –$/);
    clock.advance(-25 * 3_600_000);
  });

  test("another environment's overview shows none of this one's runs", async () => {
    const { document } = await browser.page(`/p/${t.project.ref}/dev/overview`);
    assert.match(text(document, "#runs-desc"), /No runs finished/);
    assert.match(text(document, "#queues-heading ~ .chart-summary"), /No run is queued or running/);
    assert.equal((await browser.request("GET", "/p/proj_nosuchprojectnosuch/prod/overview")).statusCode, 404);
  });

  test("both aggregates read the range from runs_finished_idx, never the whole table", async () => {
    // auto_explain answers each statement with its plan as a notice; sequential scans are priced out,
    // so a plan that could not use the index would show one (the table is tiny here).
    const plans: string[] = [];
    const sql = postgres(t.database.url, {
      max: 1,
      onnotice: (notice) => plans.push(notice.message ?? ""),
      connection: { session_preload_libraries: "auto_explain", "auto_explain.log_min_duration": "0", "auto_explain.log_level": "notice", enable_seqscan: "off" },
    });
    try {
      // A week of history in another environment (21,000 finished runs, as bench/overview.ts loads
      // them), analyzed, so the planner weighs the indexes as it would in production.
      const [environment] = await sql<{ id: string }[]>`select id from ratchet.environments where project_id = ${t.project.id} and type = 'staging'`;
      await sql`
        insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, created_at, updated_at, started_at, finished_at)
        select gen_random_uuid(), ${environment!.id}, 'task-' || (n % 20), 'task/task-' || (n % 20),
          (array['COMPLETED','COMPLETED','COMPLETED','FAILED','CANCELED'])[1 + n % 5], s.t, s.t, s.t, s.t + interval '2 seconds'
        from generate_series(1, 21000) as n, lateral (select ${clock.now()}::timestamptz - make_interval(secs => n * 28.8)) as s(t)`;
      await sql`analyze ratchet.runs`;
      const range = { from: new Date(clock.now().getTime() - 86_400_000), to: clock.now() };
      await overviewFinishedByBucket(sql as unknown as Sql, environment!.id, range, 900);
      await overviewTaskActivity(sql as unknown as Sql, environment!.id, range, 50);
    } finally {
      await sql.end();
    }
    const mine = plans.filter((plan) => plan.includes("from ratchet.runs") && plan.includes("finished_at >="));
    assert.equal(mine.length, 2, plans.join("\n\n"));
    for (const plan of mine) {
      assert.match(plan, /on runs_finished_idx/, plan);
      assert.doesNotMatch(plan, /Seq Scan on runs/, plan);
    }
  });
});
