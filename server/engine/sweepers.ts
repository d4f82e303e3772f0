// The engine's periodic work: delayed runs come due, TTLs expire, lost leases, dropped worker
// connections and overrun deadlines end their attempts. Every sweep is safe to run in several server
// processes at once. Tests call sweepOnce() with an injected clock instead of waiting for the timer.
//
// Who decides an attempt's outcome: the worker holding its lease. A completion is accepted as long as
// the execution row exists, even past the deadline; the sweeper rules only on leases that have run
// out, deadlines that have passed, and connections that dropped without a heartbeat after the grace
// period. Time when no server could sweep (the database was unreachable, or no server was running) is
// not counted against leases and deadlines: the first sweep after it moves them on by its length, so
// a worker that finished during the outage gets its result in when the database is back.
import type { Logger } from "pino";
import { executionsTakeExpired } from "../storage/executions.ts";
import { runsExpireTtl, runsPromoteDue, sweepsRecordAndCoverOutage } from "../storage/sweeps.ts";
import { applyAttemptOutcome } from "./attempt-outcome.ts";
import { completeWaitpoints, completeWaitpointsForFinishedRun } from "./waitpoints.ts";
import { fireDueSchedules } from "./schedules.ts";
import { waitpointsTakeDue } from "../storage/waitpoints.ts";
import type { EngineSettings } from "./settings.ts";
import type { RunStatus } from "./run-status.ts";
import type { EngineDeps } from "./trigger.ts";

export interface SweepResult {
  promoted: number;
  expired: number;
  leasesLost: number;
  /** Scheduled runs fired. */
  scheduled: number;
  /** The outage covered by moving leases and deadlines on, in ms. */
  outageCoveredMs: number;
}

export interface SweepOptions {
  /** This server's sweeps failed since its last success, or it has just started. */
  afterOutage?: boolean;
}

export async function sweepOnce(deps: EngineDeps, settings: EngineSettings, options: SweepOptions = {}): Promise<SweepResult> {
  const now = deps.clock.now();
  const outageCoveredMs = await deps.db.sql.begin((tx) =>
    sweepsRecordAndCoverOutage(tx, now, { afterOutage: options.afterOutage ?? false, thresholdMs: settings.outageThresholdMs, leaseSeconds: settings.leaseSeconds }),
  );
  const environments = await deps.db.sql.begin((tx) => runsPromoteDue(tx, now, settings.sweepBatchSize));
  for (const environmentId of environments) deps.notifier.queueChanged(environmentId);

  const expiredIds = await deps.db.sql.begin(async (tx) => {
    const ids = await runsExpireTtl(tx, now, settings.sweepBatchSize);
    for (const runId of ids) {
      for (const environmentId of await completeWaitpointsForFinishedRun(tx, runId, now)) deps.notifier.queueChanged(environmentId);
    }
    return ids;
  });
  const expired = expiredIds.length;
  // No attempt ran (attempt 0): counted as finished, with no attempt duration.
  for (const runId of expiredIds) await deps.metrics?.attemptCompleted(runId, 0, "EXPIRED", false);

  // Waits whose time has come, and tokens past their timeout.
  await deps.db.sql.begin(async (tx) => {
    const due = await waitpointsTakeDue(tx, now, settings.sweepBatchSize);
    const dates = due.filter((waitpoint) => waitpoint.type === "DATETIME").map((waitpoint) => waitpoint.id);
    const tokens = due.filter((waitpoint) => waitpoint.type === "MANUAL").map((waitpoint) => waitpoint.id);
    const environments = [
      ...(await completeWaitpoints(tx, dates, { status: "COMPLETED", output: null, outputType: "application/json", isError: false }, now)),
      ...(await completeWaitpoints(
        tx,
        tokens,
        { status: "TIMED_OUT", output: JSON.stringify({ message: "The wait token timed out", name: "WaitpointTimeoutError" }), outputType: "application/json", isError: true },
        now,
      )),
    ];
    for (const environmentId of environments) deps.notifier.queueChanged(environmentId);
  });

  const endings: Array<{ runId: string; attemptNumber: number; status: RunStatus; stays: boolean }> = [];
  const lost = await deps.db.sql.begin(async (tx) => {
    const connectionLostBy = new Date(now.getTime() - settings.workerLostGraceSeconds * 1000);
    const executions = await executionsTakeExpired(tx, now, settings.sweepBatchSize, connectionLostBy);
    for (const execution of executions) {
      const outcome = await applyAttemptOutcome(
        tx,
        execution,
        execution.timedOut
          ? {
              kind: "failure",
              status: "TIMED_OUT",
              error: { type: "INTERNAL_ERROR", code: "MAX_DURATION_EXCEEDED", message: "The run exceeded its maxDuration" },
            }
          : {
              kind: "failure",
              status: "FAILED",
              error: {
                type: "INTERNAL_ERROR",
                code: "TASK_RUN_STALLED_EXECUTING",
                message: execution.connectionLost
                  ? `The worker's connection closed and it did not heartbeat again within ${settings.workerLostGraceSeconds} s (worker lost)`
                  : "The worker stopped sending heartbeats (worker lost)",
              },
            },
        now,
      );
      if (outcome.requeued) deps.notifier.queueChanged(execution.environmentId);
      for (const environmentId of outcome.resumed ?? []) deps.notifier.queueChanged(environmentId);
      endings.push({ runId: execution.runId, attemptNumber: execution.attemptNumber, status: outcome.status, stays: outcome.requeued || outcome.nextAttemptNumber !== undefined });
    }
    return executions;
  });
  for (const ending of endings) await deps.metrics?.attemptCompleted(ending.runId, ending.attemptNumber, ending.status, ending.stays);
  for (const environmentId of new Set(lost.map((execution) => execution.environmentId))) {
    deps.notifier.queueChanged(environmentId);
    // The workers that held them may still be running them: their waiting heartbeats answer "lost".
    deps.notifier.leasesChanged(environmentId);
  }
  const scheduled = await fireDueSchedules(deps, settings.sweepBatchSize);
  return { promoted: environments.length, expired, leasesLost: lost.length, scheduled, outageCoveredMs };
}

/** Runs sweepOnce on a timer until stopped. */
export class Sweeper {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  readonly #deps: EngineDeps;
  readonly #settings: EngineSettings;
  readonly #logger: Logger;

  constructor(deps: EngineDeps, settings: EngineSettings, logger: Logger) {
    this.#deps = deps;
    this.#settings = settings;
    this.#logger = logger;
  }

  start(): void {
    // The first sweep of a process may follow a time when no server ran; a failed sweep, an outage.
    let afterOutage = true;
    const tick = () => {
      this.#running = sweepOnce(this.#deps, this.#settings, { afterOutage })
        .then((result) => {
          afterOutage = false;
          if (result.outageCoveredMs > 0) {
            this.#logger.warn({ outageMs: result.outageCoveredMs }, "no server swept for a while: leases and deadlines moved on by that time");
          }
        })
        .catch((error: unknown) => {
          afterOutage = true;
          this.#logger.warn({ err: error }, "sweep failed; retrying next tick");
        })
        .finally(() => {
          this.#running = null;
          if (this.#timer !== null) this.#timer = setTimeout(tick, this.#settings.sweepIntervalMs);
        });
    };
    this.#timer = setTimeout(tick, this.#settings.sweepIntervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
