// The dashboard in a real browser (Debian's Chromium, driven by playwright-core): sign in, watch a run
// go queued → executing → completed without reloading, cancel a run, complete a wait token by hand
// and see its run resume, and a form posted without its CSRF token refused. Screenshots of the main
// pages are saved in test-artifacts/.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { firstSetupLink } from "../server/dashboard/sessions.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { projectRoot } from "./helpers/server-process.ts";

const chromiumPath = process.env.RATCHET_CHROMIUM ?? "/usr/bin/chromium";
const artifacts = join(projectRoot, "test-artifacts");

describe("the dashboard in Chromium", () => {
  let t: TestApp;
  let api: ApiClient;
  let url: string;
  let browser: Browser;
  let page: Page;
  let base: string;

  const shot = (name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

  before(async () => {
    assert.ok(existsSync(chromiumPath), `Chromium is needed at ${chromiumPath} (apt-get install chromium; .ci/run installs it)`);
    await mkdir(artifacts, { recursive: true });
    t = await createTestApp({ sweeper: true });
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "deliver" }, { id: "approve" }]);
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    base = `${url}/p/${t.project.ref}/prod`;
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test("the first admin signs up through the setup link, then signs out and in", async () => {
    const link = await firstSetupLink(t.database.db, url, new Date());
    await page.goto(link!);
    await page.getByLabel("Name").fill("Ada");
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password (at least 10 characters)").fill("a long enough password");
    await page.getByRole("button", { name: "Create and sign in" }).click();
    await page.waitForURL(/\/runs$/);
    await page.getByRole("button", { name: /Sign out/ }).click();
    await page.waitForURL(/\/login$/);
    await shot("sign-in");
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill("a long enough password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/dev\/runs$/);
  });

  test("a run's own page follows its run's change feed: queued → executing → completed without a reload", async () => {
    const { id } = await api.trigger("deliver", { to: "grace@example.com" });
    const requests: string[] = [];
    const onRequest = (request: { url(): string }) => requests.push(new URL(request.url()).pathname);
    page.on("request", onRequest);
    try {
      await page.goto(`${base}/runs/${id}`);
      const status = page.locator("#run h1 .status");
      await status.filter({ hasText: "QUEUED" }).waitFor();
      const [run] = await api.dequeue("browser-feed-worker", 1);
      assert.equal(run!.id, id);
      await api.start("browser-feed-worker", run!);
      await status.filter({ hasText: "EXECUTING" }).waitFor();
      await api.complete("browser-feed-worker", run!, { ok: true, output: { delivered: true } });
      await status.filter({ hasText: "COMPLETED" }).waitFor();
      await page.getByRole("heading", { name: "Output" }).waitFor();
      assert.ok(requests.includes(`/p/${t.project.ref}/prod/runs/${id}/live`), `the page listens to its run's feed: ${requests.join(", ")}`);
      assert.ok(!requests.includes(`/p/${t.project.ref}/prod/live`), "not to the environment's hints");
      assert.equal(requests.filter((path) => path === `/p/${t.project.ref}/prod/runs/${id}`).length > 1, true, "fetched again in place, not reloaded");
    } finally {
      page.off("request", onRequest);
    }
  });

  test("a run page's stream speaks only of its run: another run's changes send it nothing", async () => {
    const { id } = await api.trigger("deliver", { to: "linus@example.com" });
    await page.goto(`${base}/runs/${id}`);
    const paths = { run: `/p/${t.project.ref}/prod/runs/${id}/live`, environment: `/p/${t.project.ref}/prod/live` };
    await page.evaluate(async ({ run, environment }) => {
      const seen = { run: [] as string[], environment: 0 };
      (globalThis as unknown as { seen: typeof seen }).seen = seen;
      const runSource = new EventSource(run);
      runSource.addEventListener("changed", (event) => seen.run.push(JSON.parse((event as MessageEvent).data).status));
      const environmentSource = new EventSource(environment);
      environmentSource.addEventListener("changed", () => (seen.environment += 1));
      await Promise.all([runSource, environmentSource].map((source) => new Promise((resolve) => source.addEventListener("open", resolve, { once: true }))));
    }, paths);
    // Another run is triggered and canceled: the environment's stream hears it (after the run
    // stream's shorter debounce has looked at the feed), the run's stream does not.
    const other = await api.trigger("deliver", {});
    await api.ok("POST", `/api/v2/runs/${other.id}/cancel`);
    await page.waitForFunction(() => (globalThis as unknown as { seen: { environment: number } }).seen.environment > 0);
    const [run] = await api.dequeue("browser-stream-worker", 1);
    assert.equal(run!.id, id);
    await api.start("browser-stream-worker", run!);
    await page.waitForFunction(() => (globalThis as unknown as { seen: { run: string[] } }).seen.run.length > 0);
    const statuses = await page.evaluate(() => (globalThis as unknown as { seen: { run: string[] } }).seen.run);
    assert.notEqual(statuses[0], "QUEUED", `the first event is this run's own change: ${statuses.join(", ")}`);
    await api.complete("browser-stream-worker", run!, { ok: true, output: {} });
  });

  test("a run goes queued → executing → completed on the page without a reload", async () => {
    await page.goto(`${base}/runs`);
    const { id } = await api.trigger("deliver", { to: "ada@example.com" }, { tags: ["welcome"] });
    const row = page.locator(`tr[data-run="${id}"]`);
    await row.locator(".status", { hasText: "QUEUED" }).waitFor();
    const [run] = await api.dequeue("browser-worker");
    await api.start("browser-worker", run!);
    await row.locator(".status", { hasText: "EXECUTING" }).waitFor();
    await api.complete("browser-worker", run!, { ok: true, output: { delivered: true } });
    await row.locator(".status", { hasText: "COMPLETED" }).waitFor();
    await shot("runs");
    await row.getByRole("link").click();
    await page.getByRole("heading", { name: "Output" }).waitFor();
    assert.match(await page.locator(".json").nth(1).innerText(), /"delivered": true/);
    await shot("run");
  });

  test("a collapsed level of the JSON viewer opens with a click and with the keyboard", async () => {
    const { id } = await api.trigger("deliver", { lines: [{ sku: "A-1", gift: { wrap: "blue" } }] });
    await page.goto(`${base}/runs/${id}`);
    const deep = page.locator(".json details", { has: page.locator(":scope > summary .j-key", { hasText: '"gift"' }) });
    const lines = page.locator(".json details", { has: page.locator(":scope > summary .j-key", { hasText: '"lines"' }) });
    assert.equal(await lines.getAttribute("open"), "", "the second level is open");
    const item = lines.locator(".j-body > details").first();
    assert.equal(await item.getAttribute("open"), null, "the third level starts collapsed");
    assert.equal(await deep.isVisible(), false);
    await item.locator(":scope > summary").click();
    await deep.waitFor({ state: "visible" });
    assert.equal(await deep.getAttribute("open"), null);
    await deep.locator(":scope > summary").focus();
    await page.keyboard.press("Enter");
    await page.locator(".json .j-str", { hasText: '"blue"' }).waitFor({ state: "visible" });
    await shot("run-json-expanded");
    // A live refresh (the run starts) swaps the page in place and keeps the folds the reader opened.
    const [run] = await api.dequeue("browser-json-worker", 1);
    assert.equal(run!.id, id);
    await api.start("browser-json-worker", run!);
    await page.locator("#run h1 .status", { hasText: "EXECUTING" }).waitFor();
    // (Restored when htmx settles the swap, a moment after the new status shows.)
    await page.locator(".json .j-str", { hasText: '"blue"' }).waitFor({ state: "visible", timeout: 3000 });
    await api.complete("browser-json-worker", run!, { ok: true, output: {} });
  });

  test("a run is canceled from its page", async () => {
    const { id } = await api.trigger("deliver", {});
    await page.goto(`${base}/runs/${id}`);
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.locator("h1 .status", { hasText: "CANCELED" }).waitFor();
    assert.equal((await api.retrieve(id)).status, "CANCELED");
  });

  test("a wait token completed by hand resumes the run waiting for it", async () => {
    const { id } = await api.trigger("approve", {});
    const [run] = await api.dequeue("browser-worker");
    assert.equal(run?.id, id);
    await api.start("browser-worker", run!);
    const token = await api.ok("POST", "/api/v1/waitpoints/tokens", { tags: ["manager"] });
    await api.ok("POST", `/engine/v1/runs/${id}/journal/0`, { workerId: "browser-worker", op: "wait", kind: "wait", name: "wait.forToken", wait: { type: "TOKEN", tokenId: token.id } });
    await api.ok("POST", `/engine/v1/runs/${id}/suspend`, { workerId: "browser-worker" });
    await page.goto(`${base}/runs/${id}`);
    await page.locator("h1 .status", { hasText: "WAITING" }).waitFor();
    await page.goto(`${base}/tokens`);
    await shot("tokens");
    const tokenRow = page.locator(`tr[data-token="${token.id}"]`);
    await tokenRow.getByLabel("Output (JSON)").fill('{"approved": true}');
    await tokenRow.getByRole("button", { name: "Complete" }).click();
    await page.locator(`tr[data-token="${token.id}"] .status`, { hasText: "COMPLETED" }).waitFor();
    assert.equal((await api.retrieve(id)).status, "QUEUED", "the run resumed");
  });

  test("hostile payloads, tags and log lines are shown as text, never run", async () => {
    let alerted = false;
    page.on("dialog", (dialog) => {
      alerted = true;
      void dialog.dismiss();
    });
    const hostile = `<img src=x onerror="alert('xss')">`;
    const { id } = await api.trigger("deliver", { html: hostile }, { tags: [`<script>alert('tag')</script>`] });
    await api.ok("POST", `/engine/v1/runs/${id}/events`, {
      workerId: "w",
      attemptNumber: 1,
      events: [{ seq: 0, time: new Date().toISOString(), kind: "log", level: "info", message: hostile }],
    });
    await page.goto(`${base}/runs`);
    await page.locator(`tr[data-run="${id}"] .tag`).waitFor();
    assert.equal(await page.locator(`tr[data-run="${id}"] .tag`).innerText(), `<script>alert('tag')</script>`);
    await page.goto(`${base}/runs/${id}`);
    await page.getByRole("heading", { name: "Logs" }).waitFor();
    assert.ok((await page.locator(".logs").innerText()).includes(hostile), "the log line is text");
    assert.equal(await page.locator("#run img").count(), 0);
    assert.equal(alerted, false, "no script ran");
  });

  test("a form posted without its CSRF token is refused", async () => {
    const { id } = await api.trigger("deliver", {});
    await page.goto(`${base}/runs/${id}`);
    const status = await page.evaluate(async (action) => {
      const response = await fetch(action, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "" });
      return response.status;
    }, `${base}/runs/${id}/cancel`);
    assert.equal(status, 403);
    assert.equal((await api.retrieve(id)).status, "QUEUED");
  });

  test("the pages read at phone width and are reachable by keyboard", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/queues`);
    await shot("queues-phone");
    // Wide tables scroll inside their own box; the page itself never gets wider than the phone.
    assert.ok((await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)) <= 390, "the queues page fits 390 px");
    await page.goto(`${base}/keys`);
    await shot("keys");
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => (globalThis as unknown as { document: { activeElement?: { tagName: string } } }).document.activeElement?.tagName);
    assert.ok(["A", "SELECT", "BUTTON", "INPUT"].includes(focused ?? ""), `keyboard focus lands on a control (${focused})`);
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
