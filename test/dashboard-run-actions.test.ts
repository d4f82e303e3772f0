// A run's page header (duration, version, machine, queue with its paused state, idempotency key,
// TTL, attempts, "replayed from"), copy as curl / SDK code, replay with an edited payload, and a
// task's test-run form pre-filled from its last run. Refused input keeps what was typed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { curlSnippet, sdkSnippet } from "../server/dashboard/run-snippets.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { type Browser, signedInAdmin } from "./helpers/dashboard.ts";
import { ApiClient } from "./helpers/engine.ts";

// linkedom leaves character references in a <textarea> as written: decode the ones eta writes.
const entity = /&(#\d+|amp|lt|gt|quot);/g;
const decode = (_: string, name: string) => (name.startsWith("#") ? String.fromCharCode(Number(name.slice(1))) : ({ amp: "&", lt: "<", gt: ">", quot: '"' } as Record<string, string>)[name]!);

describe("run actions in the dashboard", () => {
  let t: TestApp;
  let browser: Browser;
  let api: ApiClient;
  let base: string;

  before(async () => {
    t = await createTestApp();
    browser = await signedInAdmin(t.app, t.database.db);
    api = new ApiClient(t.app, await t.key("prod"));
    base = `/p/${t.project.ref}/prod`;
    await api.register([{ id: "deliver", queue: { name: "mail" }, machine: "small-2x" }]);
  });
  after(() => t.close());

  test("the header shows what the run was given and where it runs; the queue says it is paused", async () => {
    const { id } = await api.trigger("deliver", { to: "ada@example.com" }, { idempotencyKey: "order-7", ttl: "1h", tags: ["vip"], machine: "small-2x" });
    await browser.submit(`${base}/queues`, `${base}/queues/mail/pause`);
    const { document } = await browser.page(`${base}/runs/${id}`);
    const facts = Object.fromEntries([...document.querySelectorAll(".facts > div")].map((item) => [item.querySelector("dt")!.textContent, item.querySelector("dd")!.textContent!.replace(/\s+/g, " ").trim()]));
    assert.equal(facts.Machine, "small-2x");
    assert.match(facts.Queue!, /^mail paused$/);
    assert.match(facts["Idempotency key"]!, /^order-7 Copy expires in/);
    assert.match(facts.TTL!, /^1h \(expires in/);
    assert.equal(facts.Attempts, "0");
    assert.equal(facts["Replayed from"], "—");
    const curl = document.querySelector('[data-copy-label="Copy as curl"]')!.getAttribute("data-copy")!;
    assert.match(curl, new RegExp(`/api/v1/tasks/deliver/trigger`));
    assert.match(curl, /"payload":\{"to":"ada@example.com"\},"options":\{"tags":\["vip"\]\}/);
    await browser.submit(`${base}/queues`, `${base}/queues/mail/resume`);
  });

  test("snippets quote the shell safely and inline only payloads of a sensible size", () => {
    const input = { publicUrl: "http://localhost:3030/", taskIdentifier: "it's", payloadJson: `{"q":"it's"}`, tags: [] };
    assert.equal(curlSnippet(input).split("\n").at(-1), `  -d '{"payload":{"q":"it'\\''s"}}'`);
    assert.match(sdkSnippet(input), /await tasks\.trigger\("it's", \{\n {2}"q": "it's"\n\}\);/);
    assert.match(curlSnippet({ ...input, payloadJson: null }), /payload too large to inline/);
  });

  test("a replay with an edited payload runs the task with it and links back to the original", async () => {
    const { id } = await api.trigger("deliver", { to: "grace@example.com" }, { tags: ["first"] });
    const form = await browser.page(`${base}/runs/${id}/replay`);
    assert.equal(JSON.parse(form.document.querySelector("textarea[name=payload]")!.textContent!.replace(entity, decode)).to, "grace@example.com", "pre-filled with the run's payload");
    const typed = '{"to": "linus@example.com",}';
    const refused = await browser.request("POST", `${base}/runs/${id}/replay`, { _csrf: form.csrf, payload: typed, tags: "second" });
    assert.equal(refused.statusCode, 400);
    const page = (await import("linkedom")).parseHTML(refused.body).document;
    assert.match(page.querySelector("[role=alert]")!.textContent!, /^payload: not valid JSON/);
    assert.equal(page.querySelector("textarea[name=payload]")!.textContent!.replace(entity, decode), typed, "what was typed is kept");
    assert.equal(page.querySelector("input[name=tags]")!.getAttribute("value"), "second");
    const badDelay = await browser.request("POST", `${base}/runs/${id}/replay`, { _csrf: form.csrf, payload: "{}", delay: "soon" });
    assert.equal(badDelay.statusCode, 400);
    assert.match(badDelay.body, /delay: /);
    const done = await browser.request("POST", `${base}/runs/${id}/replay`, { _csrf: form.csrf, payload: '{"to": "linus@example.com"}', tags: "second, edited" });
    assert.equal(done.statusCode, 303);
    const replayId = String(done.headers.location).split("/").at(-1)!;
    const replay = await api.retrieve(replayId);
    assert.deepEqual(replay.payload, { to: "linus@example.com" });
    assert.deepEqual(replay.tags.sort(), ["edited", "second"]);
    const { document } = await browser.page(`${base}/runs/${replayId}`);
    const from = [...document.querySelectorAll(".facts > div")].find((item) => item.querySelector("dt")!.textContent === "Replayed from")!;
    assert.equal(from.querySelector("a")!.getAttribute("href"), `${base}/runs/${id}`);
    const noCsrf = await browser.request("POST", `${base}/runs/${id}/replay`, { payload: "{}" });
    assert.equal(noCsrf.statusCode, 403);
  });

  test("a task's test run starts from its last run's payload, with machine, queue and delay", async () => {
    await api.trigger("deliver", { to: "last@example.com" });
    const form = await browser.page(`${base}/tasks/deliver/test`);
    assert.equal(form.response.statusCode, 200);
    assert.equal(JSON.parse(form.document.querySelector("textarea[name=payload]")!.textContent!.replace(entity, decode)).to, "last@example.com");
    assert.equal(form.document.querySelector("input[name=queue]")!.getAttribute("value"), "mail");
    const tasks = await browser.page(`${base}/tasks`);
    assert.ok(tasks.document.querySelector(`a[href="${base}/tasks/deliver/test"]`), "linked from the tasks page");
    const badMachine = await browser.request("POST", `${base}/tasks/deliver/test`, { _csrf: form.csrf, payload: "{}", machine: "huge" });
    assert.equal(badMachine.statusCode, 400);
    assert.match(badMachine.body, /machine: one of/);
    const started = await browser.request("POST", `${base}/tasks/deliver/test`, { _csrf: form.csrf, payload: '{"to": "test@example.com"}', machine: "medium-1x", delay: "1h", tags: "try" });
    assert.equal(started.statusCode, 303);
    const run = await api.retrieve(String(started.headers.location).split("/").at(-1)!);
    assert.equal(run.status, "DELAYED");
    assert.equal(run.isTest, true);
    assert.deepEqual(run.payload, { to: "test@example.com" });
    assert.equal((await browser.request("GET", `${base}/tasks/no-such-task/test`)).statusCode, 404);
  });

  test("another environment's run cannot be replayed or edited from this one", async () => {
    const { id } = await api.trigger("deliver", { secret: "prod only" });
    const dev = `/p/${t.project.ref}/dev`;
    const form = await browser.page(`${dev}/runs`);
    const page = await browser.request("GET", `${dev}/runs/${id}/replay`);
    assert.equal(page.statusCode, 404);
    assert.doesNotMatch(page.body, /prod only/);
    const posted = await browser.request("POST", `${dev}/runs/${id}/replay`, { _csrf: form.csrf, payload: "{}" });
    assert.equal(posted.statusCode, 404);
    const plain = await browser.request("POST", `${dev}/runs/${id}/replay`, { _csrf: form.csrf });
    assert.equal(plain.statusCode, 404);
    assert.equal((await browser.request("POST", `${dev}/tasks/deliver/test`, { _csrf: form.csrf, payload: "{}" })).statusCode, 404, "dev has no task deliver");
  });
});
