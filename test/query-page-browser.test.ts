// The dashboard's Query page in a real browser (Debian's Chromium through playwright-core): the
// highlighted editor loaded from Ratchet itself, an example query run into a results table, an error
// shown inline with the typed SQL kept, a chart over a time column, CSV export, a saved query; and a
// member of another project who can neither open this project's page nor its saved queries, and
// whose organization-wide query counts only the runs of the project they were given.
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { hashPassword } from "../server/dashboard/passwords.ts";
import { organizationMembersInsert, projectMembersAdd, projectsInsertWithEnvironments, usersInsert } from "../server/storage/teams.ts";
import { launchChromium, signUpFirstAdmin } from "./helpers/chromium.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { projectRoot } from "./helpers/server-process.ts";

const artifacts = join(projectRoot, "test-artifacts");

describe("the Query page in Chromium", () => {
  let t: TestApp;
  let url: string;
  let browser: Browser;
  let page: Page;
  let alphaBase: string;
  let betaBase: string;
  let savedId = "";

  before(async () => {
    t = await createTestApp();
    const sql = t.database.db.sql;
    // Alpha (the bootstrap project): 3 report runs, 2 failed, and 1 email run, completed.
    const alpha = new ApiClient(t.app, await t.key("prod"));
    await alpha.register([{ id: "report" }, { id: "email" }]);
    for (let i = 0; i < 3; i += 1) await alpha.trigger("report", {}, { tags: ["nightly"] });
    await alpha.trigger("email", {});
    const runs = await alpha.dequeue("w1", 10);
    let failures = 0;
    for (const run of runs) {
      await alpha.start("w1", run);
      const failed = run.taskIdentifier === "report" && failures++ < 2;
      await alpha.complete("w1", run, failed ? { ok: false, error: { message: "boom" }, skipRetrying: true } : { ok: true, output: {} });
    }
    // Beta: another project of the same organization, with 2 runs of its own.
    const [organization] = await sql<{ id: string }[]>`select organization_id as id from ratchet.projects where id = ${t.project.id}`;
    const beta = await sql.begin((tx) => projectsInsertWithEnvironments(tx, organization!.id, { name: "Beta", slug: "beta" }));
    const betaClient = new ApiClient(t.app, (await issueSecretKey(sql, { environment: "prod", projectRef: beta.ref })).key);
    await betaClient.register([{ id: "beta-task" }]);
    for (let i = 0; i < 2; i += 1) await betaClient.trigger("beta-task", {});

    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    alphaBase = `${url}/p/${t.project.ref}/prod`;
    betaBase = `${url}/p/${beta.ref}/prod`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    await signUpFirstAdmin(page, t.database.db, url);
    // Mallory (after the first admin: the setup link is for an empty install): a member given Beta only.
    const mallory = await usersInsert(sql, { email: "mallory@example.com", name: "Mallory", passwordHash: await hashPassword("mallory's long password") });
    await organizationMembersInsert(sql, organization!.id, mallory, "member");
    await projectMembersAdd(sql, organization!.id, mallory, [beta.id], true);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Replaces the editor's text by typing, as a person would. */
  async function typeSql(text: string) {
    const editor = page.locator(".sql-editor");
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.insertText(text);
    // The form posts the hidden textarea the editor writes into: typed means written there.
    await page.waitForFunction((expected) => {
      const doc = (globalThis as unknown as { document: { querySelector(selector: string): { value: string } | null } }).document;
      return doc.querySelector("textarea[data-sql-editor]")?.value === expected;
    }, text);
  }

  test("the editor highlights SQL with scripts served by Ratchet, and an example runs into a table", async () => {
    const external: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(url)) external.push(request.url());
    });
    await page.goto(`${alphaBase}/query`);
    await page.getByRole("link", { name: "Query" }).and(page.locator("[aria-current]")).waitFor();
    await page.locator(".sql-editor .hljs-keyword").first().waitFor();
    await page.getByRole("link", { name: "Failure rate by task, last 24 h" }).click();
    await page.waitForURL(/example=failure-rate/);
    await page.locator(".sql-editor .hljs-keyword").first().waitFor();
    assert.equal(await page.locator('input[name="period"]').inputValue(), "24h");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    const table = page.locator("table.query-results");
    await table.waitFor();
    const rows = await table.locator("tbody tr").evaluateAll((trs) =>
      trs.map((tr) => Array.from((tr as unknown as { children: ArrayLike<{ textContent: string | null }> }).children, (td) => td.textContent ?? "")),
    );
    assert.deepEqual(
      rows.map(([task, rate, count]) => [task, Number(rate).toFixed(3), count]),
      [["report", (2 / 3).toFixed(3), "3"], ["email", "0.000", "1"]],
    );
    assert.deepEqual(external, []);
  });

  test("an error shows inline and the typed SQL stays in the editor", async () => {
    await typeSql("select nope from runs");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator(".query-error").filter({ hasText: /nope/ }).waitFor();
    assert.equal(await page.locator(".sql-editor").textContent(), "select nope from runs");
    await typeSql("select * from ratchet.api_keys");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator(".query-error").filter({ hasText: /Unknown table ratchet\.api_keys/ }).waitFor();
    assert.equal(await page.locator(".sql-editor").textContent(), "select * from ratchet.api_keys");
  });

  test("a query over a time column draws a chart, and CSV export downloads the result", async () => {
    await page.goto(`${alphaBase}/query?example=runs-per-hour`);
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator(".query-chart svg rect.bar").first().waitFor();
    assert.match((await page.locator(".query-chart svg").getAttribute("aria-label"))!, /Bar chart of runs over hour/);
    await page.locator('select[name="chart"]').selectOption("line");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator(".query-chart svg circle.dot").first().waitFor();
    assert.equal(await page.locator(".query-chart svg polyline.line").count(), 1);

    await typeSql("select task_identifier, count(*) as runs from runs group by 1 order by 1");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    assert.equal(download.suggestedFilename(), "query.csv");
    assert.equal(await readFile((await download.path())!, "utf8"), "task_identifier,runs\r\nemail,1\r\nreport,3\r\n");
  });

  test("a saved query is listed for the project and opens again into the editor", async () => {
    // A fresh page: the previous case ended in a download, whose form submission this one must not inherit.
    await page.goto(`${alphaBase}/query`);
    await typeSql("select status, count(*) as runs from runs group by 1 order by 1");
    await page.getByLabel("Name").fill("alpha statuses");
    assert.equal(await page.getByLabel("Name").inputValue(), "alpha statuses");
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/query")), page.getByRole("button", { name: "Save query" }).click()]);
    const html = await response.text();
    const refusal = /class="notice error query-error" role="alert">([^<]*)</.exec(html)?.[1];
    assert.equal(response.status(), 200, `the save was answered ${response.status()}: ${refusal ?? html.slice(-4000)}`);
    assert.match(html, /Saved &quot;alpha statuses&quot;|Saved "alpha statuses"/, `the save's answer has no notice: ${html.slice(0, 6000)}`);
    await page.getByRole("status").filter({ hasText: 'Saved "alpha statuses"' }).waitFor();
    await page.goto(`${alphaBase}/query`);
    const link = page.locator(".saved-queries a", { hasText: "alpha statuses" });
    savedId = new URL((await link.getAttribute("href"))!, url).searchParams.get("saved")!;
    assert.match(savedId, /^query_/);
    await link.click();
    await page.waitForURL(/saved=query_/);
    assert.equal(await page.locator(".sql-editor").textContent(), "select status, count(*) as runs from runs group by 1 order by 1");
    assert.equal(await page.getByLabel("Name").inputValue(), "alpha statuses");
  });

  test("a member of another project sees neither this project's page, its saved queries nor its rows", async () => {
    const context = await browser.newContext();
    const other = await context.newPage();
    try {
      await other.goto(`${url}/login`);
      await other.getByLabel("Email").fill("mallory@example.com");
      await other.getByLabel("Password").fill("mallory's long password");
      await other.getByRole("button", { name: "Sign in" }).click();
      await other.waitForURL(/\/runs$/);

      assert.equal((await other.goto(`${alphaBase}/query`))!.status(), 404);
      assert.equal((await other.goto(`${alphaBase}/query?saved=${savedId}`))!.status(), 404);
      // Alpha's saved query id through Beta's own page: not there either.
      assert.equal((await other.goto(`${betaBase}/query?saved=${savedId}`))!.status(), 404);
      await other.goto(`${betaBase}/query`);
      assert.equal(await other.locator(".saved-queries a").count(), 0);
      const csrf = await other.locator('input[name="_csrf"]').first().inputValue();
      const deleted = await other.request.post(`${betaBase}/query/saved/${savedId}/delete`, { form: { _csrf: csrf } });
      assert.equal(deleted.status(), 404);
      const posted = await other.request.post(`${alphaBase}/query`, { form: { _csrf: csrf, sql: "select count(*) as n from runs", action: "run" } });
      assert.equal(posted.status(), 404);
      assert.ok(!(await posted.text()).includes("<td>"), "no result rows on a refused page");

      // The organization-wide scope reaches only the projects Mallory was given.
      await other.locator(".sql-editor").click();
      await other.keyboard.press("Control+A");
      await other.keyboard.press("Delete");
      await other.keyboard.insertText("select task_identifier, count(*)::int as n from runs group by 1");
      await other.locator('select[name="scope"]').selectOption("organization");
      await other.locator('input[name="period"]').fill("");
      await other.getByRole("button", { name: "Run", exact: true }).click();
      const cells = await other.locator("table.query-results tbody td").allTextContents();
      assert.deepEqual(cells, ["beta-task", "2"]);
    } finally {
      await context.close();
    }
    // Ada's saved query is still there.
    await page.goto(`${alphaBase}/query`);
    await page.locator(".saved-queries a", { hasText: "alpha statuses" }).waitFor();
  });

  test("the page with a result and a chart reads at phone width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.goto(`${alphaBase}/query?example=runs-per-hour`);
      await page.getByRole("button", { name: "Run", exact: true }).click();
      await page.locator(".query-chart svg").waitFor();
      await mkdir(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, "query-phone.png"), fullPage: true });
      const width = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
      assert.ok(width <= 390, `the Query page fits 390 px (${width})`);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.screenshot({ path: join(artifacts, "query.png"), fullPage: true });
  });

  test("a form posted without its CSRF token is refused", async () => {
    const response = await page.request.post(`${alphaBase}/query`, { form: { sql: "select 1 as one", action: "run" } });
    assert.equal(response.status(), 403);
    const deletion = await page.request.post(`${alphaBase}/query/saved/${savedId}/delete`, { form: {} });
    assert.equal(deletion.status(), 403);
  });
});
