// Ratchet next to graphile-worker and pg-boss on one Postgres: throughput of no-op runs and what the
// drain costs (bench/cost.ts), trigger → start latency on an idle system and at a steady 500 and 2,000 runs/s
// (bench/scenarios/steady-rate.ts), (Ratchet only) whether a queue's concurrency limit holds, and
// backlog scaling (bench/scenarios/backlog.ts). Each system gets its own database per round; systems
// alternate A B C D A B C D over the rounds. Then, once each on a fresh database, fairness between
// environments (bench/scenarios/fairness.ts).
// Usage: npm run bench [-- --quick] [-- --rounds 3 --runs 20000 --samples 200] [-- --only <name>]
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { cpus, platform, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeWorkerUtils } from "graphile-worker";
import PgBoss from "pg-boss";
import postgres from "postgres";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";
import { findPostmaster, startCostMeter, type CostSample } from "./cost.ts";
import { silentLogger, startGraphileRunner } from "./graphile.ts";
import { completedRuns, pacedStarts, startRatchetStack, unwrapNumber } from "./ratchet-stack.ts";
import { graphileBacklog, ratchetBacklog, type BacklogResult } from "./scenarios/backlog.ts";
import { graphileFairness, ratchetFairness, settleMs, type FairnessOptions, type FairnessResult } from "./scenarios/fairness.ts";
import { steadyRate, type PacedStart, type PacedTarget } from "./scenarios/steady-rate.ts";
import { percentile } from "./stats.ts";
import { sleep, waitUntil } from "./wait.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    runs: { type: "string" },
    samples: { type: "string" },
    // Runs only the systems whose name contains this text (while profiling one of them).
    only: { type: "string" },
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
// For the same reason pg-boss's idle latency samples (half a second each) are fewer in a quick run.
const pgBossSamples = quick ? Math.min(samples, 25) : samples;
// Steady arrivals: one run every 2 ms, then one every 0.5 ms, for this long (pg-boss, which runs
// about 40 a second, for less and at the first rate only: every run it is sent beyond that only
// waits longer behind the others).
const steadyRates = [500, 2_000];
const steadyMs = quick ? 1_000 : 10_000;
const pgBossSteadyMs = quick ? 250 : 2_000;
// Fairness, once per system after the rounds; backlog scaling, last in every round.
const fairness: FairnessOptions = {
  backlog: quick ? 10_000 : 100_000,
  bRuns: 100,
  bRatePerSecond: 50,
  environments: 10,
  windowMs: quick ? 3_000 : 10_000,
  // More than an environment can run in the window at 2 slots (a no-op takes a few ms at best).
  perEnvironment: quick ? 1_200 : 4_000,
  concurrency,
};
const backlogSizes = quick ? [10_000, 100_000] : [10_000, 1_000_000];
const backlogMeasured = quick ? 1_000 : 2_000;

const log = (message: string) => console.error(`[bench] ${message}`);
const count = (value: number) => value.toLocaleString("en-US");

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
  /** Runs triggered one by one at a steady rate (bench/scenarios/steady-rate.ts). */
  paced: PacedTarget;
  /** Processes of the system outside this one, whose CPU and memory count as its cost (Ratchet's worker). */
  costPids?: number[];
  /** Backlog scaling (bench/scenarios/backlog.ts), the last thing a round does with the harness. */
  backlog?(options: { sizes: number[]; measured: number }): Promise<BacklogResult[]>;
  close(): Promise<void>;
}

interface SystemSpec {
  name: string;
  runs: number;
  samples: number;
  steadyMs: number;
  /** The steady arrival rates it is measured at, runs per second. */
  steadyRates: number[];
  start(url: string): Promise<Harness>;
}

// --- Ratchet: the HTTP server in this process, `ratchet worker` as a child process ---------------

async function startRatchet(url: string): Promise<Harness> {
  const stack = await startRatchetStack(url, 1);
  try {
    const environment = stack.environments[0]!;
    const worker = await stack.startWorker(environment, concurrency);
    const { probe } = stack;
    const api = (path: string, body: unknown) => stack.api(environment, path, body);
    const trigger = async (task: string, count: number) => {
      for (let sent = 0; sent < count; sent += batchSize) {
        const items = Array.from({ length: Math.min(batchSize, count - sent) }, () => ({ task, payload: {} }));
        await api("/api/v2/tasks/batch", { items });
      }
    };
    const completed = (task: string) => completedRuns(probe, environment.id, task);

    return {
      enqueueNoops: (count) => trigger("noop", count),
      completedNoops: () => completed("noop"),
      async latencySample() {
        const before = await completed("stamp");
        const enqueuedAt = Date.now();
        await stack.trigger(environment, "stamp", {});
        await waitUntil("a stamp run", () => completed("stamp"), (n) => n > before, 30_000, 5);
        const [row] = await probe<{ output: string | null }[]>`
          select output::text as output from ratchet.runs where task_identifier = 'stamp' and status = 'COMPLETED' order by id desc limit 1`;
        return unwrapNumber(row!.output) - enqueuedAt;
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
      paced: {
        enqueuePaced: (t) => stack.trigger(environment, "paced", { t }),
        pacedStarts: (count) => pacedStarts(probe, environment.id, count),
      },
      costPids: [worker.pid],
      backlog: (options) =>
        ratchetBacklog(
          {
            sql: stack.db.sql,
            probe,
            environmentId: environment.id,
            setQueuePaused: (task, paused) => stack.setQueuePaused(environment, task, paused),
          },
          options,
        ),
      close: () => stack.close(),
    };
  } catch (error) {
    await stack.close();
    throw error;
  }
}

// --- graphile-worker ----------------------------------------------------------------------------

async function startGraphileWorker(url: string, fast: boolean): Promise<Harness> {
  let stamped: ((at: number) => void) | undefined;
  const paced: PacedStart[] = [];
  const runner = await startGraphileRunner(url, {
    fast,
    concurrency,
    taskList: {
      noop: async () => {},
      stamp: async () => {
        stamped?.(Date.now());
      },
      paced: async (payload) => {
        paced.push({ sent: (payload as { t: number }).t, started: Date.now() });
      },
    },
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger: silentLogger });
  const probe = postgres(url, { max: 2, onnotice: () => {} });
  let enqueued = 0;
  let running = true;
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
    paced: {
      async enqueuePaced(t) {
        await utils.addJob("paced", { t });
      },
      pacedStarts: (count) => waitUntil("paced jobs", async () => paced.length, (n) => n >= count, 10 * 60_000, 10).then(() => paced),
    },
    // Its own runner, serving only the backlog task: this one stops first.
    async backlog(options) {
      running = false;
      await runner.stop();
      return graphileBacklog(url, { ...options, concurrency, fast });
    },
    async close() {
      if (running) await runner.stop();
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
  await boss.createQueue("paced");
  const options = { batchSize: concurrency, pollingIntervalSeconds: 0.5 };
  await boss.work("noop", options, async () => {});
  let stamped: ((at: number) => void) | undefined;
  await boss.work("stamp", options, async () => {
    stamped?.(Date.now());
  });
  const paced: PacedStart[] = [];
  await boss.work<{ t: number }>("paced", options, async (jobs) => {
    const started = Date.now();
    for (const job of jobs) paced.push({ sent: job.data.t, started });
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
    paced: {
      async enqueuePaced(t) {
        await boss.send("paced", { t });
      },
      pacedStarts: (count) => waitUntil("paced jobs", async () => paced.length, (n) => n >= count, 10 * 60_000, 10).then(() => paced),
    },
    async close() {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      await probe.end({ timeout: 5 });
    },
  };
}

// --- the rounds ---------------------------------------------------------------------------------

const allSystems: SystemSpec[] = [
  { name: "Ratchet", runs: runCount, samples, steadyMs, steadyRates, start: startRatchet },
  { name: "graphile-worker (defaults)", runs: runCount, samples, steadyMs, steadyRates, start: (url) => startGraphileWorker(url, false) },
  { name: "graphile-worker (local queue 100, batched completion)", runs: runCount, samples, steadyMs, steadyRates, start: (url) => startGraphileWorker(url, true) },
  { name: "pg-boss (batchSize 20, polling 0.5 s)", runs: pgBossRunCount, samples: pgBossSamples, steadyMs: pgBossSteadyMs, steadyRates: steadyRates.slice(0, 1), start: startPgBoss },
];
const selected = (name: string) => name.startsWith("Ratchet") || !values.only || name.includes(values.only);
const systems = allSystems.filter((system) => selected(system.name));

interface Result {
  throughput: number[];
  cost: CostSample[];
  latency: number[];
  /** Per steady rate: every round's latencies, and each round's achieved send and start rates. */
  steady: Map<number, { latencies: number[]; sent: number[]; started: number[] }>;
  limits: number[];
  /** Per round, one result per backlog size. */
  backlog: BacklogResult[][];
}
const results = new Map<string, Result>(
  systems.map((system) => [system.name, { throughput: [], cost: [], latency: [], steady: new Map(system.steadyRates.map((rate) => [rate, { latencies: [], sent: [], started: [] }])), limits: [], backlog: [] }]),
);

/** Scenarios that run once per system after the rounds, each on a fresh database. */
interface Scenario<T> {
  name: string;
  run(url: string): Promise<T>;
}
const fairnessScenarios = ([
  { name: "Ratchet (a worker per environment)", run: (url) => ratchetFairness(url, fairness) },
  { name: "graphile-worker (defaults), a runner per environment", run: (url) => graphileFairness(url, fairness, true) },
  // A shared runner takes jobs oldest first, so the first environment's block must outlast the
  // window: twenty times the demand, more than the runner gets through in the window.
  { name: "graphile-worker (defaults), one shared runner", run: (url) => graphileFairness(url, { ...fairness, perEnvironment: fairness.perEnvironment * 20 }, false) },
] satisfies Scenario<FairnessResult>[]).filter((scenario) => selected(scenario.name));
const fairnessResults = new Map<string, FairnessResult>();

async function drain(harness: Harness, count: number): Promise<number> {
  const base = await harness.completedNoops();
  const started = performance.now();
  await harness.enqueueNoops(count);
  if (count > warmupRuns) log(`enqueued ${count} in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  await waitUntil("runs to drain", () => harness.completedNoops(), (n) => n - base >= count, 15 * 60_000, pollMs);
  return performance.now() - started;
}

const server = await startScratchServer(process.env.DATABASE_URL);
const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
const postgresVersion = (await admin<{ version: string }[]>`select version()`)[0]!.version;
const postmaster = await findPostmaster(server.adminUrl, admin);
await admin.end({ timeout: 5 });

async function onFreshDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `bench_${randomBytes(4).toString("hex")}`;
  await createDatabase(server.adminUrl, name);
  try {
    return await work(server.urlFor(name));
  } finally {
    await dropDatabase(server.adminUrl, name).catch(() => {});
  }
}

try {
  for (let round = 1; round <= rounds; round += 1) {
    for (const system of systems) {
      const result = results.get(system.name)!;
      await onFreshDatabase(async (url) => {
        let harness: Harness | undefined;
        try {
          harness = await system.start(url);
          await drain(harness, warmupRuns);
          const meter = startCostMeter(postmaster, harness.costPids);
          const ms = await drain(harness, system.runs);
          result.cost.push(meter.stop());
          const rate = system.runs / (ms / 1000);
          result.throughput.push(rate);
          log(`round ${round} ${system.name}: ${system.runs} runs in ${(ms / 1000).toFixed(2)} s = ${rate.toFixed(0)} runs/s`);
          await sleep(500);
          for (let i = 0; i < system.samples + 3; i += 1) {
            const ms = await harness.latencySample();
            if (i >= 3) result.latency.push(ms);
            await sleep(20 + Math.random() * (harness.arrivalWindowMs ?? 100));
          }
          log(`round ${round} ${system.name}: latency p50 ${percentile(result.latency.slice(-system.samples), 50).toFixed(1)} ms`);
          let pacedSoFar = 0;
          for (const rate of system.steadyRates) {
            const steady = await steadyRate(harness.paced, rate, system.steadyMs, pacedSoFar);
            pacedSoFar += steady.latencies.length;
            const measured = result.steady.get(rate)!;
            measured.latencies.push(...steady.latencies);
            measured.sent.push(steady.sentPerSecond);
            measured.started.push(steady.startedPerSecond);
            log(`round ${round} ${system.name}: at ${steady.sentPerSecond.toFixed(0)} runs/s, started ${steady.startedPerSecond.toFixed(0)}/s, latency p50 ${percentile(steady.latencies, 50).toFixed(1)} p99 ${percentile(steady.latencies, 99).toFixed(1)} ms`);
            await sleep(500);
          }
          if (harness.limits) {
            const most = await harness.limits(limitedRuns);
            result.limits.push(most);
            log(`round ${round} ${system.name}: at most ${most} executing on a queue limited to 5`);
          }
          if (harness.backlog) {
            const sizes = await harness.backlog({ sizes: backlogSizes, measured: backlogMeasured });
            result.backlog.push(sizes);
            log(`round ${round} ${system.name}: ${sizes.map((size) => `${size.runsPerSecond.toFixed(0)} runs/s with ${count(size.queued)} queued`).join(", ")}`);
          }
        } finally {
          await harness?.close();
        }
      });
    }
  }
  for (const scenario of fairnessScenarios) {
    const result = await onFreshDatabase(scenario.run);
    fairnessResults.set(scenario.name, result);
    log(`fairness ${scenario.name}: B's wait p50 ${percentile(result.bWaits, 50).toFixed(1)} ms; Jain's index ${result.jain.toFixed(3)}`);
  }
} finally {
  await server.stop();
}

// --- the report ---------------------------------------------------------------------------------

const median = (values: number[]) => percentile(values, 50);
const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;
const mib = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(0) : "n/a");
const seconds = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "n/a");
const ratchet = results.get("Ratchet")!;
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
const cpu = cpus();
const roundsText = `${rounds} round${rounds === 1 ? "" : "s"}`;
/** Per 1,000 runs of the drain, median over the rounds. */
const per1000 = (system: SystemSpec, pick: (sample: CostSample) => number) => median(results.get(system.name)!.cost.map((sample) => pick(sample) / (system.runs / 1000)));
const peak = (pick: (sample: CostSample) => number) => Math.max(...ratchet.cost.map(pick));
const [smallBacklog, largeBacklog] = backlogSizes as [number, number];
const lines = [
  `## Ratchet, graphile-worker and pg-boss on one Postgres`,
  ``,
  `- Machine: ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${platform()} ${release()}`,
  `- Node ${process.version}; ${postgresVersion}${process.env.DATABASE_URL ? "" : " (embedded, fsync off)"}`,
  `- Command: \`${command}\` — ${roundsText}, systems alternating each round, a fresh database per system per round; fairness once per system after the rounds`,
  `- Every system runs ${concurrency} jobs at once. Ratchet is its HTTP server plus \`ratchet worker --concurrency ${concurrency}\` (a child process), runs triggered over HTTP in batches of ${batchSize}; graphile-worker ${await versionOf("graphile-worker")} and pg-boss ${await versionOf("pg-boss")} run in the benchmark's process and enqueue with their bulk insert (\`addJobs\`, \`insert\`).`,
  ``,
  `### Throughput: no-op runs, first enqueue to last completion`,
  ``,
  `| system | runs | runs/s (median) | ratio to Ratchet |`,
  `| --- | ---: | ---: | ---: |`,
  ...systems.map((system) => {
    const value = median(results.get(system.name)!.throughput);
    return `| ${system.name} | ${count(system.runs)} | ${value.toFixed(0)} | ${ratio(value, median(ratchet.throughput))} |`;
  }),
  ``,
  `pg-boss fetches at most one batch per polling interval, so it gets ${count(pgBossRunCount)} runs to keep the round short; its rate does not depend on the backlog.`,
  ``,
  `### Cost of that drain`,
  ``,
  `| system | Postgres CPU s per 1,000 runs | system's own CPU s per 1,000 runs |`,
  `| --- | ---: | ---: |`,
  ...systems.map((system) => `| ${system.name} | ${seconds(per1000(system, (sample) => sample.postgresCpu))} | ${seconds(per1000(system, (sample) => sample.appCpu))} |`),
  ``,
  `| Ratchet process | peak RSS MiB |`,
  `| --- | ---: |`,
  `| server (the benchmark's process, which hosts it) | ${mib(peak((sample) => sample.peakRss.self))} |`,
  `| \`ratchet worker\` | ${mib(peak((sample) => sample.peakRss.watched[0]?.own ?? Number.NaN))} |`,
  `| \`ratchet worker\` with its attempt processes (PSS) | ${mib(peak((sample) => sample.peakRss.watched[0]?.tree ?? Number.NaN))} |`,
  ``,
  `CPU is user + system time from /proc over the drain above, enqueueing included, per 1,000 runs (median over the rounds): Postgres is the postmaster and every process under it${postmaster === null ? " (n/a: Postgres does not run on this machine)" : ""}, including the benchmark's own count query every ${pollMs} ms, the same for every system; a system's own CPU is the benchmark's process (Ratchet's server; graphile-worker and pg-boss themselves) plus, for Ratchet, the worker and its attempt processes. Memory is the peak of samples every 250 ms during the drain: RSS (VmRSS) of the server's and the worker's process, and for the worker with the attempt processes it forks (one per run in hand) their PSS, in which pages they share count once.`,
  ``,
  `### Latency: trigger → start of the run's body, one run at a time on an idle system (${samples} samples × ${roundsText}${systems.some((system) => system.samples !== samples) ? `; pg-boss ${pgBossSamples} samples` : ""})`,
  ``,
  `| system | p50 ms | p90 ms | p99 ms | p50 ratio to Ratchet |`,
  `| --- | ---: | ---: | ---: | ---: |`,
  ...systems.map((system) => {
    const values = results.get(system.name)!.latency;
    return `| ${system.name} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 90).toFixed(1)} | ${percentile(values, 99).toFixed(1)} | ${ratio(percentile(values, 50), percentile(ratchet.latency, 50))} |`;
  }),
  ``,
  `Measured from just before the enqueue call (Ratchet: the HTTP trigger request) to \`Date.now()\` at the start of the task's body (Ratchet: in the worker's run process). Samples start 20–120 ms after the previous one finished (pg-boss: 20–520 ms, so arrivals spread over its polling interval; each of its samples takes half a second, hence fewer of them in a quick run).`,
  ``,
  `Completions are counted by polling SQL every ${pollMs} ms, so a drain that takes under a second or so is only roughly timed.`,
  ``,
  ...steadyRates.flatMap((rate) => {
    const measuredAt = systems.filter((system) => system.steadyRates.includes(rate));
    return [
      `### Latency at a steady ${count(rate)} runs/s: runs triggered one by one, one every ${1000 / rate} ms (${roundsText})`,
      ``,
      `| system | runs per round | sent/s | started/s | p50 ms | p90 ms | p99 ms |`,
      `| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
      ...measuredAt.map((system) => {
        const measured = results.get(system.name)!.steady.get(rate)!;
        const values = measured.latencies;
        return `| ${system.name} | ${count(Math.round((rate * system.steadyMs) / 1000))} | ${median(measured.sent).toFixed(0)} | ${median(measured.started).toFixed(0)} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 90).toFixed(1)} | ${percentile(values, 99).toFixed(1)} |`;
      }),
      ``,
      `Each run's payload carries the moment it was sent and its body notes when it started (Ratchet: the \`paced\` task returns \`Date.now()\`); sends do not wait for the previous one to return. "started/s" is runs over the time from the first send to the last start: below ${count(rate)} the system did not keep up, and its latency is mostly waiting behind earlier arrivals, growing with the length of the test${measuredAt.some((system) => system.steadyMs !== steadyMs) ? ` (pg-boss gets ${pgBossSteadyMs / 1000} s of arrivals instead of ${steadyMs / 1000} s)` : ""}.${systems.length > measuredAt.length ? ` Not measured at this rate: ${systems.filter((system) => !measuredAt.includes(system)).map((system) => system.name).join(", ")}, which does not keep up with the first.` : ""}`,
      ``,
    ];
  }),
  ...(fairnessScenarios.length === 0
    ? []
    : [
        `### Fairness: environment A with ${count(fairness.backlog)} queued runs, environment B triggering ${fairness.bRuns} runs at ${fairness.bRatePerSecond}/s`,
        ``,
        `| system | B's wait p50 ms | B's wait p90 ms | B's wait p99 ms | A's runs still queued after B's last start |`,
        `| --- | ---: | ---: | ---: | ---: |`,
        ...fairnessScenarios.map((scenario) => {
          const result = fairnessResults.get(scenario.name)!;
          return `| ${scenario.name} | ${percentile(result.bWaits, 50).toFixed(1)} | ${percentile(result.bWaits, 90).toFixed(1)} | ${percentile(result.bWaits, 99).toFixed(1)} | ${count(result.aStillQueued)} |`;
        }),
        ``,
        `A and B have ${concurrency / 2} slots each; A's backlog is loaded straight into the tables, B's runs are triggered one by one (Ratchet: over HTTP) and the wait is trigger → start of the body. graphile-worker has no environments: an environment is a task identifier, served either by its own runner (as Ratchet gives each environment its own worker) or by one shared runner, which takes jobs oldest first, so B's jobs wait for A's whole backlog ahead of them. Compare with the idle latency above. pg-boss is left out of both fairness tables: its queues are separate partitions, each with its own poller, so a queue per environment is isolated by construction.`,
        ``,
        `### Fairness: ${fairness.environments} environments with equal demand, completed runs in a ${fairness.windowMs / 1000} s window`,
        ``,
        `| system | queued per environment | completed per environment, min – max | total completed | Jain's index | environments that ran out of work |`,
        `| --- | ---: | ---: | ---: | ---: | ---: |`,
        ...fairnessScenarios.map((scenario) => {
          const result = fairnessResults.get(scenario.name)!;
          const total = result.completed.reduce((sum, n) => sum + n, 0);
          return `| ${scenario.name} | ${count(result.queuedPerEnvironment)} | ${Math.min(...result.completed)} – ${Math.max(...result.completed)} | ${count(total)} | ${result.jain.toFixed(3)} | ${result.ranDry} |`;
        }),
        ``,
        `Every environment has more runs queued than it can run in the window and may run ${Math.floor(concurrency / fairness.environments)} at once (Ratchet: a concurrency override on its queue, set through the API, with every worker warmed up first; graphile-worker: the runner's concurrency). The window opens ${settleMs} ms after the first run starts anywhere. Jain's index (Σx)² / (n·Σx²) over the completed counts is 1 when every environment got the same and 1/${fairness.environments} when one got everything.`,
        ``,
      ]),
  `### Backlog scaling: the first ${count(backlogMeasured)} runs off a queue holding ${count(smallBacklog)} vs ${count(largeBacklog)} (median of ${roundsText})`,
  ``,
  `| system | runs/s (time for the ${count(backlogMeasured)}) with ${count(smallBacklog)} queued | the same with ${count(largeBacklog)} queued | ratio |`,
  `| --- | ---: | ---: | ---: |`,
  ...systems
    .filter((system) => results.get(system.name)!.backlog.length > 0)
    .map((system) => {
      const rounds = results.get(system.name)!.backlog;
      const [small, large] = [0, 1].map((i) => ({
        rate: median(rounds.map((sizes) => sizes[i]!.runsPerSecond)),
        ms: median(rounds.map((sizes) => sizes[i]!.ms)),
      })) as [{ rate: number; ms: number }, { rate: number; ms: number }];
      return `| ${system.name} | ${small.rate.toFixed(0)} (${small.ms.toFixed(0)} ms) | ${large.rate.toFixed(0)} (${large.ms.toFixed(0)} ms) | ${ratio(large.rate, small.rate)} |`;
    }),
  ``,
  `Last in each round, on that round's database: the backlog is loaded straight into the tables (Ratchet: runs and queue entries while the task's queue is paused through the API, then resumed through the API, so the worker is warm; graphile-worker: \`add_jobs\`, then a runner with the same settings serving only that task). The rate is starts per second from the first of the ${count(backlogMeasured)} runs to start to the last; a ratio near 1× means taking runs off the queue does not slow down as it grows, though a rate timed over a few tens of milliseconds is rough. pg-boss is left out: it takes one batch per polling interval whatever the backlog (see throughput).`,
  ``,
  `### Limits: Ratchet, ${limitedRuns} runs of 50 ms on a queue with concurrencyLimit 5`,
  ``,
  `| system | most executing at once (max over rounds) | limit |`,
  `| --- | ---: | ---: |`,
  `| Ratchet | ${Math.max(...ratchet.limits)} | 5 |`,
  ``,
  ...targetLines(),
];
const report = lines.join("\n");
console.log(report);
await writeFile(join(root, "bench/last-report.md"), `${report}\n`);

/** The performance targets (docs/benchmarks.md) against this run's figures, for the systems measured. */
function targetLines(): string[] {
  const batched = results.get("graphile-worker (local queue 100, batched completion)");
  const throughput = median(ratchet.throughput);
  const steadyRow = (rate: number, p99Target: number) => {
    const measured = ratchet.steady.get(rate);
    if (!measured || measured.latencies.length === 0) return [];
    const p99 = percentile(measured.latencies, 99);
    const started = median(measured.started);
    const keptUp = started >= rate * 0.97;
    return [`| steady ${count(rate)} runs/s: kept up, p99 | ≤ ${p99Target} ms | ${keptUp ? "kept up" : `started ${started.toFixed(0)}/s`}, p99 ${p99.toFixed(0)} ms | ${keptUp && p99 <= p99Target ? "yes" : "no"} |`];
  };
  const equal = fairnessResults.get("Ratchet (a worker per environment)");
  const equalRate = equal ? equal.completed.reduce((sum, n) => sum + n, 0) / (fairness.windowMs / 1000) : Number.NaN;
  const yes = (met: boolean) => (met ? "yes" : "no");
  const postgresCpu = per1000(systems[0]!, (sample) => sample.postgresCpu);
  const workerPss = peak((sample) => sample.peakRss.watched[0]?.tree ?? Number.NaN);
  const serverRss = peak((sample) => sample.peakRss.self);
  const [idle50, idle99] = [percentile(ratchet.latency, 50), percentile(ratchet.latency, 99)];
  return [
    `### Against the targets`,
    ``,
    `| figure | target | this run | met? |`,
    `| --- | --- | --- | --- |`,
    ...(batched ? [`| throughput, no-op runs | ≥ 1.0× graphile-worker batched (≥ 4,000 runs/s first) | ${throughput.toFixed(0)} runs/s, ${ratio(throughput, median(batched.throughput))} of ${median(batched.throughput).toFixed(0)} | ${yes(throughput >= median(batched.throughput))} |`] : []),
    `| idle trigger → start p50 / p99 | ≤ 3 / 10 ms | ${idle50.toFixed(1)} / ${idle99.toFixed(1)} ms | ${yes(idle50 <= 3 && idle99 <= 10)} |`,
    ...steadyRow(500, 50),
    ...steadyRow(2_000, 100),
    `| Postgres CPU per 1,000 runs | ≤ 0.25 s | ${seconds(postgresCpu)} s | ${Number.isFinite(postgresCpu) ? yes(postgresCpu <= 0.25) : "n/a"} |`,
    `| worker with ${concurrency} slots (PSS) / server RSS | ≤ 300 / 200 MiB | ${mib(workerPss)} / ${mib(serverRss)} MiB | ${yes(workerPss <= 300 * 2 ** 20 && serverRss <= 200 * 2 ** 20)} |`,
    ...(equal
      ? [`| runs/s, ${fairness.environments} environments × ${Math.floor(concurrency / fairness.environments)} slots | ≥ 80% of one environment with ${concurrency} | ${equalRate.toFixed(0)} runs/s, ${((equalRate / throughput) * 100).toFixed(0)}% of ${throughput.toFixed(0)} | ${yes(equalRate >= 0.8 * throughput)} |`]
      : []),
    ``,
    `The ${fairness.environments}-environment rate is the equal-demand fairness window's completed runs per second; the one-environment rate is the throughput drain's.`,
    ``,
  ];
}

async function versionOf(pkg: string): Promise<string> {
  return (JSON.parse(await readFile(join(root, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
}
