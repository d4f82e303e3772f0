// /metrics: Prometheus text that a strict parser accepts, counters that move with a run, queue gauges
// read from Postgres, and who may scrape it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { ManualClock } from "../server/clock.ts";
import { loadConfig } from "../server/config.ts";
import { sweepOnce } from "../server/engine/sweepers.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { parsePrometheusText, sampleValue } from "./helpers/prometheus-text.ts";

describe("/metrics", () => {
  let t: TestApp;
  let api: ApiClient;
  const clock = new ManualClock(new Date());

  before(async () => {
    t = await createTestApp({ clock });
    api = new ApiClient(t.app, await t.key("dev"));
    await api.register([{ id: "metered" }]);
  });
  after(() => t.close());

  async function scrape() {
    const response = await t.app.inject({ method: "GET", url: "/metrics" });
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(response.body);
    for (const family of families.values()) {
      if (!family.name.startsWith("ratchet_")) continue;
      for (const sample of family.samples) assert.ok(!Number.isNaN(sample.value), `${sample.name} ${JSON.stringify(sample.labels)} is NaN`);
    }
    return families;
  }

  test("parses strictly and its counters, histograms and queue gauges move with a run", async () => {
    const first = await scrape();
    for (const name of ["ratchet_runs_triggered_total", "ratchet_runs_finished_total", "ratchet_dequeue_latency_seconds", "ratchet_attempt_duration_seconds",
      "ratchet_queue_depth", "ratchet_queue_oldest_age_seconds", "ratchet_workers_busy", "ratchet_db_connections", "ratchet_db_pool_max", "ratchet_event_partition_bytes"]) {
      assert.ok(first.has(name), `${name} is exposed`);
    }
    assert.ok(first.get("ratchet_event_partition_bytes")!.samples.length >= 8, "every day partition has its size");
    assert.equal(sampleValue(first, "ratchet_db_pool_max"), t.config.dbPoolSize);
    assert.ok(sampleValue(first, "ratchet_db_connections", { state: "active" }) >= 1, "the scrape's own connection is active");
    const task = { task: "metered" };

    const run = await api.trigger("metered", { n: 1 });
    clock.advance(1500);
    const queued = await scrape();
    assert.equal(sampleValue(queued, "ratchet_runs_triggered_total", task) - sampleValue(first, "ratchet_runs_triggered_total", task), 1);
    const [queue] = queued.get("ratchet_queue_depth")!.samples.filter((sample) => sample.labels.queue?.includes("metered"));
    assert.ok(queue, "the task's queue has a depth");
    assert.equal(queue.value, 1);
    assert.equal(queue.labels.project, t.project.ref);
    assert.equal(queue.labels.environment, "dev");
    assert.equal(sampleValue(queued, "ratchet_queue_oldest_age_seconds", { queue: queue.labels.queue! }), 1.5);

    const [claimed] = await api.dequeue("w-1", 1);
    assert.equal(claimed?.id, run.id);
    await api.start("w-1", claimed);
    const executing = await scrape();
    assert.equal(executing.get("ratchet_queue_depth")!.samples.filter((sample) => sample.labels.queue === queue.labels.queue).length, 0, "an empty queue is not reported");
    assert.equal(sampleValue(executing, "ratchet_workers_busy", { environment: "dev" }), 1);
    assert.equal(sampleValue(executing, "ratchet_attempts_started_total", task) - sampleValue(first, "ratchet_attempts_started_total", task), 1);
    assert.equal(sampleValue(executing, "ratchet_dequeue_latency_seconds_count", task) - sampleValue(first, "ratchet_dequeue_latency_seconds_count", task), 1);
    assert.equal(sampleValue(executing, "ratchet_dequeue_latency_seconds_sum", task) - sampleValue(first, "ratchet_dequeue_latency_seconds_sum", task), 1.5);

    clock.advance(2000);
    assert.equal((await api.complete("w-1", claimed, { ok: true, output: "{}" })).accepted, true);
    const done = await scrape();
    const finished = { ...task, status: "COMPLETED" };
    assert.equal(sampleValue(done, "ratchet_runs_finished_total", finished) - sampleValue(first, "ratchet_runs_finished_total", finished), 1);
    const succeeded = { ...task, outcome: "success" };
    assert.equal(sampleValue(done, "ratchet_attempt_duration_seconds_count", succeeded) - sampleValue(first, "ratchet_attempt_duration_seconds_count", succeeded), 1);
    assert.equal(sampleValue(done, "ratchet_attempt_duration_seconds_sum", succeeded) - sampleValue(first, "ratchet_attempt_duration_seconds_sum", succeeded), 2);
    assert.equal(sampleValue(done, "ratchet_workers_busy", { environment: "dev" }), 0);

    const canceled = await api.trigger("metered", {});
    await api.ok("POST", `/api/v2/runs/${canceled.id}/cancel`);
    const afterCancel = await scrape();
    const canceledLabels = { ...task, status: "CANCELED" };
    assert.equal(sampleValue(afterCancel, "ratchet_runs_finished_total", canceledLabels) - sampleValue(first, "ratchet_runs_finished_total", canceledLabels), 1);
  });

  test("runs the sweepers end are counted too: a TTL expiry and a lost lease", async () => {
    const before = await scrape();
    const lost = await api.trigger("metered", {}, { maxAttempts: 1 });
    const [claimed] = await api.dequeue("w-2", 1);
    assert.equal(claimed?.id, lost.id);
    await api.start("w-2", claimed);
    // Queued after the other was taken, so it is still queued when its TTL passes.
    await api.trigger("metered", {}, { ttl: "10s" });
    clock.advance(3_600_000);
    await sweepOnce(t.app.ratchet.engine, t.app.ratchet.settings);
    const after = await scrape();
    const delta = (status: string) =>
      sampleValue(after, "ratchet_runs_finished_total", { task: "metered", status }) - sampleValue(before, "ratchet_runs_finished_total", { task: "metered", status });
    assert.equal(delta("EXPIRED"), 1);
    assert.equal(delta("FAILED"), 1);
    const failed = { task: "metered", outcome: "failure" };
    assert.equal(sampleValue(after, "ratchet_attempt_duration_seconds_count", failed) - sampleValue(before, "ratchet_attempt_duration_seconds_count", failed), 1);
  });

  test("without a token only direct loopback scrapers are answered", async () => {
    const remote = await t.app.inject({ method: "GET", url: "/metrics", remoteAddress: "10.1.2.3" });
    assert.equal(remote.statusCode, 403);
    assert.equal(remote.json().code, "FORBIDDEN");
    const proxied = await t.app.inject({ method: "GET", url: "/metrics", headers: { "x-forwarded-for": "10.1.2.3" } });
    assert.equal(proxied.statusCode, 403, "a proxy on the same host does not make its clients local");
    // A tenant's API key is no way in either: /metrics is the operator's.
    const withKey = await t.app.inject({ method: "GET", url: "/metrics", remoteAddress: "10.1.2.3", headers: { authorization: `Bearer ${api.key}` } });
    assert.equal(withKey.statusCode, 403);
  });

  test("with RATCHET_METRICS_TOKEN every scraper needs the bearer token", async () => {
    const token = "metrics-token-0123456789";
    const app = await buildApp({
      config: loadConfig({ DATABASE_URL: t.database.url, RATCHET_LOG_LEVEL: "silent", RATCHET_METRICS_TOKEN: token }),
      db: t.database.db,
      logger: pino({ level: "silent" }),
      sweeper: false,
    });
    try {
      assert.equal((await app.inject({ method: "GET", url: "/metrics" })).statusCode, 401, "loopback needs it too");
      assert.equal((await app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${token}x` } })).statusCode, 401);
      assert.equal((await app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${api.key}` } })).statusCode, 401);
      const ok = await app.inject({ method: "GET", url: "/metrics", remoteAddress: "10.1.2.3", headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.statusCode, 200);
      parsePrometheusText(ok.body);
    } finally {
      await app.close();
    }
  });

  test("the parser is strict", () => {
    assert.throws(() => parsePrometheusText("x 1\n"), /no TYPE/);
    assert.throws(() => parsePrometheusText("# TYPE x counter\nx{a=\"b} 1\n"), /unterminated/);
    assert.throws(() => parsePrometheusText("# TYPE x counter\nx one\n"), /not a value/);
    assert.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'), /decreases/);
    assert.throws(() => parsePrometheusText("# TYPE x counter\nx 1"), /newline/);
  });
});
