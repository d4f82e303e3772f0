// Debian's Chromium driven by playwright-core, the way every browser test starts it, and the
// first-admin sign-up through the setup link that most dashboard tests begin with.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import type { Db } from "../../server/db/client.ts";
import { firstSetupLink } from "../../server/dashboard/sessions.ts";

export const chromiumPath = process.env.RATCHET_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(chromiumPath), `Chromium is needed at ${chromiumPath} (apt-get install chromium; .ci/run installs it)`);
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Signs up Ada, the first admin, through the setup link of an empty install; ends on the runs page. */
export async function signUpFirstAdmin(page: Page, db: Db, url: string): Promise<void> {
  const link = await firstSetupLink(db, url, new Date());
  assert.ok(link, "an empty install has a setup link");
  await page.goto(link);
  await page.getByLabel("Name").fill("Ada");
  await page.getByLabel("Email").fill("ada@example.com");
  await page.getByLabel("Password (at least 10 characters)").fill("a long enough password");
  await page.getByRole("button", { name: "Create and sign in" }).click();
  await page.waitForURL(/\/runs$/);
}
