// @trigger.dev/react-hooks, unmodified, in Chromium: a page served from another origin than the API
// (so CORS is exercised) renders a run's status, its metadata and a stream live, authorised by the
// trigger's public access token.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { auth, configure, runs, tasks } from "@trigger.dev/sdk";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { projectRoot } from "./helpers/server-process.ts";

const chromiumPath = process.env.RATCHET_CHROMIUM ?? "/usr/bin/chromium";

describe("@trigger.dev/react-hooks in a browser", () => {
  let t: TestApp;
  let key: string;
  let api: string;
  let client: ApiClient;
  let pageServer: Server;
  let pageOrigin: string;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(chromiumPath), `Chromium is needed at ${chromiumPath} (apt-get install chromium)`);
    t = await createTestApp();
    key = await t.key("dev");
    api = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: api, accessToken: key });
    client = new ApiClient(t.app, key);
    await client.register([{ id: "live" }]);
    const bundle = await build({
      entryPoints: [join(projectRoot, "test/fixtures/react-page/app.js")],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      define: { "process.env.NODE_ENV": '"production"' },
      // Loaded on demand by Trigger.dev v2 streams only (as webpack and vite skip it too).
      external: ["node:*"],
      logLevel: "silent",
    });
    const script = bundle.outputFiles[0]!.text;
    pageServer = createServer((request, response) => {
      if (request.url?.startsWith("/app.js")) {
        response.writeHead(200, { "content-type": "text/javascript" }).end(script);
        return;
      }
      response.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>');
    });
    await new Promise<void>((resolve) => pageServer.listen(0, "localhost", resolve));
    pageOrigin = `http://localhost:${(pageServer.address() as { port: number }).port}`;
    browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
    await t?.close();
  });

  test("useRealtimeRun and useRealtimeStream render a run's status, metadata and stream live", async () => {
    const handle = await tasks.trigger("live", {});
    const triggerToken = await auth.createTriggerPublicToken("live");
    const query = new URLSearchParams({ run: handle.id, token: handle.publicAccessToken, api, triggerToken });
    await page.goto(`${pageOrigin}/?${query}`);
    const text = (id: string) => page.locator(`#${id}`);
    await text("status").filter({ hasText: "QUEUED" }).waitFor({ timeout: 15_000 });

    const [run] = await client.dequeue("w-react", 1);
    await client.start("w-react", run!);
    await text("status").filter({ hasText: "EXECUTING" }).waitFor({ timeout: 10_000 });
    await client.ok("PUT", `/api/v1/runs/${handle.id}/metadata`, { metadata: { step: 2 } });
    await text("step").filter({ hasText: "2" }).waitFor({ timeout: 10_000 });
    for (const part of ["Hello", ", ", "world"]) {
      const response = await fetch(`${api}/realtime/v1/streams/${handle.id}/self/answer/append`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: part });
      assert.equal(response.status, 200);
    }
    await text("stream").filter({ hasText: "Hello, world" }).waitFor({ timeout: 10_000 });
    await client.complete("w-react", run!, { ok: true, output: { done: true } });
    await text("status").filter({ hasText: "COMPLETED" }).waitFor({ timeout: 10_000 });
    assert.equal(await text("error").textContent(), "");
  });

  test("useTaskTrigger triggers the task from the page with a one-time trigger token", async () => {
    const text = (id: string) => page.locator(`#${id}`);
    await page.locator("#trigger").click();
    await text("triggered").filter({ hasText: /^run_/ }).waitFor({ timeout: 10_000 });
    const id = (await text("triggered").textContent())!;
    const run = await runs.retrieve(id);
    assert.deepEqual(run.payload, { from: "browser" });
    assert.equal(run.taskIdentifier, "live");
  });
});
