// The dashboard's actions in Chromium, in light and dark and at phone width (390 px): bulk cancel
// from the runs list, replay with an edited payload, a task's test run, a schedule edit; the
// keyboard shortcuts list and j/x on the runs list. Screenshots land in test-artifacts/.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser as Chromium, Page } from "playwright-core";
import { chromiumPath, launchChromium, seededDashboard, signedInContext, type SeededDashboard } from "./helpers/dashboard-seed.ts";
import { projectRoot } from "./helpers/server-process.ts";

const artifacts = join(projectRoot, "test-artifacts");
const modes = [
  { name: "light", colorScheme: "light", width: 1280 },
  { name: "dark", colorScheme: "dark", width: 1280 },
  { name: "phone-dark", colorScheme: "dark", width: 390 },
] as const;

type Doc = { documentElement: { scrollWidth: number } };

describe("dashboard actions in Chromium", () => {
  let seed: SeededDashboard;
  let chromium: Chromium;

  before(async () => {
    assert.ok(existsSync(chromiumPath), `Chromium is needed at ${chromiumPath}`);
    await mkdir(artifacts, { recursive: true });
    seed = await seededDashboard();
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await seed?.close();
  });

  const fitsWidth = async (page: Page, width: number) => {
    const scrollWidth = await page.evaluate(() => (globalThis as unknown as { document: Doc }).document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= width, `${page.url()} is ${scrollWidth} px wide at ${width}`);
  };

  for (const mode of modes) {
    test(`bulk cancel, replay with edit, test run and schedule edit (${mode.name})`, async () => {
      const context = await signedInContext(chromium, seed, { colorScheme: mode.colorScheme, width: mode.width });
      const page = await context.newPage();
      page.on("dialog", (dialog) => void dialog.accept());
      const { url, base, api } = seed;
      try {
        // Bulk cancel: two fresh runs of a tag of their own, one selected.
        const tag = `bulk-${mode.name}`;
        const keep = await api.trigger("approve-order", {}, { tags: [tag] });
        const target = await api.trigger("approve-order", {}, { tags: [tag] });
        await page.goto(`${url}${base}/runs?tag=${tag}`);
        await fitsWidth(page, mode.width);
        await page.getByRole("checkbox", { name: `Select run ${target.id}` }).check();
        await page.getByText("1 run selected").waitFor();
        await page.screenshot({ path: join(artifacts, `runs-bulk-${mode.name}.png`), fullPage: true });
        await page.getByRole("button", { name: "Cancel selected" }).click();
        await page.locator("#runs .notice").waitFor();
        await page.locator(`tr[data-run="${target.id}"] .status`, { hasText: "CANCELED" }).waitFor();
        assert.equal((await api.retrieve(keep.id)).status, "QUEUED", "the run not selected is left alone");
        assert.match(page.url(), new RegExp(`tag=${tag}&bulk=bulk_`), "the filters stay in the URL");

        // Replay with an edited payload.
        await page.goto(`${url}${base}/runs/${seed.ids.completed}`);
        await fitsWidth(page, mode.width);
        await page.screenshot({ path: join(artifacts, `run-header-${mode.name}.png`), fullPage: true });
        await page.getByRole("link", { name: "Replay with edited payload" }).click();
        const payload = page.getByLabel("Payload (JSON)");
        assert.match(await payload.inputValue(), /"ada@example.com"/);
        await payload.fill('{"to": "edited@example.com"');
        await page.getByRole("button", { name: "Replay run" }).click();
        await page.getByRole("alert").filter({ hasText: "payload: not valid JSON" }).waitFor();
        assert.equal(await page.getByLabel("Payload (JSON)").inputValue(), '{"to": "edited@example.com"', "kept as typed");
        await page.getByLabel("Payload (JSON)").fill(`{"to": "edited-${mode.name}@example.com"}`);
        await page.getByRole("button", { name: "Replay run" }).click();
        await page.locator(".facts").getByRole("link", { name: seed.ids.completed }).waitFor();
        assert.match(await page.locator("#run .json").first().innerText(), new RegExp(`edited-${mode.name}@example.com`));

        // A test run from the task's form.
        await page.goto(`${url}${base}/tasks`);
        await fitsWidth(page, mode.width);
        await page.getByRole("link", { name: "Test deliver-email" }).click();
        await page.getByLabel("Payload (JSON)").fill(`{"to": "test-${mode.name}@example.com"}`);
        await page.getByLabel("Machine").selectOption("medium-1x");
        await page.screenshot({ path: join(artifacts, `test-run-${mode.name}.png`), fullPage: true });
        await page.getByRole("button", { name: "Run test" }).click();
        await page.locator("#run h1 .badge", { hasText: "test" }).waitFor();
        assert.match(await page.locator(".facts").innerText(), /medium-1x/);

        // A schedule's cron edited.
        await page.goto(`${url}${base}/schedules`);
        await fitsWidth(page, mode.width);
        const cron = `${modes.indexOf(mode) + 5} 3 * * *`;
        await page.locator(`tr[data-schedule="${seed.ids.schedule}"]`).getByRole("link", { name: "Edit" }).click();
        await page.getByLabel("Cron").fill(cron);
        await page.getByRole("button", { name: "Save schedule" }).click();
        await page.locator(`tr[data-schedule="${seed.ids.schedule}"] code`, { hasText: cron }).waitFor();
        await page.screenshot({ path: join(artifacts, `schedules-${mode.name}.png`), fullPage: true });
      } finally {
        await context.close();
      }
    });
  }

  test("a live refresh of the runs list keeps the selected runs and the scroll position", async () => {
    const context = await signedInContext(chromium, seed, { colorScheme: "light", width: 390 });
    const page = await context.newPage();
    try {
      const tag = "live-keep";
      const runs = [];
      for (let i = 0; i < 12; i += 1) runs.push(await seed.api.trigger("approve-order", { i }, { tags: [tag] }));
      await page.goto(`${seed.url}${seed.base}/runs?tag=${tag}`);
      const chosen = runs[3]!.id;
      await page.getByRole("checkbox", { name: `Select run ${chosen}` }).check();
      await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 400));
      const scrolled = await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY);
      const fresh = await seed.api.trigger("approve-order", {}, { tags: [tag] });
      await page.locator(`tr[data-run="${fresh.id}"]`).waitFor();
      // The selection is put back when htmx settles the swap, a moment after the new row shows.
      await page.locator(`input[type=checkbox][value="${chosen}"]:checked`).waitFor({ timeout: 3000 });
      assert.equal(await page.getByRole("checkbox", { name: `Select run ${chosen}` }).isChecked(), true, "still selected after the refresh");
      await page.getByText("1 run selected").waitFor();
      assert.equal(await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY), scrolled, "still scrolled where it was");
    } finally {
      await context.close();
    }
  });

  test("? lists the keyboard shortcuts; j moves through runs, x selects, / focuses the search", async () => {
    const context = await signedInContext(chromium, seed, { colorScheme: "light", width: 1280 });
    const page = await context.newPage();
    try {
      await page.goto(`${seed.url}${seed.base}/runs`);
      await page.keyboard.press("?");
      await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
      await page.screenshot({ path: join(artifacts, "shortcuts.png") });
      await page.keyboard.press("Escape");
      await page.getByRole("dialog").waitFor({ state: "hidden" });
      await page.locator("body").focus();
      await page.keyboard.press("j");
      await page.locator("tr[data-run].is-current").waitFor();
      await page.keyboard.press("x");
      await page.getByText("1 run selected").waitFor();
      await page.keyboard.press("/");
      assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id), "filter-q");
      await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { blur(): void } } }).document.activeElement.blur());
      await page.keyboard.press("g");
      await page.keyboard.press("q");
      await page.waitForURL(/\/queues$/);
    } finally {
      await context.close();
    }
  });
});
