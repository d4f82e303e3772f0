// Small teams: an admin creates projects and invites two members by link (and by email), each given
// one project. Each member sees only their own project — every dashboard route the app registers is
// walked as the other member — members without prod access see no prod keys or variables, a removed
// member's sessions end at once, passwords change and reset (by email, and by a CLI link when there
// is no SMTP), and `ratchet projects create` makes a project with its environments.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { SMTPServer } from "smtp-server";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { hashSecretKey } from "../server/auth/secret-keys.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";
import { runCli } from "./helpers/server-process.ts";

interface Project {
  ref: string;
  name: string;
  /** A run of its prod environment, with a payload only its people may see. */
  runId: string;
  devKey: string;
}

/** Emails the local SMTP server received, awaited in order. */
class Mailbox {
  readonly #mails: string[] = [];
  readonly #waiters: Array<(mail: string) => void> = [];
  push(mail: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(mail);
    else this.#mails.push(mail);
  }
  next(): Promise<string> {
    const mail = this.#mails.shift();
    return mail !== undefined ? Promise.resolve(mail) : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

const linkIn = (text: string, path: string) => {
  const match = new RegExp(`https?://[^\\s"<]+${path}\\?token=[A-Za-z0-9_-]+`).exec(text);
  assert.ok(match, `a ${path} link in:\n${text.slice(0, 2000)}`);
  return new URL(match[0]);
};

async function signIn(browser: Browser, email: string, password: string) {
  const { csrf } = await browser.page("/login");
  return browser.request("POST", "/login", { _csrf: csrf, email, password });
}

describe("members and projects", () => {
  let t: TestApp;
  let smtp: SMTPServer;
  const mailbox = new Mailbox();
  let admin: Browser;
  let alpha: Project;
  let beta: Project;
  let ada: Browser;
  let bob: Browser;
  let adaId: string;

  const createProject = async (name: string): Promise<Project> => {
    const created = await admin.submit("/settings/projects", "/settings/projects", { name });
    assert.equal(created.statusCode, 200, created.body);
    const ref = /proj_[a-z]{20}/.exec(created.body)![0];
    const devKey = /tr_dev_[A-Za-z0-9]{24}/.exec(created.body)![0];
    const prod = new ApiClient(t.app, (await issueSecretKey(t.database.db.sql, { environment: "prod", projectRef: ref })).key);
    await prod.register([{ id: "secret-work" }]);
    const run = await prod.trigger("secret-work", { marker: `${name} private payload` });
    return { ref, name, runId: run.id, devKey };
  };

  const invite = async (fields: Record<string, string | string[]>): Promise<URL> => {
    const { csrf } = await admin.page("/settings/members");
    const body = new URLSearchParams({ _csrf: csrf });
    for (const [name, value] of Object.entries(fields)) for (const item of [value].flat()) body.append(name, item);
    const response = await admin.app.inject({
      method: "POST",
      url: "/settings/members/invite",
      remoteAddress: admin.remoteAddress,
      headers: { cookie: [...admin.cookies].map(([name, value]) => `${name}=${value}`).join("; "), "content-type": "application/x-www-form-urlencoded" },
      payload: body.toString(),
    });
    assert.equal(response.statusCode, 200, response.body);
    return linkIn(response.body, "/invite");
  };

  const accept = async (link: URL, account: { name: string; email: string; password: string }, address: string) => {
    const browser = new Browser(t.app, address);
    const path = `${link.pathname}${link.search}`;
    const { csrf, response } = await browser.page(path);
    assert.equal(response.statusCode, 200, response.body);
    const joined = await browser.request("POST", "/invite", { _csrf: csrf, token: link.searchParams.get("token")!, ...account });
    assert.equal(joined.statusCode, 303, joined.body);
    return browser;
  };

  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData(stream, _session, callback) {
        let raw = "";
        stream.on("data", (chunk: Buffer) => (raw += chunk.toString()));
        stream.on("end", () => {
          mailbox.push(raw.replace(/=\r\n/g, "").replace(/=3D/g, "="));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
    t = await createTestApp({ env: { RATCHET_SMTP_URL: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}` } });
    admin = await signedInAdmin(t.app, t.database.db);
    alpha = await createProject("Alpha");
    beta = await createProject("Beta");
    // Ada: a member of Alpha without prod access, invited by a link the admin passes on.
    ada = await accept(await invite({ role: "member", projects: alpha.ref }), { name: "Ada", email: "ada@example.com", password: "ada's long password" }, "10.1.0.1");
    // Bob: a member of Beta with prod access, invited by email.
    await invite({ role: "member", projects: beta.ref, prodAccess: "on", email: "bob@example.com" });
    const mail = await mailbox.next();
    assert.match(mail, /To: bob@example\.com/);
    bob = await accept(linkIn(mail, "/invite"), { name: "Bob", email: "bob@example.com", password: "bob's long password" }, "10.1.0.2");
    const [row] = await t.database.db.sql<{ id: string }[]>`select id from ratchet.users where email = 'ada@example.com'`;
    adaId = row!.id;
  });
  after(async () => {
    await t.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  test("each member's dashboard lists only their own project", async () => {
    for (const [browser, own, other] of [[ada, alpha, beta], [bob, beta, alpha]] as const) {
      const projects = await browser.page("/settings/projects");
      assert.ok(projects.response.body.includes(own.ref));
      assert.ok(!projects.response.body.includes(other.ref) && !projects.response.body.includes(other.name));
      const home = await browser.request("GET", "/");
      assert.equal(home.headers.location, `/p/${own.ref}/dev/runs`);
      const runs = await browser.page(`/p/${own.ref}/prod/runs`);
      assert.equal(runs.response.statusCode, 200);
      const options = [...runs.document.querySelectorAll("#env-switch option")].map((option) => option.getAttribute("value"));
      assert.deepEqual(options, ["dev", "staging", "prod", "preview"].map((env) => `${own.ref}/${env}`));
      assert.ok(!runs.response.body.includes(other.ref));
      // The environments overview lists their own project's four environments and nothing of the other's.
      const overview = await browser.page("/environments");
      assert.equal(overview.response.statusCode, 200);
      assert.deepEqual([...overview.document.querySelectorAll("table.environments tbody th a")].map((link) => link.getAttribute("href")), ["dev", "staging", "prod", "preview"].map((env) => `/p/${own.ref}/${env}/overview`));
      assert.ok(!overview.response.body.includes(other.ref) && !overview.response.body.includes(other.name));
    }
    // The admin sees every project of the organization.
    const all = (await admin.page("/settings/projects")).response.body;
    assert.ok(all.includes(alpha.ref) && all.includes(beta.ref));
  });

  test("no dashboard route shows or changes the other member's project", async () => {
    const sql = t.database.db.sql;
    const state = async () => JSON.stringify(await sql`
      select (select jsonb_agg(to_jsonb(r) order by r.id) from ratchet.runs r) as runs,
        (select jsonb_agg(to_jsonb(k) order by k.id) from ratchet.api_keys k) as keys,
        (select jsonb_agg(to_jsonb(v) order by v.environment_id, v.name) from ratchet.environment_variables v) as variables,
        (select jsonb_agg(to_jsonb(c) order by c.id) from ratchet.alert_channels c) as channels,
        (select jsonb_agg(to_jsonb(m) order by m.user_id) from ratchet.organization_members m) as members,
        (select jsonb_agg(to_jsonb(p) order by p.id) from ratchet.projects p) as projects,
        (select count(*) from ratchet.invitations) as invitations`);
    // Things of each project for the intruder to aim at.
    for (const project of [alpha, beta]) {
      const key = new ApiClient(t.app, project.devKey);
      await key.ok("POST", `/api/v1/projects/${project.ref}/envvars/dev`, { name: "PRIVATE", value: `${project.name} private value` });
    }
    // The keys' use is recorded after the response (server/auth/authenticate.ts): the snapshot waits
    // for it, so that only what the intruder does can change the state.
    for (const project of [alpha, beta]) {
      for (let tries = 0; ; tries += 1) {
        const [row] = await sql<{ used: boolean }[]>`
          select k.last_used_at is not null as used from ratchet.api_keys k where k.key_hash = ${hashSecretKey(project.devKey)}`;
        if (row?.used) break;
        assert.ok(tries < 200, `${project.name}'s dev key was never marked used`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    const routes = t.app.ratchetRoutes.filter((route) => !/^\/(api|engine|static)\//.test(route.url) && route.method !== "HEAD");
    assert.ok(routes.length > 30, `${routes.length} dashboard routes`);
    const before = await state();
    const failures: string[] = [];
    let checked = 0;
    for (const [who, browser, victim, victimUser, victimEmail] of [["Bob", bob, alpha, adaId, "ada@example.com"], ["Ada", ada, beta, null, "bob@example.com"]] as const) {
      const { csrf } = await browser.page("/settings/password");
      for (const route of routes) {
        const url = route.url
          .replace(":ref", victim.ref)
          .replace(":runId", victim.runId)
          .replace(":name", "PRIVATE")
          .replace(":userId", victimUser ?? "00000000-0000-0000-0000-000000000000")
          .replace(":tokenId", "wp_x")
          .replace(":queue", encodeURIComponent("task/secret-work"))
          .replace(":action", "pause")
          .replace(":keyId", "key_x")
          .replace(":channelId", "00000000-0000-0000-0000-000000000000")
          .replace(":file", "app.css");
        // Pages of a project's environment: every environment of the victim's project.
        const urls = url.includes(":env") ? ["dev", "staging", "prod", "preview"].map((env) => url.replace(":env", env)) : [url];
        for (const target of urls) {
          if (!target.startsWith("/p/") && !target.startsWith("/settings/")) continue;
          const form = { _csrf: csrf, name: "Intruder", value: "x", dotenv: "X=1", type: "slack", url: "http://127.0.0.1:9/x", role: "admin", projects: victim.ref, email: "x@example.com", limit: "1", data: "{}" };
          const response = route.method === "POST" ? await browser.request("POST", target, form) : await browser.request("GET", target);
          const label = `${who} ${route.method} ${target} → ${response.statusCode}`;
          const own = target === "/settings/password" || target === "/settings/projects";
          if (!own && !(response.statusCode === 403 || response.statusCode === 404)) failures.push(label);
          if (own && route.method === "POST" && target === "/settings/projects" && response.statusCode !== 403) failures.push(`${label}: a member created a project`);
          for (const secret of [victim.ref, `${victim.name} private`, "PRIVATE", victimEmail]) {
            if (response.body.includes(secret)) failures.push(`${label}: shows ${secret}`);
          }
          checked += 1;
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(checked > 60, `${checked} requests`);
    assert.equal(await state(), before, "nothing changed");
  });

  test("no API or worker route, called with keys a member made, reads or changes the other member's project", async () => {
    const sql = t.database.db.sql;
    const [victimEnvironment] = await sql<{ id: string }[]>`
      select e.id from ratchet.environments e join ratchet.projects p on p.id = e.project_id where p.ref = ${alpha.ref} and e.type = 'prod'`;
    const victimState = async () => JSON.stringify(await sql`
      select (select jsonb_agg(to_jsonb(r) order by r.id) from ratchet.runs r where r.environment_id = ${victimEnvironment!.id}) as runs,
        (select jsonb_agg(to_jsonb(v) order by v.name) from ratchet.environment_variables v join ratchet.environments e on e.id = v.environment_id
          join ratchet.projects p on p.id = e.project_id where p.ref = ${alpha.ref}) as variables`);
    // Bob makes keys of his own project on its keys pages, as any member may.
    const keys: string[] = [];
    for (const env of ["dev", "prod"]) {
      const page = await bob.submit(`/p/${beta.ref}/${env}/keys`, `/p/${beta.ref}/${env}/keys`, { name: `bob's ${env}` });
      keys.push(/tr_(dev|prod)_[A-Za-z0-9]{24}/.exec(page.body)![0]);
    }
    const before = await victimState();
    const routes = t.app.ratchetRoutes.filter((route) => /^\/(api|engine)\//.test(route.url) && route.method !== "HEAD");
    const leaks: string[] = [];
    for (const key of keys) {
      const client = new ApiClient(t.app, key);
      for (const route of routes) {
        const url = route.url
          .replace(":projectRef", alpha.ref)
          .replace(":slug", key.startsWith("tr_dev") ? "dev" : "prod")
          .replace(":name", "PRIVATE")
          .replace(":runId", alpha.runId)
          .replace(/:[A-Za-z]+/g, "x");
        const response = await client.request(route.method as "GET", url, route.method === "GET" || route.method === "DELETE" ? undefined : { workerId: "w", value: "stolen", name: "STOLEN", variables: { PRIVATE: "stolen" }, override: true });
        const text = JSON.stringify(response.body ?? "");
        if (text.includes("Alpha private")) leaks.push(`${route.method} ${url} → ${response.status}: ${text.slice(0, 200)}`);
        if (url.includes(alpha.ref) || url.includes(alpha.runId)) {
          if (response.status < 400 || response.status >= 500) leaks.push(`${route.method} ${url} → ${response.status}`);
        }
      }
    }
    assert.deepEqual(leaks, []);
    assert.equal(await victimState(), before);
  });

  test("members see and make prod keys and variables only with prod access", async () => {
    const adaProd = await ada.page(`/p/${alpha.ref}/prod/runs`);
    const sections = [...adaProd.document.querySelectorAll('nav[aria-label="Sections"] a')].map((link) => link.textContent);
    assert.ok(!sections.includes("API keys") && !sections.includes("Variables"), sections.join(", "));
    const adaKeys = await ada.request("GET", `/p/${alpha.ref}/prod/keys`);
    assert.equal(adaKeys.statusCode, 403, adaKeys.body.slice(0, 300));
    assert.equal((await ada.submit(`/p/${alpha.ref}/prod/runs`, `/p/${alpha.ref}/prod/keys`, { name: "mine" })).statusCode, 403);
    assert.equal((await ada.request("GET", `/p/${alpha.ref}/prod/envvars`)).statusCode, 403);
    // Outside prod a member works with keys and variables.
    const staging = await ada.submit(`/p/${alpha.ref}/staging/keys`, `/p/${alpha.ref}/staging/keys`, { name: "ada's" });
    assert.equal(staging.statusCode, 200);
    assert.match(staging.body, /tr_stg_[A-Za-z0-9]{24}/);
    assert.equal((await ada.page(`/p/${alpha.ref}/staging/envvars`)).response.statusCode, 200);
    // Bob was given prod access.
    const bobKeys = await bob.submit(`/p/${beta.ref}/prod/keys`, `/p/${beta.ref}/prod/keys`, { name: "bob's" });
    assert.equal(bobKeys.statusCode, 200);
    assert.match(bobKeys.body, /tr_prod_[A-Za-z0-9]{24}/);
    // Member management is for admins.
    assert.equal((await bob.request("GET", "/settings/members")).statusCode, 403);
  });

  test("a password change ends the other sessions; a reset link by email sets a new one", async () => {
    const elsewhere = new Browser(t.app, "10.1.0.3");
    assert.equal((await signIn(elsewhere, "bob@example.com", "bob's long password")).statusCode, 303);
    const wrong = await bob.submit("/settings/password", "/settings/password", { current: "not it at all", password: "bob's newer password" });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.body, /current password is wrong/);
    const short = await bob.submit("/settings/password", "/settings/password", { current: "bob's long password", password: "short" });
    assert.equal(short.statusCode, 400);
    const changed = await bob.submit("/settings/password", "/settings/password", { current: "bob's long password", password: "bob's newer password" });
    assert.equal(changed.statusCode, 200);
    assert.equal((await bob.request("GET", `/p/${beta.ref}/dev/runs`)).statusCode, 200, "this session goes on");
    assert.equal((await elsewhere.request("GET", `/p/${beta.ref}/dev/runs`)).statusCode, 302, "the other one ended");
    assert.equal((await signIn(new Browser(t.app, "10.1.0.4"), "bob@example.com", "bob's newer password")).statusCode, 303);

    const forgot = await new Browser(t.app, "10.1.0.5").submit("/forgot", "/forgot", { email: "bob@example.com" });
    assert.match(forgot.body, /reset link is on its way/);
    const link = linkIn(await mailbox.next(), "/reset");
    const visitor = new Browser(t.app, "10.1.0.6");
    const { csrf } = await visitor.page(`${link.pathname}${link.search}`);
    const reset = await visitor.request("POST", "/reset", { _csrf: csrf, token: link.searchParams.get("token")!, password: "bob's reset password" });
    assert.equal(reset.statusCode, 303);
    assert.equal((await bob.request("GET", `/p/${beta.ref}/dev/runs`)).statusCode, 302, "a reset ends every session");
    const reused = await visitor.request("POST", "/reset", { _csrf: csrf, token: link.searchParams.get("token")!, password: "another password!" });
    assert.equal(reused.statusCode, 404, "a reset link works once");
    bob = new Browser(t.app, "10.1.0.7");
    assert.equal((await signIn(bob, "bob@example.com", "bob's reset password")).statusCode, 303);
  });

  test("without SMTP an admin prints a reset link with the CLI", async () => {
    const cli = await runCli(["admin", "users", "reset-password", "ada@example.com"], { DATABASE_URL: t.database.url });
    assert.equal(cli.code, 0, cli.stderr);
    const link = linkIn(cli.stdout, "/reset");
    const visitor = new Browser(t.app, "10.1.0.8");
    const { csrf } = await visitor.page(`${link.pathname}${link.search}`);
    assert.equal((await visitor.request("POST", "/reset", { _csrf: csrf, token: link.searchParams.get("token")!, password: "ada's reset password" })).statusCode, 303);
    ada = new Browser(t.app, "10.1.0.9");
    assert.equal((await signIn(ada, "ada@example.com", "ada's reset password")).statusCode, 303);
    const nobody = await runCli(["admin", "users", "reset-password", "nobody@example.com"], { DATABASE_URL: t.database.url });
    assert.equal(nobody.code, 1);
  });

  test("ratchet projects create makes a project with its four environments and a dev key", async () => {
    const cli = await runCli(["admin", "projects", "create", "--name", "From the shell"], { DATABASE_URL: t.database.url });
    assert.equal(cli.code, 0, cli.stderr);
    const ref = cli.stdout.trim();
    assert.match(ref, /^proj_[a-z]{20}$/);
    const environments = await t.database.db.sql<{ type: string }[]>`
      select e.type from ratchet.environments e join ratchet.projects p on p.id = e.project_id where p.ref = ${ref} order by e.type`;
    assert.deepEqual(environments.map((row) => row.type), ["dev", "preview", "prod", "staging"]);
    const devKey = /tr_dev_[A-Za-z0-9]{24}/.exec(cli.stderr)?.[0];
    assert.ok(devKey);
    assert.equal((await new ApiClient(t.app, devKey).ok("GET", "/api/v1/whoami")).project.ref, ref);
    assert.equal((await runCli(["admin", "projects", "create"], { DATABASE_URL: t.database.url })).code, 2);
  });

  test("an admin changes a member's projects and prod access in place; it applies to their next request", async () => {
    const [bobRow] = await t.database.db.sql<{ id: string }[]>`select id from ratchet.users where email = 'bob@example.com'`;
    assert.equal((await bob.request("GET", `/p/${alpha.ref}/dev/runs`)).statusCode, 404);
    const moved = await admin.submit("/settings/members", `/settings/members/${bobRow!.id}`, { role: "member", projects: alpha.ref });
    assert.equal(moved.statusCode, 303);
    assert.equal((await bob.request("GET", `/p/${alpha.ref}/dev/runs`)).statusCode, 200, "Bob now sees Alpha");
    assert.equal((await bob.request("GET", `/p/${beta.ref}/dev/runs`)).statusCode, 404, "and no longer Beta");
    assert.equal((await bob.request("GET", `/p/${alpha.ref}/prod/keys`)).statusCode, 403, "without prod access");
    const none = await admin.submit("/settings/members", `/settings/members/${bobRow!.id}`, { role: "member" });
    assert.equal(none.statusCode, 400);
    assert.match(none.body, /at least one project/);
    await admin.submit("/settings/members", `/settings/members/${bobRow!.id}`, { role: "member", projects: beta.ref, prodAccess: "on" });
    assert.equal((await bob.request("GET", `/p/${beta.ref}/prod/keys`)).statusCode, 200);
  });

  test("a removed member's sessions end at once and the account is gone", async () => {
    assert.equal((await ada.request("GET", `/p/${alpha.ref}/dev/runs`)).statusCode, 200);
    const removed = await admin.submit("/settings/members", `/settings/members/${adaId}/remove`);
    assert.equal(removed.statusCode, 303);
    const after = await ada.request("GET", `/p/${alpha.ref}/dev/runs`);
    assert.equal(after.statusCode, 302);
    assert.match(String(after.headers.location), /^\/login/);
    assert.equal((await signIn(new Browser(t.app, "10.1.0.10"), "ada@example.com", "ada's reset password")).statusCode, 401);
    const members = (await admin.page("/settings/members")).response.body;
    assert.ok(!members.includes("ada@example.com"));
    // The last admin stays.
    const [me] = await t.database.db.sql<{ id: string }[]>`select id from ratchet.users where email = 'admin@example.com'`;
    const last = await admin.submit("/settings/members", `/settings/members/${me!.id}/remove`);
    assert.equal(last.statusCode, 409);
  });

  test("an invitation works once, and bad input shows on the page", async () => {
    const link = await invite({ role: "member", projects: beta.ref });
    const refused = await admin.submit("/settings/members", "/settings/members/invite", { role: "member" });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /at least one project/);
    const first = await accept(link, { name: "Cy", email: "cy@example.com", password: "cy's long password" }, "10.1.0.11");
    assert.equal((await first.request("GET", `/p/${beta.ref}/dev/runs`)).statusCode, 200);
    const again = new Browser(t.app, "10.1.0.12");
    assert.equal((await again.request("GET", `${link.pathname}${link.search}`)).statusCode, 404);
    const taken = await accept(await invite({ role: "member", projects: beta.ref }), { name: "Cy", email: "cy@example.com", password: "cy's long password" }, "10.1.0.13").catch((error: Error) => error);
    assert.ok(taken instanceof Error && /already an account/.test(taken.message), String(taken));
  });
});
