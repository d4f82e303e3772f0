// Managing an environment from the dashboard: schedules edited (a refused change keeps what was
// typed), deleted, deactivated, with their last run; wait tokens linked to the runs waiting on them
// and back, a refused output kept in its form; queues' limits edited inline and reset, paused shown.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

// linkedom leaves character references in a <textarea> as written: decode the ones eta writes.
const entity = /&(#\d+|amp|lt|gt|quot);/g;
const decode = (_: string, name: string) => (name.startsWith("#") ? String.fromCharCode(Number(name.slice(1))) : ({ amp: "&", lt: "<", gt: ">", quot: '"' } as Record<string, string>)[name]!);

describe("managing schedules, tokens and queues", () => {
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    api = new ApiClient(t.app, await t.key("prod"));
    base = `/p/${t.project.ref}/prod`;
    await api.register([{ id: "report" }, { id: "digest" }, { id: "approve", queue: { name: "approvals", concurrencyLimit: 3 } }]);
  });
  after(() => t.close());

  test("a schedule is edited, a refused edit keeps what was typed, and it is deleted", async () => {
    const schedule = await api.ok("POST", "/api/v1/schedules", { task: "report", cron: "0 9 * * 1", timezone: "UTC", deduplicationKey: "weekly" });
    const list = await browser.page(`${base}/schedules`);
    const row = list.document.querySelector(`tr[data-schedule="${schedule.id}"]`)!;
    assert.ok(row.querySelector(`a[href="${base}/schedules/${schedule.id}/edit"]`), "an Edit link");
    assert.match(row.textContent!, /never/, "no run yet");
    const edit = await browser.page(`${base}/schedules/${schedule.id}/edit`);
    assert.equal(edit.document.querySelector("input[name=cron]")!.getAttribute("value"), "0 9 * * 1");
    const refused = await browser.request("POST", `${base}/schedules/${schedule.id}/edit`, { _csrf: edit.csrf, task: "report", cron: "every day", timezone: "Europe/Paris" });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /role="alert">cron/);
    assert.match(refused.body, /name="cron" required value="every day"/, "the typed cron is kept");
    assert.match(refused.body, /value="Europe\/Paris"/);
    const dev = `/p/${t.project.ref}/dev`;
    assert.equal((await browser.request("GET", `${dev}/schedules/${schedule.id}/edit`)).statusCode, 404, "not from another environment");
    assert.equal((await browser.request("POST", `${dev}/schedules/${schedule.id}/edit`, { _csrf: edit.csrf, task: "report", cron: "* * * * *" })).statusCode, 404);
    assert.equal((await browser.request("POST", `${dev}/schedules/${schedule.id}/delete`, { _csrf: edit.csrf })).statusCode, 404);
    const saved = await browser.request("POST", `${base}/schedules/${schedule.id}/edit`, { _csrf: edit.csrf, task: "digest", cron: "30 18 * * *", timezone: "Europe/Paris" });
    assert.equal(saved.statusCode, 303);
    const changed = await api.ok("GET", `/api/v1/schedules/${schedule.id}`);
    assert.equal(changed.task, "digest");
    assert.equal(changed.generator.expression, "30 18 * * *");
    assert.equal(changed.timezone, "Europe/Paris");
    assert.equal((await browser.submit(`${base}/schedules`, `${base}/schedules/${schedule.id}/deactivate`)).statusCode, 303);
    assert.equal((await api.ok("GET", `/api/v1/schedules/${schedule.id}`)).active, false);
    assert.equal((await browser.submit(`${base}/schedules`, `${base}/schedules/${schedule.id}/delete`)).statusCode, 303);
    assert.equal((await api.request("GET", `/api/v1/schedules/${schedule.id}`)).status, 404);
    assert.equal((await browser.submit(`${base}/schedules`, `${base}/schedules/${schedule.id}/delete`)).statusCode, 404);
    assert.equal((await browser.request("GET", `${base}/schedules/sched_nope/edit`)).statusCode, 404);
  });

  test("a token links to the run waiting on it and the run back to it; a refused output stays in its form", async () => {
    const { id } = await api.trigger("approve", {});
    const [run] = await api.dequeue("w", 1);
    await api.start("w", run!);
    const token = await api.ok("POST", "/api/v1/waitpoints/tokens", {});
    await api.ok("POST", `/engine/v1/runs/${id}/journal/0`, { workerId: "w", op: "wait", kind: "wait", name: "wait.forToken", wait: { type: "TOKEN", tokenId: token.id } });
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "w" });
    const tokens = await browser.page(`${base}/tokens`);
    const row = tokens.document.querySelector(`tr[data-token="${token.id}"]`)!;
    assert.ok(row.querySelector(`a[href="${base}/runs/${id}"]`), "the token links its waiting run");
    const runPage = await browser.page(`${base}/runs/${id}`);
    assert.ok(runPage.document.querySelector(`a[href="${base}/tokens#token-${token.id}"]`), "the run links its token");
    const typed = '{"approved": tru}';
    const refused = await browser.request("POST", `${base}/tokens/${token.id}/complete`, { _csrf: tokens.csrf, data: typed });
    assert.equal(refused.statusCode, 400);
    const { parseHTML } = await import("linkedom");
    const page = parseHTML(refused.body).document;
    assert.equal(page.querySelector(`#data-${token.id}`)!.textContent!.replace(entity, decode), typed);
    assert.equal(page.querySelector(`#data-${token.id}`)!.getAttribute("aria-invalid"), "true");
    assert.match(page.querySelector("[role=alert]")!.textContent!, /valid JSON/);
  });

  test("a queue's limit is edited inline and reset; a paused queue says so", async () => {
    const form = await browser.page(`${base}/queues`);
    const row = () => browser.page(`${base}/queues`).then(({ document }) => document.querySelector('tr[data-queue="approvals"]')!);
    assert.equal((await row()).querySelector("input[name=limit]")!.getAttribute("placeholder"), "3");
    assert.equal((await browser.request("POST", `${base}/queues/approvals/limit`, { _csrf: form.csrf, limit: "7" })).statusCode, 303);
    assert.equal((await row()).querySelector("input[name=limit]")!.getAttribute("value"), "7");
    assert.match((await row()).textContent!, /override; otherwise 3 \(from code\)/);
    // The Reset button sends an empty limit after the field's value.
    assert.equal((await browser.request("POST", `${base}/queues/approvals/limit`, { _csrf: form.csrf, limit: ["7", ""] })).statusCode, 303);
    assert.equal((await row()).querySelector("input[name=limit]")!.getAttribute("value"), "");
    const bad = await browser.request("POST", `${base}/queues/approvals/limit`, { _csrf: form.csrf, limit: "-1" });
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.parse(bad.body).error, /^limit:/);
    await browser.request("POST", `${base}/queues/approvals/pause`, { _csrf: form.csrf });
    assert.match((await row()).querySelector(".badge")!.textContent!, /paused/);
    await browser.request("POST", `${base}/queues/approvals/resume`, { _csrf: form.csrf });
    assert.match((await row()).querySelector(".badge")!.textContent!, /running/);
  });
});
