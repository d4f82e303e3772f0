// examples/webhook-fanout, run as a user would: `ratchet dev` in the example's folder against a
// listening Ratchet, delivering to a real local HTTP receiver that fails each subscriber's first
// delivery.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { childEnv, projectRoot } from "./helpers/server-process.ts";

async function body(request: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of request) text += chunk;
  return text;
}

describe("the webhook fan-out example", () => {
  let t: TestApp;
  let receiver: Server;
  let receiverUrl: string;
  const received = new Map<string, Array<{ attempt: string; eventId: string; status: number }>>();
  let worker: ReturnType<typeof spawn>;
  let output = "";

  before(async () => {
    receiver = createServer(async (request, response) => {
      const subscriber = request.url!.slice(1);
      const event = JSON.parse(await body(request)) as { id: string };
      const deliveries = received.get(subscriber) ?? [];
      const status = deliveries.length === 0 ? 503 : subscriber === "gone" ? 410 : 200;
      deliveries.push({ attempt: String(request.headers["webhook-attempt"]), eventId: event.id, status });
      received.set(subscriber, deliveries);
      response.writeHead(status).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const address = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

    t = await createTestApp({ sweeper: true });
    const key = await t.key("dev");
    const url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    worker = spawn(process.execPath, [join(projectRoot, "bin/ratchet.js"), "dev"], {
      cwd: join(projectRoot, "examples/webhook-fanout"),
      env: childEnv({ RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/tasks registered as version/.test(output)) resolve();
      };
      worker.stdout!.on("data", onData);
      worker.stderr!.on("data", onData);
      worker.once("exit", () => reject(new Error(`the worker exited:\n${output}`)));
    });
    process.env.RATCHET_TEST_API = url;
    process.env.RATCHET_TEST_KEY = key;
  });
  after(async () => {
    worker.kill("SIGTERM");
    await new Promise((resolve) => worker.once("exit", resolve));
    await t.close();
    receiver.close();
  });

  test("an event reaches every subscriber once, retried past a failure, refused ones fail fast", async () => {
    const api = async (method: string, path: string, payload?: unknown) => {
      const response = await fetch(`${process.env.RATCHET_TEST_API}${path}`, {
        method,
        headers: { authorization: `Bearer ${process.env.RATCHET_TEST_KEY}`, ...(payload ? { "content-type": "application/json" } : {}) },
        body: payload ? JSON.stringify(payload) : undefined,
      });
      return (await response.json()) as Record<string, unknown> & { data: Array<Record<string, unknown>> };
    };
    const subscribers = ["alpha", "beta", "gamma", "gone"].map((id) => ({ id, url: `${receiverUrl}/${id}` }));
    const { id } = await api("POST", "/api/v1/tasks/fan-out-webhook/trigger", {
      payload: { event: { id: "evt_1", type: "order.paid", data: { total: 42 } }, subscribers },
    });

    let deliveries: Array<Record<string, unknown>>;
    const deadline = Date.now() + 60_000;
    for (;;) {
      deliveries = (await api("GET", "/api/v1/runs?filter[taskIdentifier]=deliver-webhook&filter[tag]=event:evt_1")).data;
      if (deliveries.length === 4 && deliveries.every((run) => run.isCompleted)) break;
      assert.ok(Date.now() < deadline, `deliveries did not finish:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const fanOut = await api("GET", `/api/v3/runs/${id}`);
    assert.equal(fanOut.status, "COMPLETED");
    assert.equal((fanOut.output as { deliveries: number }).deliveries, 4);

    for (const subscriber of ["alpha", "beta", "gamma"]) {
      const got = received.get(subscriber)!;
      assert.deepEqual(got.map((delivery) => delivery.status), [503, 200], `${subscriber} got one failure, then the event once`);
      assert.deepEqual(got.map((delivery) => delivery.attempt), ["1", "2"]);
    }
    assert.deepEqual(received.get("gone")!.map((delivery) => delivery.status), [503, 410], "a 410 is not retried");
    const statuses = deliveries.map((run) => run.status).sort();
    assert.deepEqual(statuses, ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED"]);

    // Replaying the fan-out does not deliver again where a delivery succeeded: those idempotency keys
    // still hold. The failed delivery's key no longer holds (as on Trigger.dev), so it is tried anew.
    const replay = await api("POST", `/api/v1/runs/${id}/replay`);
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${replay.id}`);
      if (run.isCompleted) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const afterReplay = (await api("GET", "/api/v1/runs?filter[taskIdentifier]=deliver-webhook&filter[tag]=event:evt_1")).data;
    assert.equal(afterReplay.length, 5, "one new delivery, for the subscriber whose delivery failed");
    for (const subscriber of ["alpha", "beta", "gamma"]) assert.equal(received.get(subscriber)!.length, 2);
  });
});
