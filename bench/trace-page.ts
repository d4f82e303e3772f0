// How long the dashboard's trace waterfall takes for a run with 5,000 spans of its own (50 groups of
// 99 nested spans and a log each, the shape test/trace-page.test.ts loads): server time (routing,
// the trace's queries, building the tree, the template) measured in-process with app.inject, p50
// over several requests. Usage: npm run bench:trace [-- --groups 50 --samples 20]
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { loadConfig } from "../server/config.ts";
import { hashSecret, newSecret, sessionCookie } from "../server/dashboard/sessions.ts";
import { connect } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";
import { attemptSpanId } from "../server/observability/span-ids.ts";
import { sessionsInsert, usersInsertAdmin } from "../server/storage/users.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { groups: { type: "string", default: "50" }, samples: { type: "string", default: "20" } } });
const groups = Number(values.groups);
const samples = Number(values.samples);

const server = await startScratchServer(process.env.DATABASE_URL);
const name = `ratchet_bench_${randomBytes(4).toString("hex")}`;
await createDatabase(server.adminUrl, name);
const db = connect({ url: server.urlFor(name), poolSize: 10 });
try {
  await migrate(db.sql);
  const project = (await tenancyBootstrap(db.sql))!;
  const { key } = await issueSecretKey(db.sql, { environment: "prod", projectRef: project.ref });
  const userId = await db.sql.begin((tx) => usersInsertAdmin(tx, { email: "bench@example.com", name: "Bench", passwordHash: "scrypt$1$1$1$x$y" }));
  const token = newSecret();
  await sessionsInsert(db.sql, { tokenHash: hashSecret(token), userId, expiresAt: new Date(Date.now() + 3_600_000) }, new Date());
  const app = await buildApp({ config: loadConfig({ DATABASE_URL: server.urlFor(name) }), db, logger: pino({ level: "silent" }), sweeper: false });
  await app.ready();

  const call = async (method: "GET" | "POST", url: string, body?: unknown) => {
    const response = await app.inject({ method, url, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, payload: body === undefined ? undefined : JSON.stringify(body) });
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
    return response.json();
  };
  // A run executing on a worker, with its task's spans and logs as the worker sends them.
  await call("POST", "/engine/v1/worker/register", { tasks: [{ id: "busy" }] });
  const runId = (await call("POST", "/api/v1/tasks/busy/trigger", { payload: {} })).id as string;
  const [claimed] = (await call("POST", "/engine/v1/dequeue", { workerId: "w-1", maxRuns: 1, waitSeconds: 0 })).runs;
  await call("POST", `/engine/v1/runs/${runId}/attempts/${claimed.attemptNumber}/start`, { workerId: "w-1" });
  const attemptSpan = attemptSpanId(runId, 1);
  const started = Date.now();
  const events: Array<Record<string, unknown>> = [];
  for (let group = 0; group < groups; group += 1) {
    const groupId = `a${group.toString(16).padStart(15, "0")}`;
    events.push({ seq: events.length, time: new Date(started + group * 100).toISOString(), kind: "span", level: "info", message: `group ${group}`, spanId: groupId, parentSpanId: attemptSpan, durationMs: 95, attributes: { "app.group": group } });
    for (let item = 0; item < 99; item += 1) {
      events.push({ seq: events.length, time: new Date(started + group * 100 + item).toISOString(), kind: "span", level: "info", message: `item ${item}`, spanId: `b${(group * 100 + item).toString(16).padStart(15, "0")}`, parentSpanId: groupId, durationMs: 1 });
    }
    events.push({ seq: events.length, time: new Date(started + group * 100 + 50).toISOString(), kind: "log", level: "warn", message: `halfway through group ${group}`, parentSpanId: groupId });
  }
  for (let from = 0; from < events.length; from += 1000) {
    await call("POST", `/engine/v1/runs/${runId}/events`, { workerId: "w-1", attemptNumber: 1, events: events.slice(from, from + 1000) });
  }
  await db.sql`vacuum analyze ratchet.events`;

  const url = `/p/${project.ref}/prod/runs/${runId}/trace`;
  const times: number[] = [];
  let bytes = 0;
  let rows = 0;
  for (let i = 0; i < samples + 3; i += 1) {
    const start = performance.now();
    const response = await app.inject({ method: "GET", url, headers: { cookie: `${sessionCookie}=${token}` } });
    const elapsed = performance.now() - start;
    if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode}`);
    bytes = response.body.length;
    rows = response.body.split('class="span-row').length - 1;
    if (i >= 3) times.push(elapsed);
  }
  await app.close();
  console.log(`Trace page, a run with ${events.length.toLocaleString()} events of its own (${rows.toLocaleString()} rows rendered, ${(bytes / 1024).toFixed(0)} KiB), ${samples} samples (server time, ms):\n`);
  console.log("| request | p50 ms | p95 ms |\n| --- | --- | --- |");
  console.log(`| trace page | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 95).toFixed(1)} |`);
} finally {
  await db.close();
  await dropDatabase(server.adminUrl, name).catch(() => {});
  await server.stop();
}
