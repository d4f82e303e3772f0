import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ManualClock } from "../server/clock.ts";
import { buildApp } from "../server/app.ts";
import { signInLockout } from "../server/dashboard/sign-in-lockout.ts";
import { firstSetupLink } from "../server/dashboard/sessions.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("dashboard", () => {
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    api = new ApiClient(t.app, await t.key("prod"));
    base = `/p/${t.project.ref}/prod`;
    await api.register([{ id: "email" }, { id: "report" }]);
  });
  after(() => t.close());

  test("the setup link works once and signs the first admin in", async () => {
    const home = await browser.request("GET", "/");
    assert.equal(home.statusCode, 302);
    assert.match(home.headers.location as string, /^\/p\/proj_[a-z]+\/dev\/runs$/);
    assert.equal(await firstSetupLink(t.database.db, "http://localhost", new Date()), null, "no setup link once someone can sign in");
    const stranger = new Browser(t.app);
    const reused = await stranger.request("GET", "/setup?token=not-a-token");
    assert.equal(reused.statusCode, 404);
  });

  test("pages need a signed-in user", async () => {
    const stranger = new Browser(t.app);
    const response = await stranger.request("GET", `${base}/runs`);
    assert.equal(response.statusCode, 302);
    assert.match(response.headers.location as string, /^\/login\?next=/);
  });

  test("sign in with a wrong password is refused, the right one works, sign out ends the session", async () => {
    const visitor = new Browser(t.app);
    const { csrf } = await visitor.page("/login");
    const wrong = await visitor.request("POST", "/login", { _csrf: csrf, email: "admin@example.com", password: "nope nope nope" });
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.body, /Wrong email or password/);
    const right = await visitor.request("POST", "/login?next=/p/x", { _csrf: csrf, email: "Admin@Example.com", password: "correct horse battery" });
    assert.equal(right.statusCode, 303);
    assert.equal((await visitor.request("GET", `${base}/runs`)).statusCode, 200);
    const out = await visitor.submit(`${base}/runs`, "/logout");
    assert.equal(out.statusCode, 303);
    assert.equal((await visitor.request("GET", `${base}/runs`)).statusCode, 302);
  });

  test("after sign-in the browser goes back only to a path of this site, whatever `next` says", async () => {
    const foreign = ["/%5Cevil.com/", "/%09/evil.com/", "//evil.com", "https://evil.com", "/%5C%5Cevil.com", "/.//evil.com/", "%2F%2Fevil.com", "javascript:alert(1)"];
    const tab = "/\t/evil.com";
    const cases: Array<[string, string]> = [
      ...foreign.map((next): [string, string] => [`/login?next=${next}`, "/"]),
      [`/login?next=${encodeURIComponent(tab)}`, "/"],
      // Read as browsers read it: a path of this site.
      ["/login?next=http:evil.com", "/evil.com"],
      [`/login?next=${encodeURIComponent("/p/x/runs?status=FAILED#top")}`, "/p/x/runs?status=FAILED#top"],
    ];
    for (const [index, [page, expected]] of cases.entries()) {
      // Each from its own address: sign-in is rate-limited per address.
      const visitor = new Browser(t.app, `10.0.1.${index + 1}`);
      const { csrf, document } = await visitor.page(page);
      const next = document.querySelector('input[name="next"]')?.getAttribute("value");
      const signIn = await visitor.request("POST", "/login", { _csrf: csrf, email: "admin@example.com", password: "correct horse battery", ...(next ? { next } : {}) });
      assert.equal(signIn.statusCode, 303, page);
      assert.equal(signIn.headers.location, expected, `sign-in from ${page}`);
      // A POST that carries `next` in its own query, and a signed-in visitor opening the page again.
      const direct = new Browser(t.app, `10.0.2.${index + 1}`);
      const form = await direct.page("/login");
      const posted = await direct.request("POST", page, { _csrf: form.csrf, email: "admin@example.com", password: "correct horse battery" });
      assert.equal(posted.headers.location, expected, `POST ${page}`);
      const again = await direct.request("GET", page);
      assert.equal(again.statusCode, 302, page);
      assert.equal(again.headers.location, expected, `signed in, GET ${page}`);
    }
  });

  test("a form posted without its CSRF token is refused", async () => {
    const { id } = await api.trigger("email", {});
    const forged = await browser.request("POST", `${base}/runs/${id}/cancel`, { nothing: "here" });
    assert.equal(forged.statusCode, 403);
    assert.equal((await api.retrieve(id)).status, "QUEUED", "nothing happened");
    const wrongToken = await browser.request("POST", `${base}/runs/${id}/cancel`, { _csrf: "forged" });
    assert.equal(wrongToken.statusCode, 403);
    const real = await browser.submit(`${base}/runs/${id}`, `${base}/runs/${id}/cancel`);
    assert.equal(real.statusCode, 303);
    assert.equal((await api.retrieve(id)).status, "CANCELED");
  });

  test("the runs list filters by status, task and tag, and escapes what users sent", async () => {
    const hostile = `<script>alert("tag")</script>`;
    const good = await api.trigger("email", { to: "<img src=x onerror=alert(1)>" }, { tags: [hostile] });
    await api.trigger("report", {});
    const all = await browser.page(`${base}/runs`);
    assert.equal(all.response.statusCode, 200);
    assert.equal(all.document.querySelectorAll("script:not([src])").length, 0, "no injected script element");
    assert.ok(all.response.body.includes("&lt;script&gt;"), "the tag is shown as text");
    const ids = (document: typeof all.document) => [...document.querySelectorAll("tr[data-run]")].map((row) => row.getAttribute("data-run"));
    const byTask = await browser.page(`${base}/runs?task=email`);
    assert.ok(ids(byTask.document).includes(good.id));
    assert.ok(ids(byTask.document).every((id) => id !== null));
    const reportOnly = await browser.page(`${base}/runs?task=report`);
    assert.ok(!ids(reportOnly.document).includes(good.id));
    const byTag = await browser.page(`${base}/runs?tag=${encodeURIComponent(hostile)}`);
    assert.deepEqual(ids(byTag.document), [good.id]);
    const byStatus = await browser.page(`${base}/runs?status=COMPLETED`);
    assert.ok(!ids(byStatus.document).includes(good.id));
    const search = await browser.request("GET", `${base}/runs?q=${good.id}`);
    assert.equal(search.statusCode, 302);
    assert.equal(search.headers.location, `${base}/runs/${good.id}`);

    await api.ok("POST", `/engine/v1/runs/${good.id}/events`, {
      workerId: "w",
      attemptNumber: 1,
      events: [{ seq: 0, time: new Date().toISOString(), kind: "log", level: "info", message: "<script>alert('log')</script>", attributes: { html: "<b>bold</b>" } }],
    });
    const detail = await browser.page(`${base}/runs/${good.id}`);
    assert.equal(detail.document.querySelectorAll("img").length, 0, "the payload is escaped");
    assert.equal(detail.document.querySelectorAll("script:not([src])").length, 0, "log lines are escaped");
    assert.equal(detail.document.querySelectorAll("b").length, 0, "log attributes are escaped");
    assert.ok(detail.response.body.includes("&lt;script&gt;alert(&#39;log&#39;)"));
    assert.ok(detail.response.body.includes("&lt;img src=x"));
    const fragment = await browser.request("GET", `${base}/runs`, undefined, { "hx-request": "true" });
    assert.ok(!fragment.body.includes("<html"), "htmx gets the page without the layout");
    assert.ok(fragment.body.includes('id="runs"'));
  });

  test("a new API key is shown once, works, and can be revoked", async () => {
    const created = await browser.submit(`${base}/keys`, `${base}/keys`, { name: "from the dashboard" });
    assert.equal(created.statusCode, 200);
    const key = /tr_prod_[A-Za-z0-9]{24}/.exec(created.body)?.[0];
    assert.ok(key, "the key is on the page that created it");
    assert.equal((await new ApiClient(t.app, key).request("GET", "/api/v1/whoami")).status, 200);
    const later = await browser.page(`${base}/keys`);
    assert.ok(!later.response.body.includes(key), "and never again");
    const keyId = [...later.document.querySelectorAll("small")].map((node) => node.textContent).find((text) => text?.startsWith("key_"));
    const row = [...later.document.querySelectorAll("tr")].find((tr) => tr.textContent?.includes("from the dashboard"));
    const revokeAction = row?.querySelector("form")?.getAttribute("action");
    assert.ok(keyId && revokeAction);
    await browser.submit(`${base}/keys`, revokeAction);
    assert.equal((await new ApiClient(t.app, key).request("GET", "/api/v1/whoami")).status, 401);
  });

  test("a wait token is completed by hand from the tokens page", async () => {
    const token = await api.ok("POST", "/api/v1/waitpoints/tokens", { tags: ["needs-approval"] });
    const page = await browser.page(`${base}/tokens`);
    assert.ok(page.document.querySelector(`tr[data-token="${token.id}"]`));
    const bad = await browser.submit(`${base}/tokens`, `${base}/tokens/${token.id}/complete`, { data: "{not json" });
    assert.equal(bad.statusCode, 400);
    const done = await browser.submit(`${base}/tokens`, `${base}/tokens/${token.id}/complete`, { data: '{"approved": true}' });
    assert.equal(done.statusCode, 303);
    const retrieved = await api.ok("GET", `/api/v1/waitpoints/tokens/${token.id}`);
    assert.equal(retrieved.status, "COMPLETED");
    assert.deepEqual(JSON.parse(retrieved.output), { approved: true });
  });

  test("queues can be paused and limited from the queues page", async () => {
    const page = await browser.page(`${base}/queues`);
    assert.ok(page.response.body.includes("task/email"));
    await browser.submit(`${base}/queues`, `${base}/queues/${encodeURIComponent("task/email")}/pause`);
    assert.equal((await api.ok("GET", "/api/v1/queues/email?type=task")).paused, true);
    await browser.submit(`${base}/queues`, `${base}/queues/${encodeURIComponent("task/email")}/resume`);
    await browser.submit(`${base}/queues`, `${base}/queues/${encodeURIComponent("task/email")}/limit`, { limit: "3" });
    const queue = await api.ok("GET", "/api/v1/queues/email?type=task");
    assert.equal(queue.paused, false);
    assert.equal(queue.concurrencyLimit, 3);
  });

  test("sign-in attempts are rate-limited", async () => {
    const visitor = new Browser(t.app);
    const { csrf } = await visitor.page("/login");
    let limited = false;
    for (let attempt = 0; attempt < 12 && !limited; attempt += 1) {
      // A new address each time: this is the limit per client address, not the per-account lockout.
      const response = await visitor.request("POST", "/login", { _csrf: csrf, email: `x${attempt}@example.com`, password: "wrong wrong" });
      limited = response.statusCode === 429;
    }
    assert.ok(limited, "the 11th attempt in a minute is refused");
  });

  test("tasks, batches and schedules have their pages; runs filter by batch and schedule", async () => {
    const tasks = await browser.page(`${base}/tasks`);
    assert.ok(tasks.response.body.includes(">email<"), "registered tasks are listed");

    const batch = await api.ok("POST", "/api/v2/tasks/batch", { items: [{ task: "report", payload: { n: 1 } }, { task: "report", payload: { n: 2 } }] });
    const batches = await browser.page(`${base}/batches`);
    assert.ok(batches.response.body.includes(batch.id));
    const inBatch = await browser.page(`${base}/runs?batch=${batch.id}`);
    assert.equal(inBatch.document.querySelectorAll("tr[data-run]").length, 2);

    const bad = await browser.submit(`${base}/schedules`, `${base}/schedules`, { task: "report", cron: "not a cron", timezone: "UTC", deduplicationKey: "bad" });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /body\.cron/);
    const saved = await browser.submit(`${base}/schedules`, `${base}/schedules`, { task: "report", cron: "30 2 * * *", timezone: "America/New_York", deduplicationKey: "nightly" });
    assert.equal(saved.statusCode, 303);
    const page = await browser.page(`${base}/schedules`);
    const row = page.document.querySelector("tr[data-schedule]");
    assert.ok(row);
    const upcoming = [...row.querySelectorAll(".upcoming li")].map((item) => item.textContent ?? "");
    assert.equal(upcoming.length, 5, "next five fire times");
    assert.ok(upcoming.every((time) => time.endsWith("02:30")), `shown in the schedule's zone: ${upcoming.join(", ")}`);
    const scheduleId = row.getAttribute("data-schedule")!;
    await browser.submit(`${base}/schedules`, `${base}/schedules/${scheduleId}/deactivate`);
    assert.equal((await api.ok("GET", `/api/v1/schedules/${scheduleId}`)).active, false);
    const bySchedule = await browser.page(`${base}/runs?schedule=${scheduleId}`);
    assert.equal(bySchedule.document.querySelectorAll("tr[data-run]").length, 0);
  });
});

describe("deployments page", () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp();
  });
  after(() => t.close());

  test("lists versions with their tasks and status; Promote needs the form's CSRF token and makes the version current", async () => {
    const browser = await signedInAdmin(t.app, t.database.db);
    const api = new ApiClient(t.app, await t.key("prod"));
    const base = `/p/${t.project.ref}/prod`;
    await api.ok("POST", "/engine/v1/worker/register", { version: "1.0.0", tasks: [{ id: "email" }] });
    await api.ok("POST", "/engine/v1/worker/register", { version: "2.0.0", tasks: [{ id: "email" }, { id: "report" }], promote: false });
    const page = await browser.page(`${base}/deployments`);
    const rows = [...page.document.querySelectorAll("tr[data-deployment]")];
    assert.deepEqual(rows.map((row) => row.getAttribute("data-deployment")), ["2.0.0", "1.0.0"], "newest first");
    const current = page.document.querySelector('tr[aria-current="true"]');
    assert.equal(current?.getAttribute("data-deployment"), "1.0.0");
    assert.match(rows[0]!.textContent ?? "", /email, report/);
    assert.equal(rows[1]!.querySelector("form"), null, "the current version has no Promote button");

    const forged = await browser.request("POST", `${base}/deployments/2.0.0/promote`, { _csrf: "forged" });
    assert.equal(forged.statusCode, 403);
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, "1.0.0", "a forged form changes nothing");
    const promoted = await browser.submit(`${base}/deployments`, `${base}/deployments/2.0.0/promote`);
    assert.equal(promoted.statusCode, 303);
    assert.equal((await api.ok("GET", "/api/v1/deployments/current")).version, "2.0.0");
  });
});

describe("per-account sign-in lockout", () => {
  const clock = new ManualClock(new Date());
  let t: TestApp;
  /** A second server on the same database, as another replica would be. */
  let replica: Awaited<ReturnType<typeof buildApp>>;
  let visits = 0;

  before(async () => {
    t = await createTestApp({ clock });
    await signedInAdmin(t.app, t.database.db);
    replica = await buildApp({ config: t.config, db: t.database.db, clock, sweeper: false });
    await replica.ready();
  });
  after(async () => {
    await replica.close();
    await t.close();
  });

  /** One attempt, each from a new client address (as a spread-out guesser would): the per-address limit never applies. */
  const attempt = async (email: string, password: string, app = t.app) => {
    visits += 1;
    const visitor = new Browser(app, `10.9.${Math.floor(visits / 250)}.${visits % 250}`);
    const { csrf } = await visitor.page("/login");
    const response = await visitor.request("POST", "/login", { _csrf: csrf, email, password });
    return { status: response.statusCode, body: response.body, signedIn: visitor.cookies.has("ratchet_session") };
  };
  const errorOf = (body: string) => /<p class="error" role="alert">([^<]*)<\/p>/.exec(body)?.[1];

  test("after repeated failures the account is refused even the right password, until the lock ends; then it is accepted", async () => {
    for (let failure = 0; failure < signInLockout.attempts; failure += 1) {
      assert.equal((await attempt("admin@example.com", "wrong password")).status, 401, `failure ${failure + 1}`);
    }
    const locked = await attempt("Admin@Example.com", "correct horse battery");
    assert.equal(locked.status, 429);
    assert.equal(locked.signedIn, false, "no session while locked");
    assert.equal(errorOf(locked.body), "Too many failed sign-ins for this email address. Try again in 1 minute.");
    const elsewhere = await attempt("admin@example.com", "correct horse battery", replica);
    assert.equal(elsewhere.status, 429, "the lock is in Postgres: another replica refuses too");

    clock.advance(signInLockout.firstLockMs - 1000);
    const almost = await attempt("admin@example.com", "correct horse battery");
    assert.equal(almost.status, 429);
    assert.equal(errorOf(almost.body), "Too many failed sign-ins for this email address. Try again in 1 second.");
    clock.advance(1000);
    const accepted = await attempt("admin@example.com", "correct horse battery");
    assert.equal(accepted.status, 303);
    assert.equal(accepted.signedIn, true);
  });

  test("each further lockout lasts longer; a successful sign-in forgets them", async () => {
    const lockOut = async () => {
      for (let failure = 0; failure < signInLockout.attempts; failure += 1) await attempt("admin@example.com", "wrong password");
    };
    await lockOut();
    clock.advance(signInLockout.firstLockMs);
    await lockOut();
    clock.advance(signInLockout.firstLockMs);
    const second = await attempt("admin@example.com", "correct horse battery");
    assert.equal(second.status, 429, "the second lockout lasts twice as long");
    assert.equal(errorOf(second.body), "Too many failed sign-ins for this email address. Try again in 1 minute.");
    clock.advance(signInLockout.firstLockMs);
    assert.equal((await attempt("admin@example.com", "correct horse battery")).status, 303);
    // Forgotten: the next lockout is the first one again.
    await lockOut();
    clock.advance(signInLockout.firstLockMs);
    assert.equal((await attempt("admin@example.com", "correct horse battery")).status, 303);
  });

  test("failures spread out over more than the window do not lock", async () => {
    for (let failure = 0; failure < signInLockout.attempts * 2; failure += 1) {
      assert.equal((await attempt("admin@example.com", "wrong password")).status, 401);
      clock.advance(signInLockout.windowMs / (signInLockout.attempts - 1));
    }
    assert.equal((await attempt("admin@example.com", "correct horse battery")).status, 303);
  });

  test("an address without an account is locked the same way, with the same answer", async () => {
    for (let failure = 0; failure < signInLockout.attempts; failure += 1) {
      const wrong = await attempt("nobody@example.com", "wrong password");
      assert.equal(wrong.status, 401);
      assert.equal(errorOf(wrong.body), "Wrong email or password.");
    }
    const locked = await attempt("nobody@example.com", "anything at all");
    assert.equal(locked.status, 429);
    assert.equal(errorOf(locked.body), "Too many failed sign-ins for this email address. Try again in 1 minute.");
    assert.equal((await attempt("admin@example.com", "correct horse battery")).status, 303, "other accounts are not affected");
    clock.advance(signInLockout.firstLockMs);
  });

  test("parallel guesses cannot slip past the limit while passwords are checked", async () => {
    const results = await Promise.all(Array.from({ length: signInLockout.attempts * 3 }, () => attempt("admin@example.com", "wrong password")));
    assert.equal(results.filter((result) => result.status === 401).length, signInLockout.attempts);
    assert.equal(results.filter((result) => result.status === 429).length, signInLockout.attempts * 2);
    clock.advance(signInLockout.firstLockMs);
    assert.equal((await attempt("admin@example.com", "correct horse battery")).status, 303);
  });

  test("only a hash of the addresses typed is stored", async () => {
    await attempt("typed-password-here", "wrong password");
    const rows = await t.database.db.sql`select * from ratchet.sign_in_throttle`;
    assert.ok(rows.length > 0);
    assert.ok(!JSON.stringify(rows).includes("typed-password-here"));
    const nul = await attempt("admin\u0000@example.com", "wrong password");
    assert.equal(nul.status, 400, "an address Postgres cannot hold is refused before sign-in runs");
  });
});
