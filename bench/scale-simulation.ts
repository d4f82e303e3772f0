// Many tenants on one Postgres behind PgBouncer: 1,000 environments × 10 queues, a million queued
// runs loaded in bulk, then 200 concurrent dequeuers as HTTP clients of 2 real server processes whose
// pools go through PgBouncer in transaction mode. Each dequeuer claims runs (POST /engine/v1/dequeue,
// start: true), completes them (POST /engine/v1/complete) and moves on to the next environment, for
// a fixed time. Reports dequeue latency, runs/s, Jain's fairness over environments and over queues,
// Postgres CPU, and whether an environment or queue ever held more runs than its limit.
// Usage: npm run bench:scale [-- --quick] [--environments 1000 --runs 1000000 --dequeuers 200 --seconds 60]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { connect } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer, withDatabase } from "../server/db/scratch.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { pgbouncerBinary, pgbouncerInstalled, startPgbouncer } from "../test/helpers/pgbouncer.ts";
import { removeDataDir, spawnServer, tempDataDir, waitUntilReady, type ServerProcess } from "../test/helpers/server-process.ts";
import { findPostmaster, startCostMeter } from "./cost.ts";
import { addProjectEnvironment, type SeededEnvironment } from "./seed.ts";
import { jainIndex, percentile } from "./stats.ts";
import { sleep } from "./wait.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    environments: { type: "string" },
    queues: { type: "string" },
    runs: { type: "string" },
    dequeuers: { type: "string" },
    servers: { type: "string" },
    seconds: { type: "string" },
    "warmup-seconds": { type: "string" },
    "max-runs": { type: "string" },
    "env-limit": { type: "string" },
    "queue-limit": { type: "string" },
    "pgbouncer-pool": { type: "string" },
  },
});
const quick = values.quick;
const option = (name: keyof typeof values, full: number, small: number) => {
  const raw = values[name];
  const value = typeof raw === "string" ? Number(raw) : quick ? small : full;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: a positive integer, got ${String(raw)}`);
  return value;
};
const environmentCount = option("environments", 1000, 50);
const queuesPerEnvironment = option("queues", 10, 10);
const runsPerQueue = Math.max(1, Math.round(option("runs", 1_000_000, 20_000) / (environmentCount * queuesPerEnvironment)));
const totalRuns = runsPerQueue * environmentCount * queuesPerEnvironment;
const dequeuerCount = option("dequeuers", 200, 20);
const serverCount = option("servers", 2, 2);
const seconds = option("seconds", 60, 10);
const warmupSeconds = option("warmup-seconds", 5, 2);
const maxRuns = option("max-runs", 4, 4);
// Two dequeuers asking for 4 each against an environment limit of 5 and queue limits of 2: both
// limits bind on most claims, so the check below has something to catch.
const environmentLimit = option("env-limit", 5, 5);
const queueLimit = option("queue-limit", 2, 2);
const pgbouncerPool = option("pgbouncer-pool", 20, 10);

if (!pgbouncerInstalled()) {
  console.error(`${pgbouncerBinary} is not installed (apt-get install pgbouncer)`);
  process.exit(1);
}

const log = (message: string) => console.error(`[scale] ${message}`);
const scratch = await startScratchServer(process.env.DATABASE_URL);
const name = `ratchet_scale_${Date.now()}`;
await createDatabase(scratch.adminUrl, name);
const url = withDatabase(scratch.adminUrl, name);
const db = connect({ url, poolSize: 4, applicationName: "ratchet-bench-seed" });
const servers: ServerProcess[] = [];
const dataDirs: string[] = [];
let bouncer: Awaited<ReturnType<typeof startPgbouncer>> | undefined;
try {
  await migrate(db.sql);
  const project = await tenancyBootstrap(db.sql);
  if (!project) throw new Error("a fresh database already had a project");

  // Tenants: one project each with a prod environment and a secret key (the default project's prod
  // environment is the first).
  let started = Date.now();
  const { issueSecretKey } = await import("../server/auth/issue-key.ts");
  const [first] = await db.sql<{ id: string }[]>`select id from ratchet.environments where project_id = ${project.id} and type = 'prod'`;
  const environments: SeededEnvironment[] = [{ id: first!.id, key: (await issueSecretKey(db.sql, { environment: "prod", projectRef: project.ref })).key, projectRef: project.ref }];
  for (let i = 1; i < environmentCount; i += 1) environments.push(await addProjectEnvironment(db.sql, `scale-${i}`, environmentLimit));
  await db.sql`update ratchet.environments set concurrency_limit = ${environmentLimit}`;
  const environmentIds = environments.map((environment) => environment.id);
  // Queues as a worker registration creates them (task/<id>, type task), all in one statement.
  await db.sql`
    insert into ratchet.queues (environment_id, name, type, concurrency_limit)
    select e.id, 'task/t' || q, 'task', ${queueLimit}
    from unnest(${environmentIds}::uuid[]) as e(id) cross join generate_series(0, ${queuesPerEnvironment - 1}) as q`;
  log(`${environmentCount} environments, ${environmentCount * queuesPerEnvironment} queues in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // The backlog, shaped as bench/seed.ts shapes it (a run and its queue entry, ids UUIDv7-like from
  // the queue time), in statements of about 100,000 runs.
  started = Date.now();
  const environmentsPerChunk = Math.max(1, Math.floor(100_000 / (queuesPerEnvironment * runsPerQueue)));
  for (let at = 0; at < environmentCount; at += environmentsPerChunk) {
    const chunk = environmentIds.slice(at, at + environmentsPerChunk);
    await db.sql`
      with q as materialized (
        select id, environment_id, name from ratchet.queues where environment_id = any(${chunk}::uuid[])
      ), s as (
        select q.id as queue_id, q.environment_id, q.name, t.t, md5(random()::text || g.n::text || q.id::text) as h
        from q cross join generate_series(1, ${runsPerQueue}) as g(n),
          lateral (select clock_timestamp() - make_interval(secs => (${runsPerQueue} - g.n) / 1000.0) as t) as t
      ), inserted as (
        insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, queued_at, created_at, updated_at)
        select
          (lpad(to_hex((extract(epoch from s.t) * 1000)::bigint), 12, '0') || '7' || substr(s.h, 1, 3) || '8' || substr(s.h, 4, 15))::uuid,
          s.environment_id, substr(s.name, 6), s.name, 'QUEUED', '{}'::json, s.t, s.t, s.t
        from s
        returning id, environment_id, queue_name, queued_at)
      insert into ratchet.queue_entries (run_id, environment_id, queue_id, sort_key, available_at, version)
      select i.id, i.environment_id, q.id, i.queued_at, i.queued_at, ''
      from inserted i join q on q.environment_id = i.environment_id and q.name = i.queue_name`;
    if (at % (environmentsPerChunk * 5) === 0) log(`seeded ${Math.min(environmentCount, at + environmentsPerChunk) * queuesPerEnvironment * runsPerQueue} runs`);
  }
  await db.sql`vacuum analyze ratchet.queue_entries`;
  await db.sql`vacuum analyze ratchet.runs`;
  await db.sql`vacuum analyze ratchet.queues`;
  const seedSeconds = (Date.now() - started) / 1000;
  log(`${totalRuns} queued runs seeded in ${seedSeconds.toFixed(1)} s`);

  // PgBouncer between every server pool and Postgres; LISTEN stays on the direct URL.
  bouncer = await startPgbouncer(url, { defaultPoolSize: pgbouncerPool, maxClientConn: dequeuerCount + 100 });
  const poolPerServer = Math.min(200, Math.max(2, Math.ceil(dequeuerCount / serverCount)));
  for (let i = 0; i < serverCount; i += 1) {
    const dataDir = await tempDataDir();
    dataDirs.push(dataDir);
    servers.push(
      await spawnServer({
        dataDir,
        env: { DATABASE_URL: bouncer.url, RATCHET_DIRECT_DATABASE_URL: url, RATCHET_DB_POOL_SIZE: String(poolPerServer), RATCHET_LOG_LEVEL: "warn" },
      }),
    );
  }
  await Promise.all(servers.map((server) => waitUntilReady(server, 120_000)));
  log(`${serverCount} servers (pool ${poolPerServer} each) through PgBouncer (default_pool_size ${pgbouncerPool})`);

  // The limits check: one statement, so one snapshot of every lease held at that instant.
  const probe = connect({ url, poolSize: 2, applicationName: "ratchet-bench-probe" });
  const postmaster = await findPostmaster(url, probe.sql);
  const overLimit = { samples: 0, environments: 0, queues: 0, maxHeld: 0, firstViolation: "" };
  // A sampling profile of Postgres: which statements are running at each probe.
  const activeStatements = new Map<string, number>();
  let activeSamples = 0;
  let measuring = false;
  let probing = true;
  const probeLoop = (async () => {
    while (probing) {
      const [row] = await probe.sql<{ envOver: number; queueOver: number; held: number; detail: string | null }[]>`
        with held as (select environment_id, queue_id from ratchet.executions),
        env_over as (
          select h.environment_id, count(*) as n, e.concurrency_limit as lim from held h join ratchet.environments e on e.id = h.environment_id
          group by h.environment_id, e.concurrency_limit having count(*) > e.concurrency_limit),
        queue_over as (
          select h.queue_id, count(*) as n, coalesce(q.concurrency_override, q.concurrency_limit) as lim from held h join ratchet.queues q on q.id = h.queue_id
          group by h.queue_id, q.concurrency_override, q.concurrency_limit having count(*) > coalesce(q.concurrency_override, q.concurrency_limit))
        select (select count(*)::int from env_over) as "envOver", (select count(*)::int from queue_over) as "queueOver",
          (select count(*)::int from held) as held,
          (select string_agg(x, '; ') from (
            select 'environment ' || environment_id || ' held ' || n || ' > ' || lim as x from env_over
            union all select 'queue ' || queue_id || ' held ' || n || ' > ' || lim from queue_over) d) as detail`;
      overLimit.samples += 1;
      overLimit.environments += row!.envOver;
      overLimit.queues += row!.queueOver;
      overLimit.maxHeld = Math.max(overLimit.maxHeld, row!.held);
      if (row!.detail && !overLimit.firstViolation) overLimit.firstViolation = row!.detail;
      if (measuring) {
        const active = await probe.sql<{ statement: string; n: number }[]>`
          select regexp_replace(left(query, 90), '[[:space:]]+', ' ', 'g') as statement, count(*)::int as n from pg_stat_activity
          where datname = current_database() and state = 'active' and pid <> pg_backend_pid() and application_name <> 'ratchet-bench-probe'
          group by 1`;
        activeSamples += 1;
        for (const { statement, n } of active) activeStatements.set(statement, (activeStatements.get(statement) ?? 0) + n);
      }
      await sleep(200);
    }
  })();

  // The dequeuers. A shared cursor hands each environment to two dequeuers in a row, so pairs
  // contend for the same environment's lock and limits while every environment is asked equally.
  const servedByEnvironment = new Array<number>(environmentCount).fill(0);
  const servedByQueue = new Map<string, number>();
  const dequeueMs: number[] = [];
  const completeMs: number[] = [];
  let dequeues = 0;
  let emptyDequeues = 0;
  let measuredRuns = 0;
  let allCompleted = 0;
  let refused = 0;
  // Failed requests are counted and the run goes on; the first few are kept to show.
  const errors: string[] = [];
  let errorCount = 0;
  let cursor = 0;
  const post = async (server: ServerProcess, key: string, path: string, body: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      // A request that never answers is a failure to count, not a hang of the whole simulation.
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  };
  const runUntil = Date.now() + (warmupSeconds + seconds) * 1000;
  const dequeuer = async (index: number) => {
    const server = servers[index % servers.length]!;
    const workerId = `scale-${index}`;
    while (Date.now() < runUntil) {
      const environmentIndex = Math.floor(cursor++ / 2) % environmentCount;
      const environment = environments[environmentIndex]!;
      try {
        const before = performance.now();
        const answer = (await post(server, environment.key, "/engine/v1/dequeue", { workerId, maxRuns, waitSeconds: 0, start: true })) as {
          runs: Array<{ id: string; attemptNumber: number; queue: string }>;
        };
        const afterDequeue = performance.now();
        const counted = measuring;
        if (counted) {
          dequeueMs.push(afterDequeue - before);
          dequeues += 1;
          if (answer.runs.length === 0) emptyDequeues += 1;
        }
        if (answer.runs.length === 0) continue;
        const completed = (await post(server, environment.key, "/engine/v1/complete", {
          workerId,
          completions: answer.runs.map((run) => ({ runId: run.id, attemptNumber: run.attemptNumber, ok: true, output: null })),
        })) as { results: Array<{ accepted: boolean }> };
        const accepted = completed.results.filter((result) => result.accepted).length;
        refused += completed.results.length - accepted;
        allCompleted += accepted;
        if (!counted) continue;
        completeMs.push(performance.now() - afterDequeue);
        measuredRuns += accepted;
        servedByEnvironment[environmentIndex]! += answer.runs.length;
        for (const run of answer.runs) {
          const queue = `${environmentIndex}/${run.queue}`;
          servedByQueue.set(queue, (servedByQueue.get(queue) ?? 0) + 1);
        }
      } catch (error) {
        errorCount += 1;
        if (errors.length < 5) errors.push((error as Error).message);
      }
    }
  };
  log(`${dequeuerCount} dequeuers for ${warmupSeconds} s warm-up + ${seconds} s`);
  const running = Array.from({ length: dequeuerCount }, (_, index) => dequeuer(index));
  await sleep(warmupSeconds * 1000);
  measuring = true;
  const loadBefore = loadavg();
  const meter = startCostMeter(postmaster, servers.map((server) => server.child.pid!));
  const bouncerMeter = startCostMeter(null, [bouncer.child.pid!]);
  const selfBefore = process.cpuUsage();
  const measureStarted = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const measuredSeconds = (performance.now() - measureStarted) / 1000;
  const cost = meter.stop();
  const bouncerCost = bouncerMeter.stop();
  const self = process.cpuUsage(selfBefore);
  const selfCpu = (self.user + self.system) / 1e6;
  const loadAfter = loadavg();
  await Promise.all(running);
  probing = false;
  await probeLoop;

  // What Postgres says happened: every run completed once, none twice.
  const [check] = await probe.sql<{ completed: number; twice: number; held: number }[]>`
    select (select count(*)::int from ratchet.runs where status = 'COMPLETED') as completed,
      (select count(*)::int from (select run_id from ratchet.attempts group by run_id having count(*) > 1) d) as twice,
      (select count(*)::int from ratchet.executions) as held`;
  await probe.close();

  const queueShares = [];
  for (let e = 0; e < environmentCount; e += 1) {
    for (let q = 0; q < queuesPerEnvironment; q += 1) queueShares.push(servedByQueue.get(`${e}/task/t${q}`) ?? 0);
  }
  // Within an environment, queues are served least-recently-served first: the spread between its
  // most- and least-served queue should stay near one claim's take from a queue (its limit), while
  // Jain over all queues also counts queues a short window had no time to reach.
  let widestSpread = 0;
  for (let e = 0; e < environmentCount; e += 1) {
    const own = queueShares.slice(e * queuesPerEnvironment, (e + 1) * queuesPerEnvironment);
    widestSpread = Math.max(widestSpread, Math.max(...own) - Math.min(...own));
  }
  const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
  const rows: Array<[string, string]> = [
    ["environments × queues", `${environmentCount} × ${queuesPerEnvironment} = ${environmentCount * queuesPerEnvironment}`],
    ["queued runs at start (seeded in)", `${totalRuns} (${fmt(seedSeconds)} s)`],
    ["dequeuers → servers → PgBouncer → Postgres", `${dequeuerCount} → ${serverCount} (pool ${poolPerServer} each) → default_pool_size ${pgbouncerPool} → 1`],
    ["limits: environment / queue / maxRuns per dequeue", `${environmentLimit} / ${queueLimit} / ${maxRuns}`],
    ["measured", `${fmt(measuredSeconds)} s after ${warmupSeconds} s warm-up`],
    ["runs dequeued and completed", `${measuredRuns} (${fmt((100 * measuredRuns) / totalRuns, 2)}% of the backlog)`],
    ["runs/s", fmt(measuredRuns / measuredSeconds, 0)],
    ["dequeues/s (empty: environment at its limit)", `${fmt(dequeues / measuredSeconds, 0)} (${fmt((100 * emptyDequeues) / Math.max(1, dequeues), 1)}% empty)`],
    ["dequeue latency p50 / p99 / max ms", `${fmt(percentile(dequeueMs, 50))} / ${fmt(percentile(dequeueMs, 99))} / ${fmt(Math.max(...dequeueMs))}`],
    ["complete latency p50 / p99 ms", `${fmt(percentile(completeMs, 50))} / ${fmt(percentile(completeMs, 99))}`],
    ["Jain, runs per environment (1 = equal)", fmt(jainIndex(servedByEnvironment), 3)],
    ["Jain, runs per queue", fmt(jainIndex(queueShares), 3)],
    ["widest spread between one environment's queues (runs)", String(widestSpread)],
    ["environments / queues served at all", `${servedByEnvironment.filter((n) => n > 0).length} / ${queueShares.filter((n) => n > 0).length}`],
    ["Postgres CPU s (per 1,000 runs)", `${fmt(cost.postgresCpu)} (${fmt((1000 * cost.postgresCpu) / measuredRuns, 2)})`],
    ["servers CPU s / PgBouncer CPU s / bench client CPU s", `${fmt(cost.appCpu - selfCpu)} / ${fmt(bouncerCost.appCpu - selfCpu)} / ${fmt(selfCpu)}`],
    ["limit samples; over an environment limit; over a queue limit", `${overLimit.samples}; ${overLimit.environments}; ${overLimit.queues}`],
    ["most leases held at once", String(overLimit.maxHeld)],
    ["runs with two attempts; completions refused", `${check!.twice}; ${refused}`],
    ["completed in Postgres / by the dequeuers", `${check!.completed} / ${allCompleted}`],
    ["failed requests", errorCount === 0 ? "0" : `${errorCount} (first: ${errors[0]})`],
    ["load average (1 min) before / after", `${fmt(loadBefore[0]!, 2)} / ${fmt(loadAfter[0]!, 2)} (2 cores, shared machine)`],
  ];
  console.log(`\nScale simulation${quick ? " (--quick)" : ""}: HTTP dequeue/complete through ${serverCount} server processes and PgBouncer (transaction mode)\n`);
  console.log("| figure | value |\n| --- | --- |");
  for (const [label, value] of rows) console.log(`| ${label} | ${value} |`);
  const profile = [...activeStatements].sort((a, b) => b[1] - a[1]).slice(0, 6);
  console.log(`\nPostgres statements running, average per sample (${activeSamples} samples):\n`);
  console.log("| statement | running |\n| --- | ---: |");
  for (const [statement, n] of profile) console.log(`| \`${statement.replaceAll("|", "\\|")}\` | ${fmt(n / Math.max(1, activeSamples), 2)} |`);
  if (overLimit.firstViolation) console.log(`\nfirst limit violation seen: ${overLimit.firstViolation}`);
  const failed = errorCount > 0 || overLimit.environments + overLimit.queues > 0 || check!.twice > 0 || check!.completed !== allCompleted || measuredRuns === 0;
  if (failed) {
    console.error("\nthe simulation found a problem (see the table)");
    for (const server of servers) if (/"level":(50|60)/.test(server.output())) console.error(server.output().slice(-3000));
    process.exitCode = 1;
  }
} finally {
  for (const server of servers) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  await bouncer?.stop();
  await Promise.all(dataDirs.map((dir) => removeDataDir(dir)));
  await db.close();
  await dropDatabase(scratch.adminUrl, name).catch(() => {});
  await scratch.stop();
}
