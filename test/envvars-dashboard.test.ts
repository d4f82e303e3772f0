// The environment variables page: a pasted .env file, values hidden until revealed, secrets never
// shown again, CSRF tokens on every form.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import type { Browser} from "./helpers/dashboard.ts";
import { signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("the environment variables page", () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let api: ApiClient;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    base = `/p/${t.project.ref}/staging`;
    api = new ApiClient(t.app, await t.key("staging"));
  });
  after(() => t.close());

  const cells = async () => {
    const { document, response } = await browser.page(`${base}/envvars`);
    assert.equal(response.statusCode, 200);
    return { document, body: response.body, names: [...document.querySelectorAll("tbody td:first-child code")].map((node) => node.textContent) };
  };

  test("a pasted .env file becomes variables whose values stay off the page until revealed", async () => {
    const dotenv = '# the database\nDATABASE_URL="postgres://u:hunter2-plain@db/app"\nexport FEATURE_FLAG=on\n\nQUOTED=\'with spaces\'\n';
    const imported = await browser.submit(`${base}/envvars`, `${base}/envvars/import`, { dotenv });
    assert.equal(imported.statusCode, 200);
    assert.match(imported.body, /Saved 3 variables/);
    const { names, body, document } = await cells();
    assert.deepEqual(names, ["DATABASE_URL", "FEATURE_FLAG", "QUOTED"]);
    assert.ok(!body.includes("hunter2-plain"), "values are not in the page");
    const reveal = document.querySelector(`form[action="${base}/envvars/DATABASE_URL/reveal"]`);
    assert.ok(reveal);
    const revealed = await browser.submit(`${base}/envvars`, `${base}/envvars/DATABASE_URL/reveal`);
    assert.equal(revealed.statusCode, 200);
    assert.equal(revealed.body, "postgres://u:hunter2-plain@db/app");
    const { variables } = await api.ok("GET", "/engine/v1/envvars");
    assert.deepEqual(variables, { DATABASE_URL: "postgres://u:hunter2-plain@db/app", FEATURE_FLAG: "on", QUOTED: "with spaces" });
  });

  test("a second paste keeps existing values unless told to replace them", async () => {
    const kept = await browser.submit(`${base}/envvars`, `${base}/envvars/import`, { dotenv: "FEATURE_FLAG=off\nNEW_ONE=1" });
    assert.match(kept.body, /Saved 1 variable; 1 already existed/);
    assert.equal((await api.ok("GET", "/engine/v1/envvars")).variables.FEATURE_FLAG, "on");
    await browser.submit(`${base}/envvars`, `${base}/envvars/import`, { dotenv: "FEATURE_FLAG=off", override: "on" });
    assert.equal((await api.ok("GET", "/engine/v1/envvars")).variables.FEATURE_FLAG, "off");
  });

  test("a secret is added, changed and deleted, but its value is never shown again", async () => {
    const added = await browser.submit(`${base}/envvars`, `${base}/envvars`, { name: "STRIPE_KEY", value: "sk_test_from_dashboard", secret: "on" });
    assert.equal(added.statusCode, 303);
    const { body } = await cells();
    assert.ok(body.includes("STRIPE_KEY") && !body.includes("sk_test_from_dashboard"));
    assert.equal((await browser.submit(`${base}/envvars`, `${base}/envvars/STRIPE_KEY/reveal`)).statusCode, 403);
    await browser.submit(`${base}/envvars`, `${base}/envvars/STRIPE_KEY`, { value: "sk_test_rotated" });
    assert.equal((await api.ok("GET", "/engine/v1/envvars")).variables.STRIPE_KEY, "sk_test_rotated");
    const listed = await api.ok("GET", `/api/v1/projects/${t.project.ref}/envvars/staging`);
    assert.deepEqual(listed.find((variable: { name: string }) => variable.name === "STRIPE_KEY"), { name: "STRIPE_KEY", value: "<redacted>", isSecret: true });
    await browser.submit(`${base}/envvars`, `${base}/envvars/STRIPE_KEY/delete`);
    assert.ok(!(await cells()).names.includes("STRIPE_KEY"));
  });

  test("a bad name is refused on the page with the reason, and forms need their CSRF token", async () => {
    const bad = await browser.submit(`${base}/envvars`, `${base}/envvars`, { name: "9LIVES", value: "x" });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /not a variable name/);
    const forged = await browser.request("POST", `${base}/envvars`, { name: "FORGED", value: "x" });
    assert.equal(forged.statusCode, 403);
    const forgedReveal = await browser.request("POST", `${base}/envvars/QUOTED/reveal`, {});
    assert.equal(forgedReveal.statusCode, 403);
    assert.ok(!forgedReveal.body.includes("with spaces"));
    assert.ok(!(await cells()).names.includes("FORGED"));
  });
});
