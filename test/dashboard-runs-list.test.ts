// The runs list's filters as the URL carries them (several statuses, tasks by part of their name,
// tags, queues, versions, machines, a date range, the start of a run id), chips that link to the list
// without one value, bad values refused by field, and bulk cancel / replay from the list — of the
// selected runs or of every run matching the filters, never of another environment's runs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runIdPrefixRange } from "../server/dashboard/run-filters.ts";
import { processBulkActionChunk } from "../server/engine/bulk-actions.ts";
import { fromPublicId } from "../server/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("the runs list", () => {
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;
  const runs: Record<string, string> = {};

  /** Works off pending bulk actions now, as the server's background processor would. */
  const drain = async () => {
    while ((await processBulkActionChunk(t.app.ratchet.engine, 100)) > 0);
  };

  const listed = async (query: string) => {
    const { response, document } = await browser.page(`${base}/runs?${query}`);
    assert.equal(response.statusCode, 200, `${query}: ${response.body.slice(0, 200)}`);
    return [...document.querySelectorAll("tr[data-run]")].map((row) => row.getAttribute("data-run")!);
  };

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    api = new ApiClient(t.app, await t.key("prod"));
    base = `/p/${t.project.ref}/prod`;
    await api.register([{ id: "send-email", machine: "small-2x" }, { id: "send-sms" }, { id: "nightly-report", queue: { name: "reports" } }]);
    runs.email = (await api.trigger("send-email", {}, { tags: ["user:1"] })).id;
    const [first] = await api.dequeue("w", 1);
    assert.equal(first!.id, runs.email);
    await api.start("w", first!);
    await api.complete("w", first!, { ok: true, output: {} });
    runs.sms = (await api.trigger("send-sms", {}, { tags: ["user:2"] })).id;
    runs.report = (await api.trigger("nightly-report", {}, { tags: ["user:1", "nightly"] })).id;
  });
  after(() => t.close());

  test("several statuses, tasks by part of their name, tags, queues and machines combine", async () => {
    assert.deepEqual(await listed("status=COMPLETED&status=QUEUED"), [runs.report, runs.sms, runs.email]);
    assert.deepEqual(await listed("status=completed"), [runs.email], "statuses in any case");
    assert.deepEqual(await listed("task=send"), [runs.sms, runs.email], "part of a name matches every task having it");
    assert.deepEqual(await listed("task=EMAIL&task=report"), [runs.report, runs.email]);
    assert.deepEqual(await listed("tag=user:1"), [runs.report, runs.email]);
    assert.deepEqual(await listed("tag=user:1&status=QUEUED"), [runs.report]);
    assert.deepEqual(await listed("queue=reports"), [runs.report]);
    assert.deepEqual(await listed("machine=small-2x"), [runs.email]);
    assert.deepEqual(await listed("task=no-such-task"), []);
  });

  test("a date range and the start of a run id narrow the list", async () => {
    const minute = new Date(Date.now() + 60_000).toISOString().slice(0, 16);
    assert.deepEqual(await listed(`from=${minute}`), [], "nothing was created after the next minute");
    assert.equal((await listed(`to=${minute}`)).length, 3);
    assert.deepEqual(await listed("from=2020-01-01T00:00&to=2020-01-02T00:00"), []);
    const prefix = runs.sms!.slice(0, 20);
    assert.ok((await listed(`q=${prefix}`)).includes(runs.sms!), `runs whose id starts with ${prefix}`);
    assert.deepEqual(await listed(`q=${runs.sms!.slice(0, -1)}`), [runs.sms], "all but the last character");
    assert.deepEqual(await listed("q=run_zzzz"), [], "no id starts so");
    const range = runIdPrefixRange("run_01")!;
    assert.ok(range.from < range.to);
    assert.equal(runIdPrefixRange("not-an-id"), null);
    const whole = await browser.request("GET", `${base}/runs?q=${runs.sms}`);
    assert.equal(whole.headers.location, `${base}/runs/${runs.sms}`, "a whole id opens the run");
  });

  test("each filter value is a chip linking to the list without it", async () => {
    const { document } = await browser.page(`${base}/runs?status=QUEUED&status=COMPLETED&task=send&tag=user:1`);
    const chips = [...document.querySelectorAll("a.chip")].map((chip) => [chip.textContent!.replace(/\s+/g, " ").trim(), chip.getAttribute("href")]);
    assert.deepEqual(chips, [
      ["Status QUEUED", `${base}/runs?status=COMPLETED&task=send&tag=user%3A1`],
      ["Status COMPLETED", `${base}/runs?status=QUEUED&task=send&tag=user%3A1`],
      ["Task send", `${base}/runs?status=QUEUED&status=COMPLETED&tag=user%3A1`],
      ["Tag user:1", `${base}/runs?status=QUEUED&status=COMPLETED&task=send`],
    ]);
    const hidden = [...document.querySelectorAll("#run-filters input[type=hidden]")].map((input) => `${input.getAttribute("name")}=${input.getAttribute("value")}`);
    assert.deepEqual(hidden, ["task=send", "tag=user:1"], "the form carries the values it does not show");
    const checked = [...document.querySelectorAll("#run-filters input[name=status]:checked")].map((input) => input.getAttribute("value"));
    assert.deepEqual(checked, ["QUEUED", "COMPLETED"]);
  });

  test("a value no filter takes is a 400 naming the field", async () => {
    for (const [query, field] of [
      ["status=DONE", "status"],
      ["from=yesterday", "from"],
      ["period=forever", "period"],
      [`tag=${"x".repeat(300)}`, "tag"],
    ] as const) {
      const response = await browser.request("GET", `${base}/runs?${query}`);
      assert.equal(response.statusCode, 400, query);
      assert.match(JSON.parse(response.body).error, new RegExp(`^${field}:`));
    }
  });

  test("selected runs are canceled in bulk; another environment's run in the request is left alone", async () => {
    const dev = new ApiClient(t.app, await t.key("dev"));
    await dev.register([{ id: "send-email" }]);
    const devRun = (await dev.trigger("send-email", {})).id;
    const extra = (await api.trigger("send-sms", {})).id;
    const { csrf } = await browser.page(`${base}/runs`);
    const response = await browser.request("POST", `${base}/runs/bulk`, { _csrf: csrf, action: "cancel", filters: "task=send", runId: [extra, devRun] });
    assert.equal(response.statusCode, 303);
    const location = String(response.headers.location);
    assert.match(location, new RegExp(`^${base}/runs\\?task=send&bulk=bulk_`));
    await drain();
    assert.equal((await api.retrieve(extra)).status, "CANCELED");
    assert.equal((await dev.retrieve(devRun)).status, "QUEUED", "the dev run is not prod's to cancel");
    const page = await browser.page(location);
    assert.match(page.document.querySelector("#runs .notice")!.textContent!, /Bulk cancel .*1 of 1 runs done/);
  });

  test("every run matching the filters is replayed in bulk, and only those", async () => {
    const { csrf } = await browser.page(`${base}/runs`);
    const before = await listed("");
    const response = await browser.request("POST", `${base}/runs/bulk?scope=matching`, { _csrf: csrf, action: "replay", filters: "task=report" });
    assert.equal(response.statusCode, 303);
    await drain();
    assert.equal((await listed("task=report")).length, 2);
    const replays = (await listed("")).filter((id) => !before.includes(id));
    assert.equal(replays.length, 1);
    assert.equal((await api.retrieve(replays[0]!)).taskIdentifier, "nightly-report");
    const nothing = await browser.request("POST", `${base}/runs/bulk?scope=matching`, { _csrf: csrf, action: "cancel", filters: "" });
    assert.equal(nothing.statusCode, 400);
    assert.match(JSON.parse(nothing.body).error, /^filters:/, "acting on every run needs a filter");
    const bad = await browser.request("POST", `${base}/runs/bulk`, { _csrf: csrf, action: "delete", runId: runs.sms! });
    assert.match(JSON.parse(bad.body).error, /^action:/);
    const none = await browser.request("POST", `${base}/runs/bulk`, { _csrf: csrf, action: "cancel" });
    assert.match(JSON.parse(none.body).error, /^runId:/);
    const notAnId = await browser.request("POST", `${base}/runs/bulk`, { _csrf: csrf, action: "cancel", runId: "run_<x>" });
    assert.equal(notAnId.statusCode, 400);
    const noCsrf = await browser.request("POST", `${base}/runs/bulk`, { action: "cancel", runId: runs.sms! });
    assert.equal(noCsrf.statusCode, 403);
    assert.ok(fromPublicId("run", runs.sms!));
  });
});

