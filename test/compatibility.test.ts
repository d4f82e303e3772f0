// docs/compatibility.md lists every endpoint the official SDK calls with Ratchet's answer: this test
// reads the SDK's client and fails when an endpoint is missing there, or when the document says
// "served" for a route Ratchet does not register (or the other way round).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { sdkEndpoints } from "./helpers/sdk-endpoints.ts";

describe("docs/compatibility.md", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(() => t.close());

  test("lists every endpoint the official SDK calls, served exactly when Ratchet serves it", () => {
    const served = new Set(t.app.ratchetRoutes.map((route) => `${route.method} ${route.url.replace(/:[A-Za-z]+/g, "{}")}`));
    const documented = new Map<string, string>();
    for (const match of readFileSync(new URL("../docs/compatibility.md", import.meta.url), "utf8").matchAll(/^\| `([A-Z]+ [^`]+)` \| ([^|]+)\|/gm)) {
      documented.set(match[1]!, match[2]!.trim());
    }
    const problems: string[] = [];
    for (const endpoint of sdkEndpoints()) {
      const status = documented.get(endpoint);
      const isServed = served.has(endpoint);
      if (status === undefined) problems.push(`| \`${endpoint}\` | ${isServed ? "Served" : "Not served"} |`);
      else if (status.startsWith("Served") !== isServed) problems.push(`${endpoint}: the document says "${status}", Ratchet ${isServed ? "serves it" : "does not"}`);
    }
    assert.deepEqual(problems, []);
    assert.ok(documented.size >= 80, `${documented.size} endpoints documented`);
  });
});
