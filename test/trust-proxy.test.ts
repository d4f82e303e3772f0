// RATCHET_TRUST_PROXY: behind a reverse proxy the sign-in rate limit counts each visitor (from
// X-Forwarded-For) only when the proxy is trusted; otherwise the header is ignored, so a visitor
// cannot dodge the limit by inventing addresses. Over real HTTP, as a proxy on loopback sends.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { ConfigError, loadConfig, parseTrustProxy } from "../server/config.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";

async function signInAttempts(base: string, forwardedFor: (attempt: number) => string | undefined, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < count; attempt += 1) {
    const headers: Record<string, string> = {};
    const address = forwardedFor(attempt);
    if (address) headers["x-forwarded-for"] = address;
    const page = await fetch(`${base}/login`, { headers });
    const cookie = page.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ");
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
    const response = await fetch(`${base}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { ...headers, cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, email: `nobody${attempt}@example.com`, password: "wrong wrong" }).toString(),
    });
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  return statuses;
}

async function listening(env: Record<string, string>): Promise<{ t: TestApp; base: string }> {
  const t = await createTestApp({ env });
  await t.app.listen({ host: "127.0.0.1", port: 0 });
  return { t, base: `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}` };
}

describe("trusting a reverse proxy", () => {
  describe("by default", () => {
    let server: { t: TestApp; base: string };
    before(async () => (server = await listening({})));
    after(() => server.t.close());

    test("X-Forwarded-For is ignored: made-up addresses share one limit", async () => {
      const statuses = await signInAttempts(server.base, (attempt) => `203.0.113.${attempt + 1}`, 11);
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
      assert.equal(statuses[10], 429);
    });
  });

  describe("with RATCHET_TRUST_PROXY=loopback", () => {
    let server: { t: TestApp; base: string };
    before(async () => (server = await listening({ RATCHET_TRUST_PROXY: "loopback" })));
    after(() => server.t.close());

    test("each forwarded visitor has a limit of their own", async () => {
      const statuses = await signInAttempts(server.base, (attempt) => `203.0.113.${attempt + 1}`, 12);
      assert.deepEqual(statuses, Array(12).fill(401));
    });

    test("one forwarded visitor is still limited", async () => {
      const statuses = await signInAttempts(server.base, () => "198.51.100.7", 11);
      assert.equal(statuses[10], 429);
    });

    test("an address the client prepends does not help: the proxy's hop is the one believed", async () => {
      // A proxy appends the peer it saw; a trusted loopback proxy's entry is the rightmost untrusted one.
      const statuses = await signInAttempts(server.base, (attempt) => `10.9.9.${attempt + 1}, 198.51.100.8`, 11);
      assert.equal(statuses[10], 429);
    });
  });

  test("the setting is validated and names what is wrong", () => {
    assert.equal(parseTrustProxy("false"), false);
    assert.equal(parseTrustProxy("true"), true);
    assert.equal(parseTrustProxy("2"), 2);
    assert.deepEqual(parseTrustProxy("10.0.0.0/8, ::1, loopback"), ["10.0.0.0/8", "::1", "loopback"]);
    assert.equal(loadConfig({}).trustProxy, false);
    for (const bad of ["yes", "10.0.0.0/33", "0", "11", "1.2.3.4/8/1", "example.com"]) {
      assert.throws(() => loadConfig({ RATCHET_TRUST_PROXY: bad }), (error: unknown) => error instanceof ConfigError && /RATCHET_TRUST_PROXY/.test(error.message), bad);
    }
  });
});
