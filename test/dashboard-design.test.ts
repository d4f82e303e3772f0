// The dashboard's shared look: one date format, errors shown once, HTML error pages for browsers
// (JSON for everyone else), a stylesheet with light and dark tokens that hides no table column.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { errorText } from "../server/dashboard/error-text.ts";
import { exactTime, relativeTime, when } from "../server/dashboard/time-format.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";
import { projectRoot } from "./helpers/server-process.ts";

describe("dashboard design helpers", () => {
  test("dates read relative, with the exact UTC time on hover", () => {
    const now = new Date("2026-12-01T12:00:00Z");
    assert.equal(relativeTime(new Date("2026-12-01T11:57:00Z"), now), "3 min ago");
    assert.equal(relativeTime(new Date("2026-12-01T14:00:00Z"), now), "in 2 h");
    assert.equal(relativeTime(new Date("2026-12-01T11:59:58Z"), now), "just now");
    assert.equal(relativeTime(new Date("2026-11-28T12:00:00Z"), now), "3 d ago");
    assert.equal(exactTime(now), "2026-12-01 12:00:00 UTC");
    assert.equal(when("2026-12-01T11:00:00.000Z", now), '<time datetime="2026-12-01T11:00:00.000Z" title="2026-12-01 11:00:00 UTC">1 h ago</time>');
    assert.equal(when(null), "");
    assert.equal(when("<script>"), "", "an unparsable value renders nothing, never raw text");
  });

  test("an error whose stack starts with its message is shown once", () => {
    assert.equal(errorText({ name: "Error", message: "x", stackTrace: "Error: x\n    at f (a.ts:1:1)" }), "Error: x\n    at f (a.ts:1:1)");
    assert.equal(errorText({ name: "TypeError", message: "bad" }), "TypeError: bad");
    assert.equal(errorText({ message: "no name", stackTrace: "    at g (b.ts:2:2)" }), "Error: no name\n    at g (b.ts:2:2)");
  });

  test("the stylesheet has light and dark tokens and hides no table column", async () => {
    const css = await readFile(join(projectRoot, "views/static/app.css"), "utf8");
    assert.match(css, /color-scheme: light dark/);
    assert.match(css, /\[data-theme="dark"\]/);
    assert.doesNotMatch(css, /nth-child\([^)]*\)[^{]*\{[^}]*display:\s*none/, "no column is hidden on small screens");
  });
});

describe("dashboard error pages", () => {
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    api = new ApiClient(t.app, await t.key("prod"));
    base = `/p/${t.project.ref}/prod`;
    await api.register([{ id: "email" }]);
  });
  after(() => t.close());

  test("a missing run is an HTML page with a way back for a browser, JSON otherwise", async () => {
    const page = await browser.request("GET", `${base}/runs/run_doesnotexist0000000000`, undefined, { accept: "text/html,application/xhtml+xml" });
    assert.equal(page.statusCode, 404);
    assert.match(String(page.headers["content-type"]), /text\/html/);
    assert.match(page.body, /Not found/);
    assert.match(page.body, new RegExp(`href="${base}/runs"`));
    const json = await browser.request("GET", `${base}/runs/run_doesnotexist0000000000`);
    assert.equal(json.statusCode, 404);
    assert.ok(JSON.parse(json.body).error);
  });

  test("a missing environment is an HTML page leading home", async () => {
    const page = await browser.request("GET", `/p/proj_nosuchproject/prod/runs`, undefined, { accept: "text/html" });
    assert.equal(page.statusCode, 404);
    assert.match(page.body, /No such project or environment/);
    assert.match(page.body, /href="\/"/);
  });

  test("a failed run's error is rendered once, dates carry the exact time, ids have copy buttons", async () => {
    const { id } = await api.trigger("email", {});
    const [run] = await api.dequeue("w1");
    await api.start("w1", run!);
    await api.complete("w1", run!, { ok: false, error: { name: "Error", message: "boom once", stackTrace: "Error: boom once\n    at send (mail.ts:3:9)" }, skipRetrying: true });
    const { body } = await browser.request("GET", `${base}/runs/${id}`);
    assert.equal(body.split("boom once").length - 1, 2, "once in the error block, once in the attempts table");
    assert.doesNotMatch(body, /Error: boom onceError: boom once/);
    assert.match(body, /<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">/);
    assert.match(body, new RegExp(`data-copy="${id}"`));
  });
});
