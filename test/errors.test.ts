import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import Fastify, { type FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { bodyLimitBytes } from "../server/app.ts";
import { ApiError, errorCodes, errorTable } from "../server/errors.ts";
import { applyHttpConventions } from "../server/http/conventions.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";

describe("errors", () => {
  let t: TestApp;
  // A scope with Ratchet's HTTP conventions and a few routes that fail in each way a route can.
  let probe: FastifyInstance;
  before(async () => {
    t = await createTestApp();
    probe = Fastify({ bodyLimit: bodyLimitBytes });
    applyHttpConventions(probe);
    probe.withTypeProvider<ZodTypeProvider>().post(
      "/validated",
      { schema: { body: z.object({ options: z.object({ tags: z.array(z.string()).max(2) }) }) } },
      async () => ({ ok: true }),
    );
    probe.get("/conflict", async () => {
      throw new ApiError("CONFLICT", "The run changed");
    });
    probe.get("/bug", async () => {
      throw new Error("secret internal detail");
    });
    await probe.ready();
  });
  after(async () => {
    await probe.close();
    await t.close();
  });

  test("every error code is documented in docs/api.md with its status", async () => {
    const docs = await readFile(new URL("../docs/api.md", import.meta.url), "utf8");
    for (const code of errorCodes) {
      const row = new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${errorTable[code].status}\\s*\\|`);
      assert.match(docs, row, `docs/api.md lacks a row for ${code} (${errorTable[code].status})`);
    }
  });

  test("an unknown route answers 404 in the error shape", async () => {
    const response = await t.app.inject({ method: "GET", url: "/api/v9/nothing?x=1" });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(response.json(), { error: "No route GET /api/v9/nothing", code: "ROUTE_NOT_FOUND" });
  });

  test("a failed validation answers 400 naming the field", async () => {
    const response = await probe.inject({
      method: "POST",
      url: "/validated",
      payload: { options: { tags: ["a", "b", "c"] } },
    });
    assert.equal(response.statusCode, 400);
    const body = response.json();
    assert.equal(body.code, "VALIDATION_FAILED");
    assert.match(body.error, /^body\.options\.tags: /);
  });

  test("a body that is not JSON answers 400 INVALID_JSON", async () => {
    const response = await probe.inject({
      method: "POST",
      url: "/validated",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().code, "INVALID_JSON");
  });

  test("an unsupported content type answers 415", async () => {
    const response = await probe.inject({
      method: "POST",
      url: "/validated",
      headers: { "content-type": "application/xml" },
      payload: "<a/>",
    });
    assert.equal(response.statusCode, 415);
    assert.equal(response.json().code, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("a body over the limit answers 413 in the error shape", async () => {
    const response = await probe.inject({
      method: "POST",
      url: "/validated",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ blob: "x".repeat(bodyLimitBytes) }),
    });
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().code, "PAYLOAD_TOO_LARGE");
  });

  test("an ApiError answers with its code's status and its message", async () => {
    const response = await probe.inject({ method: "GET", url: "/conflict" });
    assert.equal(response.statusCode, 409);
    assert.deepEqual(response.json(), { error: "The run changed", code: "CONFLICT" });
  });

  test("an unexpected error answers a bare 500 that leaks nothing", async () => {
    const response = await probe.inject({ method: "GET", url: "/bug" });
    assert.equal(response.statusCode, 500);
    assert.deepEqual(response.json(), { error: "Internal server error", code: "INTERNAL" });
  });
});
