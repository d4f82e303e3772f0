// The overview's charts in a real browser (Debian's Chromium, driven by playwright-core): each SVG
// is an image named by its title and description, its bars are drawn, its table opens, the range
// link switches to 24 hours, the page fits a phone's width, and the tasks page shows each task's
// last day. Screenshots are saved in test-artifacts/.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium, signUpFirstAdmin } from "./helpers/chromium.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { projectRoot } from "./helpers/server-process.ts";

const artifacts = join(projectRoot, "test-artifacts");

describe("the overview in Chromium", () => {
  let t: TestApp;
  let url: string;
  let browser: Browser;
  let page: Page;
  let base: string;

  before(async () => {
    await mkdir(artifacts, { recursive: true });
    t = await createTestApp();
    const api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "send-invoice" }, { id: "sync-crm" }]);
    for (const [task, ok] of [["send-invoice", true], ["send-invoice", true], ["send-invoice", false], ["sync-crm", true]] as const) {
      await api.trigger(task, {});
      const [run] = await api.dequeue("w-1", 1);
      await api.start("w-1", run!);
      await api.complete("w-1", run!, ok ? { ok: true, output: {} } : { ok: false, error: { name: "Error", message: "declined" }, skipRetrying: true });
    }
    for (let i = 0; i < 3; i += 1) await api.trigger("sync-crm", {});
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    base = `${url}/p/${t.project.ref}/prod`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signUpFirstAdmin(page, t.database.db, url);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test("charts are named images with drawn bars and a table; the range link switches to 24 hours", async () => {
    await page.goto(`${base}/runs`);
    await page.getByRole("link", { name: "Overview" }).click();
    await page.waitForURL(/\/overview$/);
    await page.getByRole("img", { name: /Runs finished per minute, last hour/ }).waitFor();
    const runs = page.locator('svg[aria-labelledby="runs-title"]');
    // Its description, what a screen reader reads after the name.
    assert.match(await page.locator(`#${await runs.getAttribute("aria-describedby")}`).textContent() ?? "", /4 runs finished in the last hour: 3 COMPLETED, 1 FAILED/);
    const bar = await runs.locator("rect.chart-completed").first().boundingBox();
    assert.ok(bar && bar.width > 0 && bar.height > 0, `a completed bar is drawn: ${JSON.stringify(bar)}`);
    assert.ok(await runs.locator("rect.chart-failed").count() >= 1);
    await page.getByRole("img", { name: /p50 and p95 duration by task/ }).waitFor();
    assert.equal(await page.locator('svg[aria-labelledby="durations-title"] g.chart-row').count(), 2);
    await page.getByRole("img", { name: /Runs queued per queue/ }).waitFor();
    assert.match(await page.locator('svg[aria-labelledby="queues-title"] g.chart-row').first().textContent() ?? "", /task\/sync-crm.*3 queued/);

    // The table is there for whoever does not read charts.
    const table = page.locator("#runs-heading ~ details table");
    assert.equal(await table.isVisible(), false);
    await page.locator("#runs-heading ~ details > summary").click();
    await table.waitFor();
    assert.match(await table.innerText(), /COMPLETED\s+FAILED\s+Total/);
    await page.screenshot({ path: join(artifacts, "overview.png"), fullPage: true });

    await page.getByRole("link", { name: "Last 24 hours" }).click();
    await page.waitForURL(/range=24h/);
    await page.getByRole("img", { name: /per 15 minutes, last 24 hours/ }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Last 24 hours" }).getAttribute("aria-current"), "page");
  });

  test("the overview fits a phone's width", async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState() });
    await phone.goto(`${base}/overview`);
    await phone.getByRole("img", { name: /Runs finished per minute/ }).waitFor();
    const width = await phone.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width} px wide`);
    await phone.screenshot({ path: join(artifacts, "overview-phone.png"), fullPage: true });
    await phone.close();
  });

  test("the tasks page shows each task's last 24 hours", async () => {
    await page.goto(`${base}/tasks`);
    const invoice = page.locator('tr[data-task="send-invoice"]');
    await invoice.getByRole("link", { name: "2 COMPLETED" }).waitFor();
    await invoice.getByRole("link", { name: "1 FAILED" }).waitFor();
    await invoice.getByRole("link", { name: "1 FAILED" }).click();
    await page.waitForURL(/\/runs\?task=send-invoice&status=FAILED$/);
  });
});
