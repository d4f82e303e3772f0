// A dashboard with something on every page, for browser tests and `npm run screenshots`: tasks, runs
// in several states (one failed, one waiting on a token, one replayed), a schedule, a paused queue, a
// signed-in admin whose session cookie a Chromium context can carry.
import type { Browser as Chromium, BrowserContext } from "playwright-core";
import { createTestApp, type TestApp } from "./app.ts";
import { signedInAdmin, type Browser } from "./dashboard.ts";
import { ApiClient } from "./engine.ts";

export { chromiumPath, launchChromium } from "./chromium.ts";

export interface SeededDashboard {
  t: TestApp;
  api: ApiClient;
  /** The admin over app.inject (its cookies are the ones Chromium gets). */
  admin: Browser;
  url: string;
  base: string;
  ids: { completed: string; failed: string; waiting: string; replayed: string; token: string; schedule: string };
  close(): Promise<void>;
}

export async function seededDashboard(): Promise<SeededDashboard> {
  const t = await createTestApp({ sweeper: true });
  const admin = await signedInAdmin(t.app, t.database.db);
  const api = new ApiClient(t.app, await t.key("prod"));
  await api.register(
    [
      { id: "deliver-email", queue: { name: "email", concurrencyLimit: 5 }, machine: "small-2x" },
      { id: "approve-order" },
      { id: "nightly-report" },
    ],
    [{ name: "email", concurrencyLimit: 5 }],
  );
  const completed = await api.trigger("deliver-email", { to: "ada@example.com", subject: "Welcome" }, { tags: ["welcome", "user:42"], idempotencyKey: "welcome-42", ttl: "1h" });
  const failed = await api.trigger("nightly-report", { day: "2026-12-01" }, { tags: ["report"] });
  const waiting = await api.trigger("approve-order", { order: 1001, total: 99.5 });
  for (const run of await api.dequeue("seed-worker", 10)) {
    await api.start("seed-worker", run);
    if (run.id === completed.id) await api.complete("seed-worker", run, { ok: true, output: { delivered: true, messageId: "m-1" } });
    if (run.id === failed.id) {
      await api.complete("seed-worker", run, {
        ok: false,
        error: { name: "Error", message: "The warehouse timed out", stackTrace: "Error: The warehouse timed out\n    at report (src/report.ts:12:9)" },
        skipRetrying: true,
      });
    }
  }
  const token = await api.ok("POST", "/api/v1/waitpoints/tokens", { tags: ["manager"] });
  await api.ok("POST", `/engine/v1/runs/${waiting.id}/journal/0`, { workerId: "seed-worker", op: "wait", kind: "wait", name: "wait.forToken", wait: { type: "TOKEN", tokenId: token.id } });
  await api.ok("POST", `/engine/v1/runs/${waiting.id}/suspend`, { workerId: "seed-worker" });
  const replayed = await api.ok("POST", `/api/v1/runs/${completed.id}/replay`, {});
  await api.trigger("deliver-email", { to: "grace@example.com" }, { tags: ["welcome"] });
  const schedule = await api.ok("POST", "/api/v1/schedules", { task: "nightly-report", cron: "0 2 * * *", timezone: "Europe/Paris", deduplicationKey: "nightly" });
  await admin.submit(`/p/${t.project.ref}/prod/queues`, `/p/${t.project.ref}/prod/queues/email/pause`);
  const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
  return {
    t,
    api,
    admin,
    url,
    base: `/p/${t.project.ref}/prod`,
    ids: { completed: completed.id, failed: failed.id, waiting: waiting.id, replayed: replayed.id, token: token.id, schedule: schedule.id },
    close: () => t.close(),
  };
}

/** A Chromium context signed in as the seeded admin, in a colour scheme and at a width. */
export async function signedInContext(chromium: Chromium, seed: SeededDashboard, options: { colorScheme: "light" | "dark"; width: number }): Promise<BrowserContext> {
  const context = await chromium.newContext({ viewport: { width: options.width, height: options.width < 600 ? 844 : 800 }, colorScheme: options.colorScheme });
  await context.addCookies([...seed.admin.cookies].map(([name, value]) => ({ name, value, url: seed.url })));
  return context;
}

/** Every page of the dashboard worth looking at, by name. */
export function dashboardPages(seed: SeededDashboard): Array<[string, string]> {
  const { base, ids } = seed;
  return [
    ["overview", `${base}/overview`],
    ["runs", `${base}/runs`],
    ["runs-filtered", `${base}/runs?status=COMPLETED&status=FAILED&task=deliver`],
    ["run-completed", `${base}/runs/${ids.completed}`],
    ["run-failed", `${base}/runs/${ids.failed}`],
    ["run-replayed", `${base}/runs/${ids.replayed}`],
    ["run-waiting", `${base}/runs/${ids.waiting}`],
    ["trace", `${base}/runs/${ids.completed}/trace`],
    ["tasks", `${base}/tasks`],
    ["test-run", `${base}/tasks/deliver-email/test`],
    ["replay-edit", `${base}/runs/${ids.completed}/replay`],
    ["deployments", `${base}/deployments`],
    ["schedules", `${base}/schedules`],
    ["batches", `${base}/batches`],
    ["tokens", `${base}/tokens`],
    ["queues", `${base}/queues`],
    ["envvars", `${base}/envvars`],
    ["alerts", `${base}/alerts`],
    ["query", `${base}/query`],
    ["settings", `${base}/settings`],
    ["keys", `${base}/keys`],
    ["access-tokens", "/account/tokens"],
    ["environments", "/environments"],
    ["projects", "/settings/projects"],
    ["members", "/settings/members"],
    ["password", "/settings/password"],
    ["not-found", `${base}/runs/run_doesnotexist0000000000`],
  ];
}
