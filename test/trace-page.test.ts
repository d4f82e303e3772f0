// The run page's trace waterfall: server-rendered, a collapsible tree with bars on the trace's time
// axis, span detail fetched by htmx with the span's attributes and logs; 5,000 spans render within
// the budget of server time.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { attemptSpanId } from "../server/observability/span-ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { signedInAdmin, type Browser } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("trace waterfall", () => {
  const clock = new ManualClock(new Date());
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;
  let runId: string;

  before(async () => {
    t = await createTestApp({ clock });
    browser = await signedInAdmin(t.app, t.database.db);
    base = `/p/${t.project.ref}/prod`;
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "busy" }]);
    runId = (await api.trigger("busy", {})).id;
    const [claimed] = await api.dequeue("w-1", 1);
    await api.start("w-1", claimed!);
    // 5,000 spans of the task's own: 50 groups of 99 nested under each group span, and logs.
    const attemptSpan = attemptSpanId(runId, 1);
    const started = clock.now().getTime();
    const events: Array<Record<string, unknown>> = [];
    for (let group = 0; group < 50; group += 1) {
      const groupId = `a${group.toString(16).padStart(15, "0")}`;
      events.push({ seq: events.length, time: new Date(started + group * 100).toISOString(), kind: "span", level: "info", message: `group ${group}`, spanId: groupId, parentSpanId: attemptSpan, durationMs: 95, attributes: { "app.group": group } });
      for (let item = 0; item < 99; item += 1) {
        events.push({ seq: events.length, time: new Date(started + group * 100 + item).toISOString(), kind: "span", level: "info", message: `item ${item}`, spanId: `b${(group * 100 + item).toString(16).padStart(15, "0")}`, parentSpanId: groupId, durationMs: 1 });
      }
      events.push({ seq: events.length, time: new Date(started + group * 100 + 50).toISOString(), kind: "log", level: "warn", message: `halfway through group ${group}`, parentSpanId: groupId });
    }
    for (let from = 0; from < events.length; from += 1000) {
      await api.ok("POST", `/engine/v1/runs/${runId}/events`, { workerId: "w-1", attemptNumber: 1, events: events.slice(from, from + 1000) });
    }
    clock.advance(6000);
  });
  after(() => t.close());

  test("the run page links its trace, a collapsible tree of spans with bars on the time axis", async () => {
    const run = await browser.page(`${base}/runs/${runId}`);
    assert.ok(run.document.querySelector(`a[href="${base}/runs/${runId}/trace"]`), "the run page links the trace");

    const { response, document } = await browser.page(`${base}/runs/${runId}/trace`);
    assert.equal(response.statusCode, 200, response.body.slice(0, 500));
    const rows = document.querySelectorAll(".span-row");
    // The run, its attempt, 50 groups of 100 spans and a log each.
    assert.equal(rows.length, 2 + 50 * 101);
    const root = document.querySelector(".waterfall > details.span-group > summary.span-run");
    assert.ok(root, "the run's span is the root, collapsible");
    const group = [...document.querySelectorAll("details.span-group")].find((details) => details.querySelector(":scope > summary")?.textContent?.includes("group 7"));
    assert.ok(group, "a group span is collapsible");
    assert.equal(group.querySelectorAll(":scope > .span-row").length, 101, "its own row, its 99 items and its log are inside it");
    assert.ok(group.querySelector(":scope > .span-log.state-ok"), "the log sits inside its span");
    const bar = group.querySelector(":scope > summary .span-bar")!.getAttribute("style")!;
    const [left, width] = [...bar.matchAll(/([\d.]+)%/g)].map((match) => Number(match[1]));
    assert.ok(left! > 5 && left! < 20, `group 7 starts at ${left}% of the trace`);
    assert.ok(width! > 0.5 && width! < 5, `and lasts ${width}% of it`);
    assert.ok(document.querySelector(".span-attempt.state-partial"), "the attempt still runs");
  });

  test("the waterfall filters by level and text, keeping the spans that lead to a match", async () => {
    const texts = (document: { querySelectorAll(selector: string): Iterable<{ textContent: string | null }> }) => [...document.querySelectorAll(".span-row .span-name")].map((row) => row.textContent?.trim() ?? "");
    const warned = await browser.page(`${base}/runs/${runId}/trace?level=warn&q=${encodeURIComponent("group 7")}`);
    assert.equal(warned.response.statusCode, 200, warned.response.body.slice(0, 500));
    const rows = texts(warned.document);
    assert.ok(rows.some((row) => row.endsWith("halfway through group 7")), `the matching log is shown: ${JSON.stringify(rows)}`);
    assert.ok(rows.some((row) => row.endsWith("group 7")), "its span, on the way to it, is kept");
    assert.ok(!rows.some((row) => row.endsWith("item 3")), "info spans are filtered out");
    assert.ok(!rows.some((row) => row.endsWith("halfway through group 8")), "other text is filtered out");
    assert.ok(rows.length < 10, `a handful of rows, not the whole trace: ${rows.length}`);
    assert.equal(warned.document.querySelector('select[name="level"] option[selected]')?.getAttribute("value"), "warn");
    assert.equal(warned.document.querySelector('input[name="q"]')?.getAttribute("value"), "group 7");

    const text = texts((await browser.page(`${base}/runs/${runId}/trace?q=ITEM+98`)).document);
    assert.equal(text.filter((row) => row.endsWith("item 98")).length, 50, "text search is case-insensitive, over every group");
    const none = await browser.page(`${base}/runs/${runId}/trace?q=nothing-like-this`);
    assert.match(none.document.querySelector(".empty")?.textContent ?? "", /No span or log matches/);

    const bad = await browser.request("GET", `${base}/runs/${runId}/trace?level=loud`);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /level/);
  });

  test("selecting a span fetches its detail: attributes, logs, duration", async () => {
    const { document } = await browser.page(`${base}/runs/${runId}/trace`);
    const row = [...document.querySelectorAll("summary.span-row")].find((summary) => summary.textContent?.includes("group 3"))!;
    const url = row.getAttribute("hx-get")!;
    assert.equal(row.getAttribute("hx-target"), "#span-detail");
    const detail = await browser.page(url, { "hx-request": "true" });
    assert.equal(detail.response.statusCode, 200);
    assert.ok(!detail.response.body.includes("<html"), "a fragment for htmx");
    assert.match(detail.response.body, /app\.group/);
    assert.match(detail.response.body, /halfway through group 3/);
    assert.match(detail.response.body, /95 ms/);
    assert.equal((await browser.request("GET", `${base}/runs/${runId}/trace/spans/ffffffffffffffff`)).statusCode, 404);
  });

  // Its time is printed, not judged here (a loaded machine is no measure): docs/dashboard.md has the figure.
  test("a trace of 5,000 spans renders whole", async () => {
    await browser.page(`${base}/runs/${runId}/trace`);
    const times: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const started = performance.now();
      const response = await browser.request("GET", `${base}/runs/${runId}/trace`);
      times.push(performance.now() - started);
      assert.equal(response.statusCode, 200);
    }
    times.sort((a, b) => a - b);
    // The fastest of five: the page's own cost, without what other processes on a shared machine add.
    const best = times[0]!;
    console.log(`trace page, 5,052 spans: best ${best.toFixed(1)} ms (${times.map((ms) => ms.toFixed(0)).join(", ")})`);
  });

  test("another environment's runs have no trace page here", async () => {
    const other = new ApiClient(t.app, await t.key("dev"));
    await other.register([{ id: "busy" }]);
    const foreign = (await other.trigger("busy", {})).id;
    assert.equal((await browser.request("GET", `${base}/runs/${foreign}/trace`)).statusCode, 404);
    assert.equal((await browser.request("GET", `${base}/runs/${foreign}/trace/live`)).statusCode, 404, "nor a live stream");
    assert.equal((await browser.request("GET", `${base}/runs/run_nosuchrun/trace/live`)).statusCode, 404);
  });
});
