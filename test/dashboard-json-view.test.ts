// The run page's JSON viewer over HTTP: objects and arrays as nested <details> (the first levels open,
// deeper ones collapsed), tokens classed for colour, and every string escaped.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jsonView } from "../server/dashboard/json-view.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("the run page's JSON viewer", () => {
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    api = new ApiClient(t.app, await t.key("prod"));
    base = `/p/${t.project.ref}/prod`;
    await api.register([{ id: "deliver" }]);
  });
  after(() => t.close());

  test("a payload is a tree of <details>: the first two levels open, deeper ones collapsed, tokens classed", async () => {
    const payload = { to: "ada@example.com", count: 3, vip: true, note: null, items: [{ sku: "A-1", options: { gift: false } }], empty: {} };
    const { id } = await api.trigger("deliver", payload);
    const { document } = await browser.page(`${base}/runs/${id}`);
    const view = document.querySelector("section .json")!;
    assert.ok(view, "the payload is shown in the viewer");
    const root = view.querySelector(":scope > details")!;
    assert.ok(root.hasAttribute("open"), "the top level is open");
    const items = [...root.querySelectorAll("details")].find((node) => node.querySelector("summary .j-key")?.textContent === '"items"')!;
    assert.ok(items.hasAttribute("open"), "the second level is open");
    assert.match(items.querySelector("summary")!.textContent!, /1 item/);
    const deep = items.querySelector("details")!;
    assert.equal(deep.hasAttribute("open"), false, "the third level starts collapsed");
    assert.match(deep.querySelector("summary")!.textContent!, /\{…\}\s*1 key|2 keys/);
    assert.ok(deep.querySelector("details"), "its children are there, to expand without a request");
    assert.equal(view.querySelector(".j-str")!.textContent, '"ada@example.com"');
    assert.equal(view.querySelector(".j-num")!.textContent, "3");
    assert.deepEqual([...view.querySelectorAll(".j-bool")].map((node) => node.textContent), ["true", "false"]);
    assert.equal(view.querySelector(".j-null")!.textContent, "null");
    assert.ok([...view.querySelectorAll(".j-row")].some((row) => row.textContent === '"empty": {}'), "an empty object is {}");
  });

  test("a <script> inside a string value is text, never markup", async () => {
    const hostile = `</span></details><script>alert("x")</script><img src=x onerror=alert(1)>`;
    const { id } = await api.trigger("deliver", { [hostile]: hostile, list: [hostile] });
    const page = await browser.page(`${base}/runs/${id}`);
    assert.equal(page.response.statusCode, 200);
    assert.ok(!page.response.body.includes("<script>alert"), "no script tag reaches the page");
    const view = page.document.querySelector("section .json")!;
    assert.equal(view.querySelectorAll("script, img").length, 0);
    assert.equal(view.querySelector(".j-key")!.textContent, JSON.stringify(hostile));
    assert.equal(view.querySelector(".j-str")!.textContent, JSON.stringify(hostile));
  });

  test("a text payload is shown as written, escaped", async () => {
    const { id } = await api.ok("POST", "/api/v1/tasks/deliver/trigger", { payload: "<b>plain</b> text", options: { payloadType: "text/plain" } });
    const { document } = await browser.page(`${base}/runs/${id}`);
    const shown = document.querySelector("section .json-text, section .json");
    assert.ok(shown?.textContent?.includes("<b>plain</b> text"), shown?.outerHTML);
  });

  test("the viewer keeps the preview's limits: text and markup are bounded however large or deep the value", () => {
    const wide = Array.from({ length: 60_000 }, (_, index) => ({ index, text: "lorem ipsum dolor" }));
    const started = performance.now();
    const view = jsonView(wide);
    const ms = performance.now() - started;
    assert.ok(view.truncated);
    assert.ok(view.html.length <= 64 * 1024 * 3 + 4096, `${view.html.length} bytes`);
    assert.ok(ms < 1000, `${ms} ms`);
    let deep: unknown = 1;
    for (let level = 0; level < 100; level += 1) deep = [deep];
    const collapsed = jsonView(deep);
    assert.ok(collapsed.truncated, "past 24 levels the value is collapsed");
    assert.equal(collapsed.html.match(/<details/g)?.length, 24);
    assert.ok(collapsed.html.includes("[…]"));
  });
});
