// graphile-worker as the benchmark runs it: in this process, silent, with or without the batching
// settings its performance page recommends; and its backlogs loaded with one add_jobs call per
// 100,000 jobs (graphile-worker's own SQL API).
import { Logger, run, type Runner, type TaskList } from "graphile-worker";
import type postgres from "postgres";

export const silentLogger = new Logger(() => () => {});

/** A runner of `taskList` on the database at `url`. */
export function startGraphileRunner(url: string, options: { fast: boolean; concurrency: number; taskList: TaskList }): Promise<Runner> {
  return run({
    connectionString: url,
    concurrency: options.concurrency,
    noHandleSignals: true,
    logger: silentLogger,
    taskList: options.taskList,
    // The batching settings of https://worker.graphile.org/docs/performance: a local queue that
    // fetches many jobs per query, and completions written together.
    ...(options.fast ? { preset: { worker: { localQueue: { size: 100 }, completeJobBatchDelay: 0 } } } : {}),
  });
}

/** Adds `count` jobs of `identifier` (payload `{}`), in id order, so they run after every job already queued. */
export async function seedGraphileJobs(sql: postgres.Sql, identifier: string, count: number): Promise<void> {
  const chunk = 100_000;
  for (let first = 0; first < count; first += chunk) {
    const n = Math.min(chunk, count - first);
    await sql`
      select count(*) from graphile_worker.add_jobs(array(
        select row(${identifier}, '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec
        from generate_series(1, ${n})))`;
  }
}

/** Jobs waiting or running (graphile-worker deletes a job when it succeeds). */
export async function graphileJobCount(sql: postgres.Sql, identifier?: string): Promise<number> {
  const [row] = identifier
    ? await sql<{ n: string }[]>`
        select count(*) as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
        where t.identifier = ${identifier}`
    : await sql<{ n: string }[]>`select count(*) as n from graphile_worker._private_jobs`;
  return Number(row!.n);
}
