// Alerts end to end: a local SMTP server and a local webhook receiver, started here, get an email and
// a signed webhook for a failing run; a storm of failures becomes one digest; a receiver that fails
// is retried with backoff. The dispatcher is driven with a manual clock (runOnce), never slept on.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { SMTPServer } from "smtp-server";
import { ManualClock } from "../server/clock.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { signedInAdmin } from "./helpers/dashboard.ts";

interface Mail {
  to: string[];
  raw: string;
}

interface Hook {
  headers: IncomingHttpHeaders;
  body: string;
}

/** Values that arrive later, awaited in order (an email, a webhook request). */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T) => void> = [];
  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }
  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  get pending(): number {
    return this.#items.length;
  }
}

describe("alerts", () => {
  const clock = new ManualClock(new Date("2026-06-01T10:00:00.000Z"));
  let t: TestApp;
  let client: ApiClient;
  let smtp: SMTPServer;
  let receiver: Server;
  const mails = new Inbox<Mail>();
  const hooks = new Inbox<Hook>();
  /** Status codes the webhook receiver answers with, in order; then 200. */
  const hookAnswers: number[] = [];
  let webhookSecret: string;

  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData(stream, session, callback) {
        let raw = "";
        stream.on("data", (chunk: Buffer) => (raw += chunk.toString()));
        stream.on("end", () => {
          // Unfolded headers and decoded quoted-printable, as a mail client would show them.
          const text = raw.replace(/\r\n(?=[ \t])/g, "").replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
          mails.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address), raw: text });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        const status = hookAnswers.shift() ?? 200;
        response.writeHead(status).end();
        if (status === 200) hooks.push({ headers: request.headers, body });
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    t = await createTestApp({ clock, env: { RATCHET_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, RATCHET_EMAIL_FROM: "Ratchet <alerts@example.com>" } });
    client = new ApiClient(t.app, await t.key("prod"));
    await client.register([{ id: "charge-card" }, { id: "other-task" }]);
    const webhook = await client.ok("POST", "/api/v1/alerts/channels", { type: "webhook", name: "ops hook", url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
    assert.match(webhook.secret, /^whsec_/);
    webhookSecret = webhook.secret;
    await client.ok("POST", "/api/v1/alerts/channels", { type: "email", name: "on-call", emails: ["oncall@example.com"], tasks: ["charge-card"] });
  });
  after(async () => {
    await t.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  const failRun = async (task: string, status?: string) => {
    const { id } = await client.trigger(task, {});
    const [run] = await client.dequeue("w1", 1);
    assert.equal(run?.id, id);
    await client.start("w1", run!);
    await client.complete("w1", run!, { ok: false, error: { name: "CardDeclined", message: `card declined for ${id}` }, skipRetrying: true, ...(status ? { status } : {}) });
    return id;
  };

  const verify = (hook: Hook) => {
    const signature = String(hook.headers["x-ratchet-signature"]);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    assert.ok(match, signature);
    const expected = createHmac("sha256", webhookSecret).update(`${match[1]}.${hook.body}`).digest("hex");
    assert.equal(match[2], expected, "the HMAC-SHA256 signature matches the body");
    return JSON.parse(hook.body);
  };

  test("a failing run sends an email and a signed webhook; a receiver that fails is retried with backoff", async () => {
    hookAnswers.push(500);
    const runId = await failRun("charge-card");
    assert.equal((await client.retrieve(runId)).status, "FAILED");
    const first = await t.app.ratchet.alerts.runOnce();
    assert.deepEqual(first, { failures: 1, attempted: 2 });

    const mail = await mails.next();
    assert.deepEqual(mail.to, ["oncall@example.com"]);
    assert.match(mail.raw, /Subject: \[Ratchet\] charge-card failed in Default project/);
    assert.ok(mail.raw.includes(runId));
    assert.ok(mail.raw.includes(`card declined for ${runId}`));
    assert.match(mail.raw, /From: Ratchet <alerts@example\.com>/);

    // The webhook answered 500: it waits for its backoff, then goes again.
    let { data: deliveries } = await client.ok("GET", "/api/v1/alerts/deliveries");
    const hookDelivery = deliveries.find((delivery: { status: string }) => delivery.status === "pending");
    assert.equal(hookDelivery.attempts, 1);
    assert.match(hookDelivery.lastError, /500/);
    assert.deepEqual(await t.app.ratchet.alerts.runOnce(), { failures: 0, attempted: 0 }, "not before its backoff");
    clock.advance(10_000);
    assert.deepEqual(await t.app.ratchet.alerts.runOnce(), { failures: 0, attempted: 1 });
    const hook = await hooks.next();
    assert.equal(hook.headers["x-ratchet-event"], "run.failed");
    const payload = verify(hook);
    assert.equal(payload.type, "run.failed");
    assert.equal(payload.task, "charge-card");
    assert.equal(payload.environment.type, "prod");
    assert.equal(payload.runs[0].id, runId);
    assert.equal(payload.runs[0].status, "FAILED");
    assert.equal(payload.runs[0].error.message, `card declined for ${runId}`);
    assert.match(payload.runs[0].url, new RegExp(`/p/${t.project.ref}/prod/runs/${runId}$`));
    ({ data: deliveries } = await client.ok("GET", "/api/v1/alerts/deliveries"));
    assert.deepEqual(deliveries.map((delivery: { status: string }) => delivery.status), ["delivered", "delivered"]);
  });

  test("a storm of failures of one task sends one digest per window, crashes and timeouts included", async () => {
    const ids = [await failRun("charge-card"), await failRun("charge-card", "CRASHED"), await failRun("charge-card", "TIMED_OUT"), await failRun("charge-card")];
    assert.deepEqual(await t.app.ratchet.alerts.runOnce(), { failures: 4, attempted: 0 }, "held back: the last alert was less than a window ago");
    clock.advance(5 * 60_000);
    assert.deepEqual(await t.app.ratchet.alerts.runOnce(), { failures: 0, attempted: 2 });
    const mail = await mails.next();
    assert.match(mail.raw, /Subject: \[Ratchet\] 4 runs of charge-card failed/);
    for (const id of ids) assert.ok(mail.raw.includes(id), id);
    const payload = verify(await hooks.next());
    assert.equal(payload.type, "run.failed.digest");
    assert.equal(payload.count, 4);
    assert.deepEqual(payload.runs.map((run: { status: string }) => run.status), ["FAILED", "CRASHED", "TIMED_OUT", "FAILED"]);
  });

  test("a channel for some tasks ignores the others; an environment without channels records nothing", async () => {
    clock.advance(10 * 60_000);
    await failRun("other-task");
    assert.deepEqual(await t.app.ratchet.alerts.runOnce(), { failures: 1, attempted: 1 }, "only the webhook, which takes every task");
    assert.equal(verify(await hooks.next()).task, "other-task");
    assert.equal(mails.pending, 0);

    const devClient = new ApiClient(t.app, await t.key("dev"));
    await devClient.register([{ id: "charge-card" }]);
    const { id } = await devClient.trigger("charge-card", {});
    const [run] = await devClient.dequeue("w-dev", 1);
    await devClient.start("w-dev", run!);
    await devClient.complete("w-dev", run!, { ok: false, error: { message: "no one listens" }, skipRetrying: true });
    assert.equal((await devClient.retrieve(id)).status, "FAILED");
    const [row] = await t.database.db.sql`select count(*)::int as count from ratchet.alert_run_failures`;
    assert.equal(row!.count, 0);
  });

  test("channels are listed, refused with a 4xx naming the field, and deleted", async () => {
    const { data } = await client.ok("GET", "/api/v1/alerts/channels");
    assert.deepEqual(data.map((channel: { type: string }) => channel.type).sort(), ["email", "webhook"]);
    assert.ok(!JSON.stringify(data).includes(webhookSecret), "the signing secret is never listed");
    const noUrl = await client.request("POST", "/api/v1/alerts/channels", { type: "webhook" });
    assert.equal(noUrl.status, 400);
    assert.match(noUrl.body.error, /url/);
    const badUrl = await client.request("POST", "/api/v1/alerts/channels", { type: "slack", url: "file:///etc/passwd" });
    assert.equal(badUrl.status, 400);
    assert.match(badUrl.body.error, /url/);
    const badEmail = await client.request("POST", "/api/v1/alerts/channels", { type: "email", emails: ["not an address"] });
    assert.equal(badEmail.status, 400);
    assert.match(badEmail.body.error, /emails/);
    assert.equal((await client.request("GET", "/api/v1/alerts/channels/nope")).status, 404);
    const email = data.find((channel: { type: string }) => channel.type === "email");
    assert.deepEqual(await client.ok("DELETE", `/api/v1/alerts/channels/${email.id}`), { success: true });
    assert.equal((await client.request("GET", `/api/v1/alerts/channels/${email.id}`)).status, 404);
  });

  test("the alerts page creates a channel (its secret shown once), shows deliveries and deletes it", async () => {
    const browser = await signedInAdmin(t.app, t.database.db);
    const base = `/p/${t.project.ref}/prod`;
    const created = await browser.submit(`${base}/alerts`, `${base}/alerts`, { type: "webhook", name: "from the page", url: "http://127.0.0.1:9/page-hook", tasks: "charge-card, other-task" });
    assert.equal(created.statusCode, 200);
    const secret = /whsec_[A-Za-z0-9_-]+/.exec(created.body)?.[0];
    assert.ok(secret, "the secret is on the page that created the channel");
    const { response, document } = await browser.page(`${base}/alerts`);
    assert.ok(!response.body.includes(secret), "and never again");
    assert.ok(response.body.includes("page-hook") && response.body.includes("charge-card, other-task"));
    assert.ok([...document.querySelectorAll("tbody tr")].some((row) => row.textContent?.includes("delivered")), "the history lists deliveries");
    const bad = await browser.submit(`${base}/alerts`, `${base}/alerts`, { type: "email", emails: "nope" });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /emails/);
    const forged = await browser.request("POST", `${base}/alerts`, { type: "slack", url: "http://127.0.0.1:9/forged" });
    assert.equal(forged.statusCode, 403);
    const row = [...document.querySelectorAll("tr")].find((tr) => tr.textContent?.includes("from the page"));
    const action = row?.querySelector("form")?.getAttribute("action");
    assert.ok(action);
    assert.equal((await browser.submit(`${base}/alerts`, action)).statusCode, 303);
    assert.ok(!(await browser.page(`${base}/alerts`)).response.body.includes("page-hook"));
  });

  test("a queue whose runs wait longer than a channel allows sends one backlog alert per hour", async () => {
    const backlogClient = new ApiClient(t.app, await t.key("staging"));
    await backlogClient.register([{ id: "nightly-report" }]);
    const created = await backlogClient.ok("POST", "/api/v1/alerts/channels", { type: "webhook", url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/backlog`, backlogMinutes: 10 });
    assert.equal(created.backlogMinutes, 10);
    webhookSecret = created.secret;
    for (let index = 0; index < 3; index += 1) await backlogClient.trigger("nightly-report", { index });
    clock.advance(9 * 60_000);
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 0, "not yet ten minutes");
    clock.advance(2 * 60_000);
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 1);
    const hook = await hooks.next();
    assert.equal(hook.headers["x-ratchet-event"], "queue.backlog");
    const payload = verify(hook);
    assert.equal(payload.queue, "task/nightly-report");
    assert.equal(payload.waiting, 3);
    assert.equal(payload.environment.type, "staging");
    clock.advance(5 * 60_000);
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 0, "the same backlog is not repeated within the hour");
    clock.advance(60 * 60_000);
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 1, "but is after it, while it lasts");
    assert.equal(JSON.parse((await hooks.next()).body).waiting, 3);
  });
  test("a failed deployment alerts its environment's channels once; a good one and another tenant's key do not", async () => {
    const previewClient = new ApiClient(t.app, await t.key("preview"));
    const created = await previewClient.ok("POST", "/api/v1/alerts/channels", { type: "webhook", url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/deploys` });
    webhookSecret = created.secret;
    await previewClient.ok("POST", "/api/v1/deployments", { version: "2.0.0" });
    // Another environment's key, with the victim's real version: not found, and nothing is sent.
    const stranger = new ApiClient(t.app, await t.key("dev"));
    const forged = await stranger.request("POST", "/api/v1/deployments/2.0.0/finish", { status: "FAILED", error: { message: "forged" } });
    assert.equal(forged.status, 404);
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 0);

    await previewClient.ok("POST", "/api/v1/deployments/2.0.0/finish", { status: "FAILED", error: { message: "npm ci exited with code 1" } });
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 1);
    const hook = await hooks.next();
    assert.equal(hook.headers["x-ratchet-event"], "deployment.failed");
    const payload = verify(hook);
    assert.equal(payload.version, "2.0.0");
    assert.equal(payload.error.message, "npm ci exited with code 1");
    assert.equal(payload.environment.type, "preview");
    assert.match(payload.url, /\/preview\/deployments$/);

    await previewClient.ok("POST", "/api/v1/deployments", { version: "2.0.1" });
    await previewClient.ok("POST", "/api/v1/deployments/2.0.1/finish", { status: "DEPLOYED" });
    assert.equal((await t.app.ratchet.alerts.runOnce()).attempted, 0, "a deployment that succeeds alerts nobody");
    assert.equal(hooks.pending, 0);
  });
});
