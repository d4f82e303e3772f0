// The environments overview: every project and environment the user can see, with runs finished in
// the last 24 hours by status and runs queued and running now, each linked to its overview page.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromPublicId } from "../server/ids.ts";
import { environmentsActivity } from "../server/storage/environments-overview.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("the environments overview", () => {
  let t: TestApp;
  let browser: Browser;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    const prod = new ApiClient(t.app, await t.key("prod"));
    await prod.register([{ id: "deliver" }]);
    const done = await prod.trigger("deliver", { n: 1 });
    const failed = await prod.trigger("deliver", { n: 2 });
    const old = await prod.trigger("deliver", { n: 3 });
    const running = await prod.trigger("deliver", { n: 4 });
    for (const run of await prod.dequeue("w", 4)) {
      await prod.start("w", run);
      if (run.id === done.id || run.id === old.id) await prod.complete("w", run, { ok: true, output: {} });
      if (run.id === failed.id) await prod.complete("w", run, { ok: false, error: { name: "Error", message: "x" }, skipRetrying: true });
    }
    assert.ok(running.id);
    // One finished two days ago: outside the last 24 hours.
    await t.database.db.sql`update ratchet.runs set finished_at = now() - interval '2 days' where id = ${fromPublicId("run", old.id)!}`;
    await prod.trigger("deliver", { n: 5 });
    await prod.trigger("deliver", { n: 6 });
    const dev = new ApiClient(t.app, await t.key("dev"));
    await dev.register([{ id: "deliver" }]);
    await dev.trigger("deliver", {});
  });
  after(() => t.close());

  test("each environment of each project, with its last day's runs by status and what is queued and running", async () => {
    const { response, document } = await browser.page("/environments");
    assert.equal(response.statusCode, 200);
    assert.equal(document.querySelector("h2")!.textContent!.includes(t.project.ref), true);
    const rows = Object.fromEntries(
      [...document.querySelectorAll("table.environments tbody tr")].map((row) => [row.querySelector("th")!.textContent!.trim(), [...row.querySelectorAll("td")].map((cell) => cell.textContent!.replace(/\s+/g, " ").trim())]),
    );
    assert.deepEqual(Object.keys(rows), ["dev", "staging", "prod", "preview"]);
    assert.deepEqual(rows.prod, ["COMPLETED 1 FAILED 1", "2", "1"]);
    assert.deepEqual(rows.dev, ["none", "1", "0"]);
    assert.deepEqual(rows.staging, ["none", "0", "0"]);
    const base = `/p/${t.project.ref}/prod`;
    const links = [...document.querySelectorAll("table.environments a")].map((link) => link.getAttribute("href"));
    assert.ok(links.includes(`${base}/overview`), "each environment links to its overview");
    assert.ok(links.includes(`${base}/runs?status=FAILED&period=1d`), "each count links to those runs");
    assert.ok(document.querySelector('nav[aria-label="Settings"] a[href="/environments"][aria-current="page"]'), "linked from every page");
  });

  test("one statement answers for every environment, and none at all for an empty list", async () => {
    const [environment] = await t.database.db.sql<{ id: string }[]>`select id from ratchet.environments where type = 'prod'`;
    const now = Date.now();
    const rows = await environmentsActivity(t.database.db.sql, [environment!.id], { from: new Date(now - 86_400_000), to: new Date(now + 1000) });
    assert.equal(rows.length, 1);
    assert.deepEqual(await environmentsActivity(t.database.db.sql, [], { from: new Date(0), to: new Date() }), []);
  });

  test("signed out, the page asks to sign in", async () => {
    const response = await t.app.inject({ method: "GET", url: "/environments" });
    assert.equal(response.statusCode, 302);
    assert.equal(response.headers.location, "/login?next=%2Fenvironments");
  });
});
