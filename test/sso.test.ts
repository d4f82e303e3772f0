// Single sign-on through OpenID Connect against a real provider this test starts (oidc-provider, with
// its development login and consent forms): an invited account signs in without its password, an
// address without an account is refused, and a callback without the flow's cookie is refused.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import Provider from "oidc-provider";
import { parseHTML } from "linkedom";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { Browser, signedInAdmin } from "./helpers/dashboard.ts";

const publicUrl = "http://127.0.0.1:3030";

/** A browser at the identity provider: follows its redirects and fills its forms until it sends us back. */
async function signInAtProvider(start: string, login: string): Promise<URL> {
  const jar = new Map<string, string>();
  let url = start;
  let method = "GET";
  let body: string | undefined;
  for (let step = 0; step < 20; step += 1) {
    if (url.startsWith(publicUrl)) return new URL(url);
    const response = await fetch(url, {
      method,
      redirect: "manual",
      headers: { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join("; "), ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
      body,
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const [name, ...value] = pair!.split("=");
      jar.set(name!.trim(), value.join("="));
    }
    const location = response.headers.get("location");
    if (location) {
      url = new URL(location, url).href;
      method = "GET";
      body = undefined;
      continue;
    }
    const { document } = parseHTML(await response.text());
    const form = document.querySelector("form");
    assert.ok(form, `the provider answered ${response.status} without a form at ${url}`);
    const fields = new URLSearchParams();
    for (const input of form.querySelectorAll("input")) {
      const name = input.getAttribute("name");
      if (name) fields.set(name, name === "login" ? login : (input.getAttribute("value") ?? ""));
    }
    url = new URL(form.getAttribute("action")!, url).href;
    method = "POST";
    body = fields.toString();
  }
  throw new Error("the provider never sent the browser back");
}

describe("single sign-on with OpenID Connect", () => {
  let t: TestApp;
  let server: Server;

  before(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(issuer, {
      clients: [{ client_id: "ratchet", client_secret: "the client's secret, long enough", redirect_uris: [`${publicUrl}/auth/oidc/callback`], token_endpoint_auth_method: "client_secret_post" }],
      findAccount: async (_context, sub) => ({
        accountId: sub,
        claims: async () => ({ sub, email: sub, email_verified: !sub.startsWith("unverified"), name: "From the provider" }),
      }),
      claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
      pkce: { required: () => true },
      cookies: { keys: ["a cookie key for the test provider"] },
    });
    server.on("request", provider.callback());
    t = await createTestApp({ env: { RATCHET_PUBLIC_URL: publicUrl, RATCHET_OIDC_ISSUER: issuer, RATCHET_OIDC_CLIENT_ID: "ratchet", RATCHET_OIDC_CLIENT_SECRET: "the client's secret, long enough", RATCHET_OIDC_LABEL: "Test IdP" } });
    await signedInAdmin(t.app, t.database.db, "admin@example.com");
  });
  after(async () => {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const ssoAs = async (login: string) => {
    const browser = new Browser(t.app, "10.2.0.1");
    const started = await browser.request("GET", "/auth/oidc");
    assert.equal(started.statusCode, 302);
    const callback = await signInAtProvider(String(started.headers.location), login);
    assert.equal(callback.pathname, "/auth/oidc/callback");
    return { browser, response: await browser.request("GET", `${callback.pathname}${callback.search}`) };
  };

  test("the sign-in page offers the provider", async () => {
    const { document } = await new Browser(t.app).page("/login");
    assert.equal(document.querySelector('a[href="/auth/oidc"]')?.textContent, "Sign in with Test IdP");
  });

  test("an existing account signs in through the provider without its password", async () => {
    const { browser, response } = await ssoAs("admin@example.com");
    assert.equal(response.statusCode, 303, response.body);
    const runs = await browser.request("GET", "/");
    assert.equal(runs.statusCode, 302);
    assert.match(String(runs.headers.location), /^\/p\/proj_/, "signed in");
  });

  test("an address without an account, or not verified, is refused", async () => {
    const stranger = await ssoAs("stranger@example.com");
    assert.equal(stranger.response.statusCode, 403);
    assert.match(stranger.response.body, /no Ratchet account for stranger@example\.com/);
    assert.equal((await stranger.browser.request("GET", "/")).statusCode, 302);
    assert.equal((await stranger.browser.request("GET", "/")).headers.location, "/login");
    const unverified = await ssoAs("unverified@example.com");
    assert.equal(unverified.response.statusCode, 403);
  });

  test("a callback without the flow's cookie (another browser, a forged link) is refused", async () => {
    const browser = new Browser(t.app, "10.2.0.2");
    const started = await browser.request("GET", "/auth/oidc");
    const callback = await signInAtProvider(String(started.headers.location), "admin@example.com");
    const elsewhere = new Browser(t.app, "10.2.0.3");
    const response = await elsewhere.request("GET", `${callback.pathname}${callback.search}`);
    assert.equal(response.statusCode, 403);
    assert.equal((await elsewhere.request("GET", "/")).headers.location, "/login");
  });
});
