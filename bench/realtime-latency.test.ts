// How soon a change reaches a subscriber: the official SDK subscribed to a run, a metadata update
// at a time, through the same server and through a second replica (woken by Postgres NOTIFY).
// Prints the p50 and p95; docs/benchmarks.md records them. Target: p50 under 100 ms.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { auth, configure, runs, tasks } from "@trigger.dev/sdk";
import { buildApp } from "../server/app.ts";
import { createTestApp, type TestApp } from "../test/helpers/app.ts";
import { ApiClient } from "../test/helpers/engine.ts";

const updates = 50;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

describe("realtime latency", () => {
  let t: TestApp;
  let key: string;
  let client: ApiClient;

  before(async () => {
    t = await createTestApp();
    key = await t.key("dev");
    configure({ baseURL: await t.app.listen({ port: 0, host: "127.0.0.1" }), accessToken: key });
    client = new ApiClient(t.app, key);
    await client.register([{ id: "timed" }]);
  });
  after(() => t.close());

  async function measure(baseURL: string): Promise<number[]> {
    const handle = await tasks.trigger("timed", {});
    const latencies: number[] = [];
    let sentAt = 0;
    let expected = 0;
    let seen = Promise.withResolvers<void>();
    const subscription = auth.withAuth({ accessToken: key, baseURL }, async () => {
      for await (const run of runs.subscribeToRun(handle.id)) {
        if (run.metadata?.i === expected) {
          if (expected > 0) latencies.push(performance.now() - sentAt);
          seen.resolve();
        }
        if (run.isCompleted || run.isCancelled) break;
      }
    });
    await client.ok("PUT", `/api/v1/runs/${handle.id}/metadata`, { metadata: { i: 0 } });
    await seen.promise;
    for (let i = 1; i <= updates; i += 1) {
      seen = Promise.withResolvers<void>();
      expected = i;
      sentAt = performance.now();
      await client.ok("PUT", `/api/v1/runs/${handle.id}/metadata`, { metadata: { i } });
      await seen.promise;
    }
    expected = -1;
    await client.ok("POST", `/api/v2/runs/${handle.id}/cancel`);
    await subscription;
    return latencies;
  }

  test(`p50 from a metadata update to the subscriber is under 100 ms (${updates} updates)`, async () => {
    const same = await measure(t.app.server.address() ? `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}` : "");
    const replica = await buildApp({ config: t.config, db: t.database.db, logger: pino({ level: "silent" }), sweeper: false });
    await replica.ready();
    try {
      const viaReplica = await measure(await replica.listen({ port: 0, host: "127.0.0.1" }));
      const line = (name: string, values: number[]) =>
        `${name}: p50 ${percentile(values, 50).toFixed(1)} ms, p95 ${percentile(values, 95).toFixed(1)} ms over ${values.length} changes`;
      console.log(`realtime latency\n  ${line("same server", same)}\n  ${line("via a second replica (NOTIFY)", viaReplica)}`);
      assert.ok(percentile(same, 50) < 100, line("same server", same));
      assert.ok(percentile(viaReplica, 50) < 100, line("replica", viaReplica));
    } finally {
      await replica.close();
    }
  });
});
