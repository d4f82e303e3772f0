// What one no-op run costs in requests and Postgres transactions, counted rather than timed, so the
// figure does not move with whatever else the machine runs: the HTTP server in this process, a
// `ratchet worker` child with the given slots, runs triggered in batches, and after the drain the
// server's requests by route and the database's committed transactions (pg_stat_database), per run.
// Usage: node bench/hot-path-counts.ts [--runs 2000] [--concurrency 20]
import { parseArgs } from "node:util";
import { createDatabase, dropDatabase, startScratchServer, withDatabase } from "../server/db/scratch.ts";
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
  await stack.startWorker(environment, concurrency);
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
  const requestsBefore = stack.requestCounts();
  const transactionsBefore = await transactions();
  const started = Date.now();
  await trigger(runs);
  await drained(warmup + runs);
  const elapsed = Date.now() - started;
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
} finally {
  await stack.close();
  await dropDatabase(scratch.adminUrl, name).catch(() => {});
  await scratch.stop();
}
