// Personal access tokens and the management routes the CLI uses: each user sees and changes only
// the projects of their own organizations, members handle keys except prod's without prod access and
// cannot create projects, revoked tokens and secret keys are refused; the dashboard's Access tokens page creates a token once and revokes it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { issueAccessToken } from "../server/auth/access-tokens.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { usersInsertAdmin } from "../server/storage/users.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { signedInAdmin } from "./helpers/dashboard.ts";

describe("personal access tokens and the management routes", () => {
  let t: TestApp;
  let admin: string;
  let member: string;
  let stranger: string;
  let strangerRef: string;

  const call = async (token: string, method: "GET" | "POST" | "DELETE", url: string, body?: unknown) => {
    const response = await t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> & { data?: Array<Record<string, unknown>> } };
  };

  before(async () => {
    t = await createTestApp();
    const sql = t.database.db.sql;
    const adminId = await sql.begin((tx) => usersInsertAdmin(tx, { email: "admin@example.com", name: "Admin", passwordHash: "unused" }));
    admin = (await issueAccessToken(sql, { userId: adminId, name: "cli" })).token;
    // A member (not admin) of the same organization.
    const [memberRow] = await sql<{ id: string }[]>`insert into ratchet.users (email, password_hash) values ('member@example.com', 'unused') returning id`;
    await sql`insert into ratchet.organization_members (organization_id, user_id, role) select id, ${memberRow!.id}, 'member' from ratchet.organizations`;
    // Members see the projects they were added to (docs/teams.md).
    await sql`insert into ratchet.project_members (project_id, user_id, prod_access) values (${t.project.id}, ${memberRow!.id}, false)`;
    member = (await issueAccessToken(sql, { userId: memberRow!.id, name: "cli" })).token;
    // Another organization with a project and a user of its own.
    const [organization] = await sql<{ id: string }[]>`insert into ratchet.organizations (slug, name) values ('other', 'Other') returning id`;
    strangerRef = "proj_strangerstrangerstra";
    const [project] = await sql<{ id: string }[]>`
      insert into ratchet.projects (organization_id, ref, slug, name) values (${organization!.id}, ${strangerRef}, 'other', 'Other') returning id`;
    await sql`insert into ratchet.environments (project_id, type, slug) values (${project!.id}, 'dev', 'dev')`;
    const [strangerRow] = await sql<{ id: string }[]>`insert into ratchet.users (email, password_hash) values ('stranger@example.com', 'unused') returning id`;
    await sql`insert into ratchet.organization_members (organization_id, user_id, role) values (${organization!.id}, ${strangerRow!.id}, 'admin')`;
    stranger = (await issueAccessToken(sql, { userId: strangerRow!.id, name: "cli" })).token;
  });
  after(() => t.close());

  test("me and projects show the token's user and only the projects they may see", async () => {
    const me = await call(admin, "GET", "/api/v1/me");
    assert.equal(me.status, 200);
    assert.equal((me.body.user as { email: string }).email, "admin@example.com");
    const projects = await call(admin, "GET", "/api/v1/projects");
    assert.deepEqual(projects.body.data!.map((project) => project.ref), [t.project.ref]);
    assert.deepEqual(projects.body.data![0]!.environments, ["dev", "staging", "prod", "preview"]);
    const theirs = await call(stranger, "GET", "/api/v1/projects");
    assert.deepEqual(theirs.body.data!.map((project) => project.ref), [strangerRef]);
  });

  test("an admin creates, lists and revokes keys; the key works until revoked", async () => {
    const base = `/api/v1/projects/${t.project.ref}/environments/dev/keys`;
    const created = await call(admin, "POST", base, { name: "laptop" });
    assert.equal(created.status, 201);
    const key = created.body.key as string;
    assert.match(key, /^tr_dev_/);
    const whoami = await t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${key}` } });
    assert.equal(whoami.statusCode, 200);
    const listed = await call(admin, "GET", base);
    const item = listed.body.data!.find((row) => row.id === created.body.id)!;
    assert.equal(item.name, "laptop");
    assert.equal(item.revokedAt, null);
    assert.ok(!JSON.stringify(listed.body).includes(key), "a list never holds a key");
    assert.equal((await call(admin, "DELETE", `${base}/${created.body.id as string}`)).status, 200);
    assert.equal((await t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${key}` } })).statusCode, 401);
    assert.equal((await call(admin, "DELETE", `${base}/${created.body.id as string}`)).status, 404, "already revoked");
  });

  test("another organization's user can neither list, create nor revoke the project's keys", async () => {
    const ownKey = await issueSecretKey(t.database.db.sql, { environment: "prod", projectRef: t.project.ref });
    const base = `/api/v1/projects/${t.project.ref}/environments/prod/keys`;
    for (const [method, url, body] of [
      ["GET", base, undefined],
      ["POST", base, { name: "intruder" }],
      ["DELETE", `${base}/${ownKey.publicId}`, undefined],
    ] as const) {
      const response = await call(stranger, method, url, body);
      assert.equal(response.status, 404, `${method} ${url}: ${JSON.stringify(response.body)}`);
      assert.ok(!JSON.stringify(response.body).includes(ownKey.publicId));
    }
    const whoami = await t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${ownKey.key}` } });
    assert.equal(whoami.statusCode, 200, "the key was not revoked");
  });

  // One rule with the dashboard (dashboard/permissions.ts): a member handles the keys of the
  // environments of their projects, except prod's without prod access.
  test("a member makes and revokes staging keys, but neither sees nor makes prod's without prod access", async () => {
    const base = `/api/v1/projects/${t.project.ref}/environments/staging/keys`;
    const created = await call(member, "POST", base, { name: "member's" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call(member, "GET", base)).status, 200);
    assert.equal((await call(member, "DELETE", `${base}/${created.body.id as string}`)).status, 200);

    const prodKey = await issueSecretKey(t.database.db.sql, { environment: "prod", projectRef: t.project.ref });
    const prod = `/api/v1/projects/${t.project.ref}/environments/prod/keys`;
    for (const [method, url, body] of [
      ["GET", prod, undefined],
      ["POST", prod, {}],
      ["DELETE", `${prod}/${prodKey.publicId}`, undefined],
    ] as const) {
      const response = await call(member, method, url, body);
      assert.equal(response.status, 403, `${method} ${url}`);
      assert.ok(!JSON.stringify(response.body).includes(prodKey.publicId));
    }
    assert.equal((await t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${prodKey.key}` } })).statusCode, 200);

    // Given prod access, the same member may.
    await t.database.db.sql`update ratchet.project_members set prod_access = true where project_id = ${t.project.id}`;
    try {
      assert.equal((await call(member, "GET", prod)).status, 200);
    } finally {
      await t.database.db.sql`update ratchet.project_members set prod_access = false where project_id = ${t.project.id}`;
    }
  });

  test("an admin creates a project over the API: four environments, a working dev key, listed afterwards", async () => {
    const created = await call(admin, "POST", "/api/v1/projects", { name: "Billing" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ref = created.body.ref as string;
    assert.match(ref, /^proj_[a-z]{20}$/);
    assert.deepEqual(created.body.environments, ["dev", "staging", "prod", "preview"]);
    const whoami = await t.app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${created.body.devKey as string}` } });
    assert.equal(whoami.statusCode, 200);
    assert.equal((whoami.json() as { project: { ref: string } }).project.ref, ref);
    const listed = await call(admin, "GET", "/api/v1/projects");
    assert.ok(listed.body.data!.some((project) => project.ref === ref && project.name === "Billing"));
    // The member was given no part of it, so does not see it.
    const theirs = await call(member, "GET", "/api/v1/projects");
    assert.ok(!theirs.body.data!.some((project) => project.ref === ref));
  });

  test("project creation: members are refused, another organization's slug is 404, bad input names the field", async () => {
    const [victim] = await t.database.db.sql<{ slug: string }[]>`select o.slug from ratchet.organizations o join ratchet.projects p on p.organization_id = o.id where p.ref = ${t.project.ref}`;
    const before = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.projects`;
    const forbidden = await call(member, "POST", "/api/v1/projects", { name: "Sneaky" });
    assert.equal(forbidden.status, 403);
    // The stranger (admin of their own organization) names the victim's organization.
    const intruder = await call(stranger, "POST", "/api/v1/projects", { name: "Intruder", organization: victim!.slug });
    assert.equal(intruder.status, 404, JSON.stringify(intruder.body));
    assert.ok(!JSON.stringify(intruder.body).includes(t.project.ref));
    const after = await t.database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.projects`;
    assert.equal(after[0]!.count, before[0]!.count, "nothing was created");

    for (const [body, field] of [
      [{}, /name/],
      [{ name: "" }, /name/],
      [{ name: "x".repeat(201) }, /name/],
      [{ name: "   " }, /name/],
      [{ name: "ok", organization: 7 }, /organization/],
    ] as const) {
      const response = await call(admin, "POST", "/api/v1/projects", body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.body.error as string, field);
    }
    const secretKey = await t.key("dev");
    assert.equal((await call(secretKey, "POST", "/api/v1/projects", { name: "by key" })).status, 401, "a secret key cannot create projects");
  });

  test("bad input is a 400 naming the field; tokens that are revoked, malformed or secret keys are 401", async () => {
    const badEnv = await call(admin, "GET", `/api/v1/projects/${t.project.ref}/environments/production/keys`);
    assert.equal(badEnv.status, 400);
    assert.match(badEnv.body.error as string, /env/);
    const badName = await call(admin, "POST", `/api/v1/projects/${t.project.ref}/environments/dev/keys`, { name: "x".repeat(201) });
    assert.equal(badName.status, 400);
    assert.match(badName.body.error as string, /name/);

    const secretKey = await t.key("dev");
    assert.equal((await call(secretKey, "GET", "/api/v1/me")).status, 401, "a secret key is not a personal token");
    assert.equal((await call(admin, "GET", "/api/v1/whoami")).status, 401, "a personal token is not a secret key");
    assert.equal((await call(`tr_pat_${"q".repeat(40)}`, "GET", "/api/v1/me")).status, 401);
    assert.equal((await call("nonsense", "GET", "/api/v1/me")).status, 401);
    const missing = await t.app.inject({ method: "GET", url: "/api/v1/me" });
    assert.equal(missing.statusCode, 401);
  });
});

describe("the dashboard's Access tokens page", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(() => t.close());

  test("creates a token shown once, lists it and revokes it; the form needs the CSRF token", async () => {
    const browser = await signedInAdmin(t.app, t.database.db);
    const forged = await browser.request("POST", "/account/tokens", { name: "forged" });
    assert.equal(forged.statusCode, 403, "no CSRF token, no token");

    const created = await browser.submit("/account/tokens", "/account/tokens", { name: "laptop" });
    assert.equal(created.statusCode, 200);
    const token = /tr_pat_[A-Za-z0-9]{40}/.exec(created.body)?.[0];
    assert.ok(token, "the new token is on the page once");
    const me = await t.app.inject({ method: "GET", url: "/api/v1/me", headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.statusCode, 200);

    const { document, response } = await browser.page("/account/tokens");
    assert.ok(!response.body.includes(token!), "never shown again");
    const row = document.querySelector("tr[data-token]");
    assert.match(row?.textContent ?? "", /laptop[\s\S]*active/);
    const id = row!.getAttribute("data-token")!;
    const revoked = await browser.submit("/account/tokens", `/account/tokens/${id}/revoke`);
    assert.equal(revoked.statusCode, 303);
    const after = await t.app.inject({ method: "GET", url: "/api/v1/me", headers: { authorization: `Bearer ${token}` } });
    assert.equal(after.statusCode, 401);

    const anonymous = await t.app.inject({ method: "GET", url: "/account/tokens" });
    assert.equal(anonymous.statusCode, 302);
  });
});
