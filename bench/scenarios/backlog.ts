// Backlog scaling: how fast a warm worker takes runs off a queue that already holds a small or a very
// large backlog. For each size, in order, the queue is topped up to that many queued runs while
// nothing takes from it, then opened; the rate is over the first `measured` runs to start: from the
// first start to the last, so waking up and connecting are not counted. Runs last in a round, on
// that round's database, after everything else.
import { runMigrations, type Runner } from "graphile-worker";
import postgres from "postgres";
import { graphileJobCount, seedGraphileJobs, silentLogger, startGraphileRunner } from "../graphile.ts";
import type { Sql } from "../../server/db/client.ts";
import { seedQueuedRuns } from "../seed.ts";
import { waitUntil } from "../wait.ts";

export interface BacklogResult {
  /** Runs queued when the queue was opened. */
  queued: number;
  /** Starts per second over the first `measured` runs. */
  runsPerSecond: number;
  /** From the first of them to start to the last, ms. */
  ms: number;
}

const log = (message: string) => console.error(`[bench] ${message}`);

function result(queued: number, starts: number[], measured: number): BacklogResult {
  const sorted = [...starts].sort((a, b) => a - b).slice(0, measured);
  const ms = sorted.at(-1)! - sorted[0]!;
  return { queued, runsPerSecond: (sorted.length - 1) / (ms / 1000), ms };
}

/** What the Ratchet scenario needs of a running server and worker. */
export interface RatchetBacklogTarget {
  /** The server's pool, for loading the backlog. */
  sql: Sql;
  /** The benchmark's own pool, for polling. */
  probe: postgres.Sql;
  environmentId: string;
  /** Pauses or resumes a task's queue through the API (resuming wakes the worker). */
  setQueuePaused(task: string, paused: boolean): Promise<void>;
}

/**
 * Ratchet, on a server and warm worker already running: the `backlog` task's queue is paused through
 * the API while it is topped up (straight into the tables, bench/seed.ts), and resumed through the
 * API. Start times are the server's (runs.started_at, set when the dequeue starts the attempt).
 */
export async function ratchetBacklog(target: RatchetBacklogTarget, options: { sizes: number[]; measured: number }): Promise<BacklogResult[]> {
  const { probe, environmentId } = target;
  const results: BacklogResult[] = [];
  for (const size of options.sizes) {
    await target.setQueuePaused("backlog", true);
    const queueState = () =>
      probe<{ running: number; queued: number }[]>`
        select (select count(*)::int from ratchet.executions x where x.queue_id = q.id) as running,
          (select count(*)::int from ratchet.queue_entries e where e.queue_id = q.id) as queued
        from ratchet.queues q where q.environment_id = ${environmentId} and q.name = 'task/backlog'`.then(([row]) => row!);
    const { queued } = await waitUntil("backlog runs in flight to finish", queueState, (state) => state.running === 0, 60_000);
    const seeding = performance.now();
    await seedQueuedRuns(target.sql, { environmentId, task: "backlog", count: size - queued, concurrencyLimit: 1000 });
    log(`Ratchet backlog: queued ${(size - queued).toLocaleString("en-US")} runs in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    const resumedAt = new Date();
    await target.setQueuePaused("backlog", false);
    // Through the (environment, status) index: only this environment's completed runs are read.
    const startedSince = () => probe<{ at: Date }[]>`
      select started_at as at from ratchet.runs
      where environment_id = ${environmentId} and status = 'COMPLETED' and task_identifier = 'backlog' and started_at >= ${resumedAt}`;
    const rows = await waitUntil("backlog runs", startedSince, (started) => started.length >= options.measured, 10 * 60_000, 200);
    results.push(result(size, rows.map((row) => row.at.getTime()), options.measured));
  }
  await target.setQueuePaused("backlog", true);
  return results;
}

/**
 * graphile-worker: jobs of a `backlog` task no runner serves are added with add_jobs; a runner for
 * that task is started, timestamps each job's start in its body, and is stopped after `measured`.
 */
export async function graphileBacklog(url: string, options: { sizes: number[]; measured: number; concurrency: number; fast: boolean }): Promise<BacklogResult[]> {
  await runMigrations({ connectionString: url, logger: silentLogger });
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  try {
    const results: BacklogResult[] = [];
    for (const size of options.sizes) {
      const queued = await graphileJobCount(sql, "backlog");
      const seeding = performance.now();
      await seedGraphileJobs(sql, "backlog", size - queued);
      await sql`vacuum analyze graphile_worker._private_jobs`;
      log(`graphile-worker backlog: queued ${(size - queued).toLocaleString("en-US")} jobs in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
      const starts: number[] = [];
      let runner: Runner | undefined;
      try {
        runner = await startGraphileRunner(url, {
          fast: options.fast,
          concurrency: options.concurrency,
          taskList: {
            backlog: async () => {
              starts.push(performance.now());
            },
          },
        });
        await waitUntil("backlog jobs", async () => starts.length, (n) => n >= options.measured, 10 * 60_000, 10);
      } finally {
        await runner?.stop();
      }
      results.push(result(size, starts, options.measured));
    }
    return results;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
