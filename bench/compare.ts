// Ratchet next to graphile-worker and pg-boss on one Postgres: throughput of no-op runs, trigger →
// start latency on an idle system, and (Ratchet only) whether a queue's concurrency limit holds.
// Each system gets its own database per round; systems alternate A B C D A B C D over the rounds.
// Usage: npm run bench [-- --quick] [-- --rounds 3 --runs 20000 --samples 200]
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { cpus, platform, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Logger, makeWorkerUtils, run as runGraphileWorker } from "graphile-worker";
import PgBoss from "pg-boss";
import { pino } from "pino";
import postgres from "postgres";
import { buildApp } from "../server/app.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { loadConfig } from "../server/config.ts";
import { connect } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { percentile } from "./stats.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    runs: { type: "string" },
    samples: { type: "string" },
  },
});
const quick = values.quick;
const rounds = Number(values.rounds ?? (quick ? 1 : 3));
const runCount = Number(values.runs ?? (quick ? 2_000 : 20_000));
const samples = Number(values.samples ?? (quick ? 50 : 200));
const limitedRuns = quick ? 100 : 400;
const concurrency = 20;
const batchSize = 1000;
const pollMs = 50;
const warmupRuns = 50;
// pg-boss fetches one batch per polling interval (at least 0.5 s), so at 20 jobs per fetch it drains
// about 40 jobs/s whatever the backlog: it gets fewer runs so a round ends in reasonable time.
const pgBossRunCount = Math.min(runCount, quick ? 500 : 2_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) => console.error(`[bench] ${message}`);

/** One system under test, started on a fresh database. */
interface Harness {
  /** Enqueues `count` no-op runs in batches of at most 1000. */
  enqueueNoops(count: number): Promise<void>;
  /** How many no-op runs have finished since the harness started. */
  completedNoops(): Promise<number>;
  /** One run on an idle system: ms from the enqueue call to its body starting. */
  latencySample(): Promise<number>;
  /** Latency samples start at a random moment in this window after the previous one: a polling
   * system's wait depends on where in its interval a job arrives. */
  arrivalWindowMs?: number;
  /** Most runs seen executing at once on a queue limited to 5 (Ratchet only). */
  limits?(count: number): Promise<number>;
  close(): Promise<void>;
}

interface SystemSpec {
  name: string;
  runs: number;
  start(url: string): Promise<Harness>;
}

async function waitUntil<T>(label: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, interval = pollMs): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${label}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(interval);
  }
}

// --- Ratchet: the HTTP server in this process, `ratchet worker` as a child process ---------------

async function startRatchet(url: string): Promise<Harness> {
  const db = connect({ url, poolSize: 10 });
  const probe = postgres(url, { max: 2, onnotice: () => {} });
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let stopWorker: (() => Promise<void>) | undefined;
  const close = async () => {
    await stopWorker?.();
    await app?.close();
    await db.close();
    await probe.end({ timeout: 5 });
  };
  try {
    await migrate(db.sql);
    const project = await tenancyBootstrap(db.sql);
    if (!project) throw new Error("a fresh database already had a project");
    const { key } = await issueSecretKey(db.sql, { environment: "prod", projectRef: project.ref });
    await db.sql`update ratchet.environments set concurrency_limit = 1000`;
    app = await buildApp({
      config: loadConfig({ DATABASE_URL: url, RATCHET_LOG_LEVEL: "silent" }),
      db,
      logger: pino({ level: "silent" }),
      sweeper: true,
    });
    const apiUrl = await app.listen({ port: 0, host: "127.0.0.1" });

    const env: NodeJS.ProcessEnv = { ...process.env, RATCHET_API_URL: apiUrl, RATCHET_SECRET_KEY: key };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [join(root, "bin/ratchet.js"), "worker", "--concurrency", String(concurrency)], {
      cwd: join(root, "bench/project"),
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    stopWorker = async () => {
      if (gone) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    };
    await waitUntil("the Ratchet worker starting", async () => (gone ? "exited" : /tasks registered as version/.test(output)), (ok) => ok !== false, 60_000).then(
      (state) => {
        if (state === "exited") throw new Error(`the Ratchet worker exited:\n${output}`);
      },
    );

    const api = async (path: string, body: unknown) => {
      const response = await fetch(`${apiUrl}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as { id: string };
    };
    const trigger = async (task: string, count: number) => {
      for (let sent = 0; sent < count; sent += batchSize) {
        const items = Array.from({ length: Math.min(batchSize, count - sent) }, () => ({ task, payload: {} }));
        await api("/api/v2/tasks/batch", { items });
      }
    };
    const completed = async (task: string) =>
      Number((await probe<{ n: string }[]>`select count(*) as n from ratchet.runs where task_identifier = ${task} and status = 'COMPLETED'`)[0]!.n);

    return {
      enqueueNoops: (count) => trigger("noop", count),
      completedNoops: () => completed("noop"),
      async latencySample() {
        const before = await completed("stamp");
        const enqueuedAt = Date.now();
        await api("/api/v1/tasks/stamp/trigger", { payload: {} });
        await waitUntil("a stamp run", () => completed("stamp"), (n) => n > before, 30_000, 5);
        const [row] = await probe<{ output: string | null }[]>`
          select output::text as output from ratchet.runs where task_identifier = 'stamp' and status = 'COMPLETED' order by id desc limit 1`;
        return unwrapNumber(JSON.parse(row!.output ?? "null")) - enqueuedAt;
      },
      async limits(count) {
        let most = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const [row] = await probe<{ n: string }[]>`select count(*) as n from ratchet.executions`;
            most = Math.max(most, Number(row!.n));
            await sleep(5);
          }
        })();
        try {
          await trigger("limited", count);
          await waitUntil("limited runs", () => completed("limited"), (n) => n >= count, 120_000);
        } finally {
          sampling = false;
          await sampler;
        }
        return most;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A task's output as stored: the number itself or a serializer's envelope around it. */
function unwrapNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") return unwrapNumber(JSON.parse(value));
  if (value && typeof value === "object" && "json" in value) return unwrapNumber((value as { json: unknown }).json);
  throw new Error(`unexpected stamp output ${JSON.stringify(value)}`);
}

// --- graphile-worker ----------------------------------------------------------------------------

async function startGraphileWorker(url: string, fast: boolean): Promise<Harness> {
  const silent = new Logger(() => () => {});
  let stamped: ((at: number) => void) | undefined;
  const runner = await runGraphileWorker({
    connectionString: url,
    concurrency,
    noHandleSignals: true,
    logger: silent,
    taskList: {
      noop: async () => {},
      stamp: async () => {
        stamped?.(Date.now());
      },
    },
    // The batching settings of https://worker.graphile.org/docs/performance: a local queue that
    // fetches many jobs per query, and completions written together.
    ...(fast ? { preset: { worker: { localQueue: { size: 100 }, completeJobBatchDelay: 0 } } } : {}),
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  const probe = postgres(url, { max: 2, onnotice: () => {} });
  let enqueued = 0;
  return {
    async enqueueNoops(count) {
      for (let sent = 0; sent < count; sent += batchSize) {
        const n = Math.min(batchSize, count - sent);
        await utils.addJobs(Array.from({ length: n }, () => ({ identifier: "noop", payload: {} })));
        enqueued += n;
      }
    },
    // Finished jobs are deleted: everything enqueued minus what is left.
    async completedNoops() {
      const [row] = await probe<{ n: string }[]>`select count(*) as n from graphile_worker._private_jobs`;
      return enqueued - Number(row!.n);
    },
    async latencySample() {
      const started = new Promise<number>((resolve) => (stamped = resolve));
      const enqueuedAt = Date.now();
      await utils.addJobs([{ identifier: "stamp", payload: {} }]);
      const at = await started;
      // Let the job's completion land before the next sample.
      await waitUntil("the stamp job to finish", async () => Number((await probe<{ n: string }[]>`select count(*) as n from graphile_worker._private_jobs`)[0]!.n), (n) => n === 0, 30_000, 5);
      return at - enqueuedAt;
    },
    async close() {
      await runner.stop();
      await utils.release();
      await probe.end({ timeout: 5 });
    },
  };
}

// --- pg-boss ------------------------------------------------------------------------------------

async function startPgBoss(url: string): Promise<Harness> {
  const boss = new PgBoss({ connectionString: url });
  boss.on("error", (error) => log(`pg-boss: ${error.message}`));
  await boss.start();
  await boss.createQueue("noop");
  await boss.createQueue("stamp");
  const options = { batchSize: concurrency, pollingIntervalSeconds: 0.5 };
  await boss.work("noop", options, async () => {});
  let stamped: ((at: number) => void) | undefined;
  await boss.work("stamp", options, async () => {
    stamped?.(Date.now());
  });
  const probe = postgres(url, { max: 2, onnotice: () => {} });
  const completed = async (name: string) =>
    Number((await probe<{ n: string }[]>`select count(*) as n from pgboss.job where name = ${name} and state = 'completed'`)[0]!.n);
  return {
    async enqueueNoops(count) {
      for (let sent = 0; sent < count; sent += batchSize) {
        await boss.insert(Array.from({ length: Math.min(batchSize, count - sent) }, () => ({ name: "noop", data: {} })));
      }
    },
    completedNoops: () => completed("noop"),
    arrivalWindowMs: 500,
    async latencySample() {
      const before = await completed("stamp");
      const started = new Promise<number>((resolve) => (stamped = resolve));
      const enqueuedAt = Date.now();
      await boss.send("stamp", {});
      const at = await started;
      await waitUntil("the stamp job to finish", () => completed("stamp"), (n) => n > before, 30_000, 5);
      return at - enqueuedAt;
    },
    async close() {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      await probe.end({ timeout: 5 });
    },
  };
}

// --- the rounds ---------------------------------------------------------------------------------

const systems: SystemSpec[] = [
  { name: "Ratchet", runs: runCount, start: startRatchet },
  { name: "graphile-worker (defaults)", runs: runCount, start: (url) => startGraphileWorker(url, false) },
  { name: "graphile-worker (local queue 100, batched completion)", runs: runCount, start: (url) => startGraphileWorker(url, true) },
  { name: "pg-boss (batchSize 20, polling 0.5 s)", runs: pgBossRunCount, start: startPgBoss },
];

interface Result {
  throughput: number[];
  latency: number[];
  limits: number[];
}
const results = new Map<string, Result>(systems.map((system) => [system.name, { throughput: [], latency: [], limits: [] }]));

async function drain(harness: Harness, count: number): Promise<number> {
  const base = await harness.completedNoops();
  const started = performance.now();
  await harness.enqueueNoops(count);
  if (count > warmupRuns) log(`enqueued ${count} in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  await waitUntil("runs to drain", () => harness.completedNoops(), (n) => n - base >= count, 15 * 60_000);
  return performance.now() - started;
}

const server = await startScratchServer(process.env.DATABASE_URL);
const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
const postgresVersion = (await admin<{ version: string }[]>`select version()`)[0]!.version;
await admin.end({ timeout: 5 });
try {
  for (let round = 1; round <= rounds; round += 1) {
    for (const system of systems) {
      const name = `bench_${randomBytes(4).toString("hex")}`;
      await createDatabase(server.adminUrl, name);
      const result = results.get(system.name)!;
      let harness: Harness | undefined;
      try {
        harness = await system.start(server.urlFor(name));
        await drain(harness, warmupRuns);
        const ms = await drain(harness, system.runs);
        const rate = system.runs / (ms / 1000);
        result.throughput.push(rate);
        log(`round ${round} ${system.name}: ${system.runs} runs in ${(ms / 1000).toFixed(2)} s = ${rate.toFixed(0)} runs/s`);
        await sleep(500);
        for (let i = 0; i < samples + 3; i += 1) {
          const ms = await harness.latencySample();
          if (i >= 3) result.latency.push(ms);
          await sleep(20 + Math.random() * (harness.arrivalWindowMs ?? 100));
        }
        log(`round ${round} ${system.name}: latency p50 ${percentile(result.latency.slice(-samples), 50).toFixed(1)} ms`);
        if (harness.limits) {
          const most = await harness.limits(limitedRuns);
          result.limits.push(most);
          log(`round ${round} ${system.name}: at most ${most} executing on a queue limited to 5`);
        }
      } finally {
        await harness?.close();
        await dropDatabase(server.adminUrl, name).catch(() => {});
      }
    }
  }
} finally {
  await server.stop();
}

// --- the report ---------------------------------------------------------------------------------

const median = (values: number[]) => percentile(values, 50);
const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;
const ratchet = results.get("Ratchet")!;
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
const cpu = cpus();
const lines = [
  `## Ratchet, graphile-worker and pg-boss on one Postgres`,
  ``,
  `- Machine: ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${platform()} ${release()}`,
  `- Node ${process.version}; ${postgresVersion}${process.env.DATABASE_URL ? "" : " (embedded, fsync off)"}`,
  `- Command: \`${command}\` — ${rounds} round${rounds === 1 ? "" : "s"}, systems alternating each round, a fresh database per system per round`,
  `- Every system runs ${concurrency} jobs at once. Ratchet is its HTTP server plus \`ratchet worker --concurrency ${concurrency}\` (a child process), runs triggered over HTTP in batches of ${batchSize}; graphile-worker ${await versionOf("graphile-worker")} and pg-boss ${await versionOf("pg-boss")} run in the benchmark's process and enqueue with their bulk insert (\`addJobs\`, \`insert\`).`,
  ``,
  `### Throughput: no-op runs, first enqueue to last completion`,
  ``,
  `| system | runs | runs/s (median) | ratio to Ratchet |`,
  `| --- | ---: | ---: | ---: |`,
  ...systems.map((system) => {
    const value = median(results.get(system.name)!.throughput);
    return `| ${system.name} | ${system.runs.toLocaleString("en-US")} | ${value.toFixed(0)} | ${ratio(value, median(ratchet.throughput))} |`;
  }),
  ``,
  `pg-boss fetches at most one batch per polling interval, so it gets ${pgBossRunCount.toLocaleString("en-US")} runs to keep the round short; its rate does not depend on the backlog.`,
  ``,
  `### Latency: trigger → start of the run's body, one run at a time on an idle system (${samples} samples × ${rounds} round${rounds === 1 ? "" : "s"})`,
  ``,
  `| system | p50 ms | p90 ms | p99 ms | p50 ratio to Ratchet |`,
  `| --- | ---: | ---: | ---: | ---: |`,
  ...systems.map((system) => {
    const values = results.get(system.name)!.latency;
    return `| ${system.name} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 90).toFixed(1)} | ${percentile(values, 99).toFixed(1)} | ${ratio(percentile(values, 50), percentile(ratchet.latency, 50))} |`;
  }),
  ``,
  `Measured from just before the enqueue call (Ratchet: the HTTP trigger request) to \`Date.now()\` at the start of the task's body (Ratchet: in the worker's run process). Samples start 20–120 ms after the previous one finished (pg-boss: 20–520 ms, so arrivals spread over its polling interval).`,
  ``,
  `Completions are counted by polling SQL every ${pollMs} ms, so a drain that takes under a second or so is only roughly timed.`,
  ``,
  `### Limits: Ratchet, ${limitedRuns} runs of 50 ms on a queue with concurrencyLimit 5`,
  ``,
  `| system | most executing at once (max over rounds) | limit |`,
  `| --- | ---: | ---: |`,
  `| Ratchet | ${Math.max(...ratchet.limits)} | 5 |`,
  ``,
];
const report = lines.join("\n");
console.log(report);
await writeFile(join(root, "bench/last-report.md"), `${report}\n`);

async function versionOf(pkg: string): Promise<string> {
  return (JSON.parse(await readFile(join(root, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
}
