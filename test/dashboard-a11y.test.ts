// Every dashboard page checked with axe-core in Chromium, light and dark: no serious or critical
// violation (landmarks, labels, names, contrast AA). And keyboard-only use: the first Tab lands on the
// skip link, which moves focus to the page's content, and focus is always visible.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import type { Browser as Chromium, Page } from "playwright-core";
import { chromiumPath, dashboardPages, launchChromium, seededDashboard, signedInContext, type SeededDashboard } from "./helpers/dashboard-seed.ts";

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

const axeSource = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(options: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run({ resultTypes: ["violations"] });
    return result.violations;
  });
  return violations.filter((violation) => violation.impact === "serious" || violation.impact === "critical");
}

function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n${v.nodes.slice(0, 5).map((node) => `    ${node.target.join(" ")} — ${node.failureSummary?.replaceAll("\n", " ")}`).join("\n")}`).join("\n");
}

describe("dashboard accessibility", () => {
  let seed: SeededDashboard;
  let chromium: Chromium;

  before(async () => {
    assert.ok(existsSync(chromiumPath), `Chromium is needed at ${chromiumPath}`);
    seed = await seededDashboard();
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await seed?.close();
  });

  for (const colorScheme of ["light", "dark"] as const) {
    test(`every page passes axe-core with no serious violation (${colorScheme})`, async () => {
      const context = await signedInContext(chromium, seed, { colorScheme, width: 1280 });
      const page = await context.newPage();
      const failures: string[] = [];
      try {
        for (const [name, path] of [...dashboardPages(seed), ["sign-in", "/login"] as [string, string]]) {
          if (name === "sign-in") await context.clearCookies();
          await page.goto(`${seed.url}${path}`);
          if ((await page.locator("main").count()) !== 1) {
            failures.push(`${name} (${path}): no <main> landmark`);
            continue;
          }
          const violations = await seriousViolations(page);
          if (violations.length) failures.push(`${name} (${path}):\n  ${describeViolations(violations)}`);
        }
      } finally {
        await context.close();
      }
      assert.equal(failures.length, 0, failures.join("\n"));
    });
  }

  test("keyboard only: the first Tab reaches the skip link, which moves focus to the content, with a visible ring", async () => {
    const context = await signedInContext(chromium, seed, { colorScheme: "light", width: 1280 });
    const page = await context.newPage();
    try {
      await page.goto(`${seed.url}${seed.base}/runs`);
      await page.keyboard.press("Tab");
      const skip = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { activeElement: { textContent: string; getAttribute(name: string): string | null } | null } }).document;
        return { text: doc.activeElement?.textContent?.trim(), href: doc.activeElement?.getAttribute("href") };
      });
      assert.deepEqual(skip, { text: "Skip to content", href: "#main" });
      const ring = await page.evaluate(() => {
        const g = globalThis as unknown as { document: { activeElement: unknown }; getComputedStyle(element: unknown): { outlineStyle: string; outlineWidth: string } };
        const style = g.getComputedStyle(g.document.activeElement);
        return `${style.outlineStyle} ${style.outlineWidth}`;
      });
      assert.match(ring, /^solid [1-9]/, "the focused link shows a ring");
      await page.keyboard.press("Enter");
      await page.keyboard.press("Tab");
      const inMain = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { activeElement: { closest(selector: string): unknown } | null } }).document;
        return Boolean(doc.activeElement?.closest("main"));
      });
      assert.ok(inMain, "after the skip link, Tab continues inside the page's content");
    } finally {
      await context.close();
    }
  });
});
