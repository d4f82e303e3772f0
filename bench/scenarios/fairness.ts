// Fairness between environments (tenants) sharing one server and one Postgres.
//
// 1. A noisy neighbour: environment A holds a large backlog and is being drained at full speed while
//    environment B triggers a trickle of runs, one by one at a steady rate; B's trigger → start wait.
// 2. Equal demand: every one of n environments holds more queued runs than it can run in a fixed
//    window, each may run `concurrency / n` at once; completed runs per environment within the window
//    and Jain's fairness index over them, (Σx)² / (n · Σx²): 1 when all got the same, 1/n when one
//    environment got everything.
import { makeWorkerUtils, runMigrations, type Runner, type TaskList } from "graphile-worker";
import postgres from "postgres";
import { graphileJobCount, seedGraphileJobs, silentLogger, startGraphileRunner } from "../graphile.ts";
import { completedRuns, pacedStarts, startRatchetStack } from "../ratchet-stack.ts";
import { seedQueuedRuns } from "../seed.ts";
import { jainIndex } from "../stats.ts";
import { sleep, waitUntil } from "../wait.ts";
import { steadyRate, type PacedStart } from "./steady-rate.ts";

export interface FairnessOptions {
  /** Runs queued in A. */
  backlog: number;
  /** Runs B triggers, at `bRatePerSecond`. */
  bRuns: number;
  bRatePerSecond: number;
  environments: number;
  /** Runs queued in each environment for the equal-demand window. */
  perEnvironment: number;
  windowMs: number;
  /** Slots in all: A and B get half each; in the window each environment gets concurrency / environments. */
  concurrency: number;
}

export interface FairnessResult {
  /** B's trigger → start, ms. */
  bWaits: number[];
  /** Runs still queued in A after B's last run started: A's backlog was there the whole time. */
  aStillQueued: number;
  /** Runs each environment completed within the window. */
  completed: number[];
  jain: number;
  /** Runs queued in each environment for the window. */
  queuedPerEnvironment: number;
  /** Environments that had run their whole backlog by the end of the window (demand was not sustained). */
  ranDry: number;
}

/** The moment the window opens: the first start anywhere, plus this much for every environment to get going. */
export const settleMs = 500;

const log = (message: string) => console.error(`[bench] ${message}`);

function windowCounts(finishes: number[][], firstStart: number, windowMs: number): number[] {
  const from = firstStart + settleMs;
  return finishes.map((times) => times.filter((at) => at >= from && at < from + windowMs).length);
}

/**
 * Ratchet: n environments, each its own project with its own key and `ratchet worker` (a worker
 * serves one environment), all started up front with concurrency / 2 slots. Backlogs are loaded into
 * the tables while their queue is paused and released by resuming the queue through the API. For the
 * window, each environment's `fair` queue gets a concurrency override of concurrency / n through the
 * API; start and finish times are the server's (runs.started_at, finished_at).
 */
export async function ratchetFairness(url: string, options: FairnessOptions): Promise<FairnessResult> {
  const stack = await startRatchetStack(url, options.environments);
  try {
    const environments = stack.environments;
    const [a, b] = [environments[0]!, environments[1]!];
    const starting = performance.now();
    await Promise.all(environments.map((environment) => stack.startWorker(environment, options.concurrency / 2)));
    log(`Ratchet fairness: ${environments.length} workers started in ${((performance.now() - starting) / 1000).toFixed(1)} s`);
    // A worker forks its attempt processes as runs first arrive: a few runs each so that what follows
    // is measured on warm workers, as the other scenarios are.
    const slots = Math.max(1, Math.floor(options.concurrency / environments.length));
    await Promise.all(
      environments.map(async (environment) => {
        await stack.api(environment, "/api/v2/tasks/batch", { items: Array.from({ length: slots }, () => ({ task: "noop", payload: {} })) });
        await waitUntil("warm-up runs", () => completedRuns(stack.probe, environment.id, "noop"), (n) => n >= slots, 60_000);
      }),
    );

    // 1. A's backlog, B's trickle.
    await stack.setQueuePaused(a, "backlog", true);
    await seedQueuedRuns(stack.db.sql, { environmentId: a.id, task: "backlog", count: options.backlog, concurrencyLimit: 1000 });
    await stack.setQueuePaused(a, "backlog", false);
    // Until all of A's slots are busy (and its attempt processes forked).
    await waitUntil("A to be draining", () => completedRuns(stack.probe, a.id, "backlog"), (n) => n >= 300, 60_000);
    const trickle = await steadyRate(
      { enqueuePaced: (t) => stack.trigger(b, "paced", { t }), pacedStarts: (count) => pacedStarts(stack.probe, b.id, count) },
      options.bRatePerSecond,
      (options.bRuns / options.bRatePerSecond) * 1000,
    );
    const [{ n: aStillQueued }] = await stack.probe<[{ n: number }]>`
      select count(*)::int as n from ratchet.queue_entries e join ratchet.queues q on q.id = e.queue_id
      where q.environment_id = ${a.id} and q.name = 'task/backlog'`;
    await stack.setQueuePaused(a, "backlog", true);

    // 2. Equal demand.
    for (const environment of environments) {
      await stack.api(environment, "/api/v1/queues/fair/concurrency/override", { type: "task", concurrencyLimit: slots });
      await stack.setQueuePaused(environment, "fair", true);
      await seedQueuedRuns(stack.db.sql, { environmentId: environment.id, task: "fair", count: options.perEnvironment, concurrencyLimit: 1000 });
    }
    await Promise.all(environments.map((environment) => stack.setQueuePaused(environment, "fair", false)));
    const ids = stack.probe(environments.map((environment) => environment.id));
    const { first } = await waitUntil(
      "a first run to start",
      () => stack.probe<[{ first: Date | null }]>`
        select min(started_at) as first from ratchet.runs
        where environment_id in ${ids} and status in ('EXECUTING', 'COMPLETED') and task_identifier = 'fair'`.then(([row]) => row),
      (row) => row.first !== null,
      60_000,
    );
    const firstStart = first!.getTime();
    // Finish times are written when the completion commits: a little slack after the window closes.
    await sleep(firstStart + settleMs + options.windowMs + 300 - Date.now());
    const rows = await stack.probe<{ environment: string; finished: Date }[]>`
      select environment_id as environment, finished_at as finished from ratchet.runs
      where environment_id in ${ids} and status = 'COMPLETED' and task_identifier = 'fair'`;
    const finishes = environments.map((environment) => rows.filter((row) => row.environment === environment.id).map((row) => row.finished.getTime()));
    return summarize(trickle.latencies, aStillQueued, finishes, firstStart, options);
  } finally {
    await stack.close();
  }
}

function summarize(bWaits: number[], aStillQueued: number, finishes: number[][], firstStart: number, options: FairnessOptions): FairnessResult {
  const completed = windowCounts(finishes, firstStart, options.windowMs);
  const ranDry = finishes.filter((times) => times.length >= options.perEnvironment && Math.max(...times) < firstStart + settleMs + options.windowMs).length;
  return { bWaits, aStillQueued, completed, jain: jainIndex(completed), queuedPerEnvironment: options.perEnvironment, ranDry };
}

/**
 * graphile-worker has no environments: an environment is a task identifier (A's jobs `envA`, B's
 * `envB`, then `env0`…). `perEnvironment: true` gives each environment its own runner serving only
 * its identifier, as Ratchet gives each environment its own worker; `false` is one shared runner
 * with all the slots, which takes jobs oldest first whoever they belong to. Backlogs are added with
 * add_jobs, one environment's block after another; times are taken in the task bodies.
 */
export async function graphileFairness(url: string, options: FairnessOptions, perEnvironment: boolean): Promise<FairnessResult> {
  await runMigrations({ connectionString: url, logger: silentLogger });
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const utils = await makeWorkerUtils({ connectionString: url, logger: silentLogger });
  let runners: Runner[] = [];
  const startRunners = async (groups: Array<{ concurrency: number; taskList: TaskList }>) => {
    runners = await Promise.all(groups.map((group) => startGraphileRunner(url, { fast: false, ...group })));
  };
  const stopRunners = async () => {
    await Promise.all(runners.map((runner) => runner.stop()));
    runners = [];
  };
  try {
    // 1. A's backlog, B's trickle.
    await seedGraphileJobs(sql, "envA", options.backlog);
    await sql`vacuum analyze graphile_worker._private_jobs`;
    let aDone = 0;
    const bStarts: PacedStart[] = [];
    const taskA: TaskList = {
      envA: async () => {
        aDone += 1;
      },
    };
    const taskB: TaskList = {
      envB: async (payload) => {
        bStarts.push({ sent: (payload as { t: number }).t, started: Date.now() });
      },
    };
    const half = options.concurrency / 2;
    await startRunners(perEnvironment ? [{ concurrency: half, taskList: taskA }, { concurrency: half, taskList: taskB }] : [{ concurrency: options.concurrency, taskList: { ...taskA, ...taskB } }]);
    await waitUntil("A to be draining", async () => aDone, (n) => n >= 100, 60_000, 10);
    const trickle = await steadyRate(
      {
        enqueuePaced: async (t) => {
          await utils.addJob("envB", { t });
        },
        pacedStarts: (count) => waitUntil("B's jobs", async () => bStarts.length, (n) => n >= count, 10 * 60_000, 10).then(() => bStarts),
      },
      options.bRatePerSecond,
      (options.bRuns / options.bRatePerSecond) * 1000,
    );
    const aStillQueued = await graphileJobCount(sql, "envA");
    await stopRunners();
    await sql`delete from graphile_worker._private_jobs`;

    // 2. Equal demand.
    const names = Array.from({ length: options.environments }, (_, i) => `env${i}`);
    for (const name of names) await seedGraphileJobs(sql, name, options.perEnvironment);
    await sql`vacuum analyze graphile_worker._private_jobs`;
    const finishes = names.map((): number[] => []);
    let firstStart = Number.POSITIVE_INFINITY;
    const body = (i: number) => async () => {
      firstStart = Math.min(firstStart, Date.now());
      finishes[i]!.push(Date.now());
    };
    const slots = Math.max(1, Math.floor(options.concurrency / names.length));
    await startRunners(
      perEnvironment
        ? names.map((name, i) => ({ concurrency: slots, taskList: { [name]: body(i) } }))
        : [{ concurrency: options.concurrency, taskList: Object.fromEntries(names.map((name, i) => [name, body(i)])) }],
    );
    await waitUntil("a first job", async () => firstStart, (at) => Number.isFinite(at), 60_000, 10);
    await sleep(firstStart + settleMs + options.windowMs + 200 - Date.now());
    await stopRunners();
    return summarize(trickle.latencies, aStillQueued, finishes, firstStart, options);
  } finally {
    await stopRunners();
    await utils.release();
    await sql.end({ timeout: 5 });
  }
}
