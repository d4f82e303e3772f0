// Purges finished runs older than their environment's retention, in the background. Each batch is
// its own short transaction (SKIP LOCKED, at most `batchSize` runs), so a purge of millions of runs
// never holds locks for long and any number of server replicas may run it side by side. A pass ends
// when every environment is caught up or after `maxBatches`, and the next pass goes on from there.
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { PeriodicJob } from "./periodic-job.ts";
import { environmentsWithRunRetention, runsPurgeFinished } from "../storage/run-retention.ts";

export interface RunRetentionDeps {
  db: Db;
  clock: Clock;
}

export interface RunRetentionOptions {
  /** Days finished runs are kept where the environment sets none; 0 keeps them forever. */
  defaultDays: number;
  batchSize: number;
  /** Bound on one pass's work, so a pass always ends. */
  maxBatches: number;
}

export const defaultRunRetentionBatchSize = 1_000;
const defaultMaxBatches = 200;
const runRetentionIntervalMs = 60_000;

/** One pass over every environment; returns the runs deleted and the batches it took. */
export async function purgeExpiredRuns(deps: RunRetentionDeps, options: RunRetentionOptions): Promise<{ deleted: number; batches: number }> {
  const now = deps.clock.now();
  let deleted = 0;
  let batches = 0;
  for (const environment of await environmentsWithRunRetention(deps.db.sql, now, options.defaultDays)) {
    while (batches < options.maxBatches) {
      batches += 1;
      const count = await deps.db.sql.begin((tx) => runsPurgeFinished(tx, environment.id, environment.before, options.batchSize));
      deleted += count;
      if (count < options.batchSize) break;
    }
    if (batches >= options.maxBatches) break;
  }
  return { deleted, batches };
}

/** Runs purgeExpiredRuns every minute until stopped; a pass that hit its bound goes on at once. */
export class RunRetentionSweeper extends PeriodicJob {
  constructor(deps: RunRetentionDeps, options: { defaultDays: number; batchSize?: number; maxBatches?: number }, logger: Logger) {
    const passOptions: RunRetentionOptions = {
      defaultDays: options.defaultDays,
      batchSize: options.batchSize ?? defaultRunRetentionBatchSize,
      maxBatches: options.maxBatches ?? defaultMaxBatches,
    };
    super(
      async () => {
        const result = await purgeExpiredRuns(deps, passOptions);
        if (result.deleted > 0) logger.info(result, "finished runs past retention purged");
        return { again: result.batches >= passOptions.maxBatches };
      },
      { intervalMs: runRetentionIntervalMs, logger, failure: "run retention pass failed; retrying" },
    );
  }
}
