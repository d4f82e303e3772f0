// The trace waterfall in a real browser (Debian's Chromium, driven by playwright-core): spans nest in
// their parents, clicking a span loads its detail beside the tree (htmx), the level/text filter
// narrows the tree, and spans the running run reports appear without a reload, keeping what the
// reader collapsed and selected. Screenshots are saved in test-artifacts/.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { attemptSpanId } from "../server/observability/span-ids.ts";
import { launchChromium, signUpFirstAdmin } from "./helpers/chromium.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { projectRoot } from "./helpers/server-process.ts";

const artifacts = join(projectRoot, "test-artifacts");

describe("the trace waterfall in Chromium", () => {
  let t: TestApp;
  let url: string;
  let browser: Browser;
  let page: Page;
  let traceUrl: string;
  let api: ApiClient;
  let runId: string;

  before(async () => {
    await mkdir(artifacts, { recursive: true });
    t = await createTestApp();
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "import" }]);
    runId = (await api.trigger("import", {})).id;
    const [claimed] = await api.dequeue("w-1", 1);
    await api.start("w-1", claimed!);
    const now = Date.now();
    const at = (ms: number) => new Date(now + ms).toISOString();
    await api.ok("POST", `/engine/v1/runs/${runId}/events`, {
      workerId: "w-1",
      attemptNumber: 1,
      events: [
        { seq: 0, time: at(0), kind: "span", level: "info", message: "load rows", spanId: "a000000000000001", parentSpanId: attemptSpanId(runId, 1), durationMs: 40, attributes: { "rows.count": 120 } },
        { seq: 1, time: at(5), kind: "span", level: "info", message: "parse csv", spanId: "a000000000000002", parentSpanId: "a000000000000001", durationMs: 10 },
        { seq: 2, time: at(20), kind: "log", level: "warn", message: "row 17 has no email", parentSpanId: "a000000000000001" },
        { seq: 3, time: at(50), kind: "span", level: "info", message: "write rows", spanId: "a000000000000003", parentSpanId: attemptSpanId(runId, 1), durationMs: 30 },
      ],
    });
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    traceUrl = `${url}/p/${t.project.ref}/prod/runs/${runId}/trace`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signUpFirstAdmin(page, t.database.db, url);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test("spans nest in their parents, a click shows the span's detail, the filter narrows the tree", async () => {
    await page.goto(traceUrl);
    // "parse csv" and the warning sit inside the <details> of "load rows".
    const loadRows = page.locator("details.span-group", { has: page.locator(":scope > summary", { hasText: "load rows" }) });
    await loadRows.locator(".span-row", { hasText: "parse csv" }).waitFor();
    await loadRows.locator(".span-row", { hasText: "row 17 has no email" }).waitFor();
    assert.equal(await loadRows.locator(".span-row", { hasText: "write rows" }).count(), 0, "a sibling is not inside");

    await loadRows.locator(":scope > summary").click();
    const detail = page.locator("#span-detail");
    await detail.getByText("rows.count").waitFor();
    assert.match(await detail.innerText(), /120/);
    assert.match(await detail.innerText(), /row 17 has no email/, "its logs are in its detail");
    // The click also toggled the group: its children are collapsed, and a second click opens them.
    await page.locator(".span-row", { hasText: "parse csv" }).waitFor({ state: "hidden" });
    await loadRows.locator(":scope > summary").click();
    await page.locator(".span-row", { hasText: "parse csv" }).waitFor();
    await page.screenshot({ path: join(artifacts, "trace-waterfall.png"), fullPage: true });

    await page.getByLabel("Level at least").selectOption("warn");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/level=warn/);
    await page.locator(".span-row", { hasText: "row 17 has no email" }).waitFor();
    assert.equal(await page.locator(".span-row", { hasText: "parse csv" }).count(), 0, "info spans are filtered out");
    assert.equal(await page.locator(".span-row", { hasText: "write rows" }).count(), 0);
    await page.screenshot({ path: join(artifacts, "trace-waterfall-filtered.png"), fullPage: true });

    await page.getByLabel("Search").fill("nothing like this");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No span or log matches.").waitFor();
  });

  test("spans the running run reports appear live, without a reload; collapsed groups and the selected span stay", async () => {
    // The stream's first message refreshes the tree once: after that, the page is listening.
    const listening = page.waitForResponse((response) => response.url().startsWith(traceUrl) && response.request().headers()["hx-request"] === "true");
    // Counts htmx swaps from the document's start, before any of its scripts run.
    await page.addInitScript(() => {
      const state = globalThis as unknown as { settled: number; document: { addEventListener(name: string, listener: () => void): void } };
      state.settled = 0;
      state.document.addEventListener("htmx:afterSettle", () => (state.settled += 1));
    });
    await page.goto(traceUrl);
    await listening;
    // That refresh's swap is done before the clicks below, which it would otherwise race.
    await page.waitForFunction(() => (globalThis as unknown as { settled: number }).settled >= 1);
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));
    const loadRows = page.locator("details.span-group", { has: page.locator(":scope > summary", { hasText: "load rows" }) });
    const detail = page.locator("#span-detail");
    // Select "load rows" (the click collapses it too).
    await loadRows.locator(":scope > summary").click();
    await detail.getByText("rows.count").waitFor();
    await page.locator(".span-row", { hasText: "parse csv" }).waitFor({ state: "hidden" });
    assert.equal(await page.locator(".span-row.selected").getAttribute("data-span"), "a000000000000001");

    // The worker reports a new span beside "load rows" and a log inside it.
    const now = Date.now();
    await api.ok("POST", `/engine/v1/runs/${runId}/events`, {
      workerId: "w-1",
      attemptNumber: 1,
      events: [
        { seq: 4, time: new Date(now).toISOString(), kind: "span", level: "info", message: "send report", spanId: "a000000000000004", parentSpanId: attemptSpanId(runId, 1), durationMs: 5 },
        { seq: 5, time: new Date(now).toISOString(), kind: "log", level: "info", message: "row 99 fixed by hand", parentSpanId: "a000000000000001" },
      ],
    });
    await page.locator(".span-row", { hasText: "send report" }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded), true, "the page was not reloaded");
    // Still collapsed, still selected; the detail was fetched again and has the new log.
    assert.equal(await loadRows.evaluate((element) => (element as unknown as { open: boolean }).open), false, "the collapsed group stays collapsed");
    assert.equal(await page.locator(".span-row", { hasText: "row 99 fixed by hand" }).isVisible(), false);
    assert.equal(await page.locator(".span-row.selected").getAttribute("data-span"), "a000000000000001");
    await detail.getByText("row 99 fixed by hand").waitFor();
    await page.screenshot({ path: join(artifacts, "trace-waterfall-live.png"), fullPage: true });

    // Expanding shows the new log where it happened; selecting the new span shows its detail.
    await loadRows.locator(":scope > summary").click();
    await page.locator(".span-row", { hasText: "row 99 fixed by hand" }).waitFor();
    // Detail requests replace one another (hx-sync), so the last click's detail is the one shown;
    // should a click still land while a live swap replaces its row, it is made again, at most three times.
    for (let attempt = 1; ; attempt += 1) {
      await page.locator(".span-row", { hasText: "send report" }).click();
      try {
        await detail.getByText("a000000000000004").waitFor({ timeout: 5_000 });
        break;
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
    assert.match(await detail.innerText(), /send report/);
    assert.match(await detail.innerText(), /5 ms/);
  });
});
