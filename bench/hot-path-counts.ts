// What one no-op run costs in requests and Postgres transactions, counted rather than timed, so the
// figure does not move with whatever else the machine runs: the HTTP server in this process, a
// `ratchet worker` child with the given slots, runs triggered in batches, and after the drain the
// server's requests by route and the database's committed transactions (pg_stat_database), per run.
// Where the server loads pg_stat_statements (shared_preload_libraries, through DATABASE_URL), also the
// statements that took Postgres's time, per run: where its CPU goes.
// Usage: node bench/hot-path-counts.ts [--runs 2000] [--concurrency 20]
import { parseArgs } from "node:util";
import { createDatabase, dropDatabase, startScratchServer, withDatabase } from "../server/db/scratch.ts";
import { processTreeMemory } from "./cost.ts";
import { completedRuns, startRatchetStack } from "./ratchet-stack.ts";
import { sleep, waitUntil } from "./wait.ts";

const { values } = parseArgs({ options: { runs: { type: "string" }, concurrency: { type: "string" } } });
const runs = Number(values.runs ?? 2_000);
const concurrency = Number(values.concurrency ?? 20);
const warmup = 50;

const scratch = await startScratchServer(process.env.DATABASE_URL);
const name = `ratchet_counts_${Date.now()}`;
await createDatabase(scratch.adminUrl, name);
const stack = await startRatchetStack(withDatabase(scratch.adminUrl, name), 1);
try {
  const environment = stack.environments[0]!;
  const worker = await stack.startWorker(environment, concurrency);
  const trigger = async (count: number) => {
    for (let sent = 0; sent < count; sent += 1000) {
      const items = Array.from({ length: Math.min(1000, count - sent) }, () => ({ task: "noop", payload: {} }));
      await stack.api(environment, "/api/v2/tasks/batch", { items });
    }
  };
  const drained = (total: number) => waitUntil("the drain", () => completedRuns(stack.probe, environment.id, "noop"), (n) => n >= total, 10 * 60_000);
  // Statistics reach pg_stat_database when a backend flushes them (an idle one within ~10 s).
  const transactions = async () => {
    await sleep(11_000);
    const [row] = await stack.probe<{ n: string }[]>`
      select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()`;
    return Number(row!.n);
  };
  await trigger(warmup);
  await drained(warmup);
  // pg_stat_statements, where the server has it loaded: reset now, read after the drain.
  const statements = await stack.probe`create extension if not exists pg_stat_statements`
    .then(() => stack.probe`select pg_stat_statements_reset()`)
    .then(() => true)
    .catch(() => false);
  const requestsBefore = stack.requestCounts();
  const transactionsBefore = await transactions();
  const started = Date.now();
  await trigger(runs);
  await drained(warmup + runs);
  const elapsed = Date.now() - started;
  // Memory right after the drain, every run process still warm: the worker, then its run processes.
  const [workerMemory, ...runProcesses] = processTreeMemory(worker.pid);
  const transactionsAfter = await transactions();
  const requestsAfter = stack.requestCounts();
  const lines = [...requestsAfter].map(([route, n]) => [route, n - (requestsBefore.get(route) ?? 0)] as const).filter(([, n]) => n > 0);
  console.log(`${runs} no-op runs, worker --concurrency ${concurrency}, ${(runs / (elapsed / 1000)).toFixed(0)} runs/s here (shared machine: rough)`);
  console.log("| route | requests | per run |");
  console.log("| --- | ---: | ---: |");
  for (const [route, n] of lines.sort((a, b) => b[1] - a[1])) console.log(`| ${route} | ${n} | ${(n / runs).toFixed(3)} |`);
  const total = lines.reduce((sum, [, n]) => sum + n, 0);
  console.log(`| all | ${total} | ${(total / runs).toFixed(3)} |`);
  // The benchmark's own count query (every 50 ms) and the transaction probe are in these too.
  console.log(`Postgres transactions: ${transactionsAfter - transactionsBefore} (${((transactionsAfter - transactionsBefore) / runs).toFixed(2)} per run)`);
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
  console.log(
    `Memory after the drain: worker RSS ${mib(workerMemory!.rssBytes)} MiB (PSS ${mib(workerMemory!.pssBytes)}); ${runProcesses.length} run processes, ` +
      `RSS ${mib(sum(runProcesses.map((one) => one.rssBytes)) / Math.max(1, runProcesses.length))} MiB each on average, ` +
      `PSS ${mib(sum(runProcesses.map((one) => one.pssBytes)) / Math.max(1, runProcesses.length))} MiB; ` +
      `the worker with them ${mib(workerMemory!.pssBytes + sum(runProcesses.map((one) => one.pssBytes)))} MiB PSS; ` +
      `this process (the server) RSS ${mib(process.memoryUsage().rss)} MiB, heap used ${mib(process.memoryUsage().heapUsed)} MiB`,
  );
  if (statements) {
    const rows = await stack.probe<{ query: string; calls: string; ms: number; rows: string }[]>`
      select left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 110) as query, calls, total_exec_time as ms, rows
      from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
      order by total_exec_time desc limit 15`;
    const total = (await stack.probe<{ ms: number }[]>`
      select coalesce(sum(total_exec_time), 0)::float8 as ms from pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database())`)[0]!.ms;
    console.log(`Statements by execution time (pg_stat_statements, ${(total / runs).toFixed(3)} ms per run in all):`);
    console.log("| statement | calls per run | ms per run | share |");
    console.log("| --- | ---: | ---: | ---: |");
    for (const row of rows) {
      console.log(`| \`${row.query.replaceAll("|", "\\|")}\` | ${(Number(row.calls) / runs).toFixed(3)} | ${(row.ms / runs).toFixed(3)} | ${((row.ms / total) * 100).toFixed(1)}% |`);
    }
  }
} finally {
  await stack.close();
  await dropDatabase(scratch.adminUrl, name).catch(() => {});
  await scratch.stop();
}
