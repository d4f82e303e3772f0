// The server's Prometheus metrics (docs/metrics.md). Counters and histograms are this process's own
// (each server replica exposes its own; Prometheus sums them); the queue, worker, pool and partition
// gauges are read from Postgres at scrape time, so every replica reports the same values for them.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Db } from "../db/client.ts";
import type { ReplicaStatus } from "../db/read-replica.ts";
import { isFinal, type RunStatus } from "../engine/run-status.ts";
import {
  metricsAttemptTiming,
  metricsDbConnections,
  metricsEventPartitionSizes,
  metricsExecuting,
  metricsQueueDepths,
  metricsStatementTimeout,
  type AttemptTiming,
} from "../storage/metrics.ts";

/** Seconds: from a few milliseconds of queue time to the hour a backlog can build up to. */
const dequeueLatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Seconds: tasks run from milliseconds to hours. */
const attemptDurationBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400];

export class RunMetrics {
  readonly registry = new Registry();
  readonly #db: Db;
  readonly #poolMax: number;
  readonly #triggered = new Counter({ name: "ratchet_runs_triggered_total", help: "Runs created by this server, by task.", labelNames: ["task"], registers: [this.registry] });
  readonly #started = new Counter({ name: "ratchet_attempts_started_total", help: "Attempts handed to workers by this server, by task.", labelNames: ["task"], registers: [this.registry] });
  readonly #finished = new Counter({
    name: "ratchet_runs_finished_total",
    help: "Runs that reached a final status through this server (worker completions and cancels), by task and status.",
    labelNames: ["task", "status"],
    registers: [this.registry],
  });
  readonly #dequeueLatency = new Histogram({
    name: "ratchet_dequeue_latency_seconds",
    help: "Time from a run joining its queue to a worker dequeuing it.",
    labelNames: ["task"],
    buckets: dequeueLatencyBuckets,
    registers: [this.registry],
  });
  readonly #attemptDuration = new Histogram({
    name: "ratchet_attempt_duration_seconds",
    help: "How long attempts ran, from start to the worker's completion, by task and outcome.",
    labelNames: ["task", "outcome"],
    buckets: attemptDurationBuckets,
    registers: [this.registry],
  });
  readonly #longPolls = new Gauge({ name: "ratchet_dequeue_long_polls", help: "Workers long-polling this server for work right now.", registers: [this.registry] });
  readonly #queueDepth = new Gauge({ name: "ratchet_queue_depth", help: "Runs queued, per queue (the 500 deepest queues).", labelNames: ["project", "environment", "queue"], registers: [this.registry] });
  readonly #queueOldest = new Gauge({
    name: "ratchet_queue_oldest_age_seconds",
    help: "Age of the run first in line, per queue (the 500 deepest queues).",
    labelNames: ["project", "environment", "queue"],
    registers: [this.registry],
  });
  readonly #workers = new Gauge({ name: "ratchet_workers_busy", help: "Workers holding at least one lease, per environment.", labelNames: ["project", "environment"], registers: [this.registry] });
  readonly #executing = new Gauge({ name: "ratchet_runs_executing", help: "Runs holding a concurrency slot, per environment.", labelNames: ["project", "environment"], registers: [this.registry] });
  readonly #dbConnections = new Gauge({
    name: "ratchet_db_connections",
    help: "Postgres connections under the server's application name (all replicas), by state.",
    labelNames: ["state"],
    registers: [this.registry],
  });
  readonly #dbPoolMax = new Gauge({ name: "ratchet_db_pool_max", help: "The most connections this server's pool opens (RATCHET_DB_POOL_SIZE).", registers: [this.registry] });
  readonly #partitionBytes = new Gauge({ name: "ratchet_event_partition_bytes", help: "Size of each day partition of ratchet.events, with indexes.", labelNames: ["partition"], registers: [this.registry] });
  readonly #replicaUp = new Gauge({
    name: "ratchet_read_replica_up",
    help: "1 while the read replica (RATCHET_READ_DATABASE_URL) answers and takes the dashboard's reads, 0 while they fall back to the primary; absent when none is set.",
    registers: [],
  });
  readonly #replicaLagBytes = new Gauge({ name: "ratchet_read_replica_replay_lag_bytes", help: "WAL the read replica has received but not replayed yet.", registers: [] });
  readonly #replicaLagSeconds = new Gauge({ name: "ratchet_read_replica_replay_lag_seconds", help: "Seconds since the last transaction the read replica replayed was committed (grows while the primary is idle).", registers: [] });
  #readReplica: (() => ReplicaStatus) | null = null;
  readonly #scrapeErrors = new Counter({ name: "ratchet_metrics_scrape_errors_total", help: "Scrapes whose database gauges could not be read (they keep their last values).", registers: [this.registry] });

  constructor(db: Db, options: { poolMax: number; processMetrics?: boolean }) {
    this.#db = db;
    this.#poolMax = options.poolMax;
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Reports a configured read replica's last probe; without one its gauges are not shown at all. */
  trackReadReplica(status: () => ReplicaStatus): void {
    if (this.#readReplica === null) {
      for (const gauge of [this.#replicaUp, this.#replicaLagBytes, this.#replicaLagSeconds]) this.registry.registerMetric(gauge);
    }
    this.#readReplica = status;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  runTriggered(task: string): void {
    this.#triggered.inc({ task });
  }

  attemptStarted(task: string, queuedAt: Date | null, now: Date): void {
    this.#started.inc({ task });
    if (queuedAt) this.#dequeueLatency.observe({ task }, Math.max(0, (now.getTime() - queuedAt.getTime()) / 1000));
  }

  /** Called (never awaited by a completion) when a run reached a final status: the OTLP export hooks in here. */
  onRunFinal: ((runId: string, environmentId: string) => void) | null = null;

  runFinished(task: string, status: RunStatus): void {
    if (isFinal(status)) this.#finished.inc({ task, status });
  }

  longPollStarted(): void {
    this.#longPolls.inc();
  }

  longPollEnded(): void {
    this.#longPolls.dec();
  }

  /**
   * After a worker's completion: the attempt's duration, and the run's final status if it has one.
   * Never throws: metrics must not fail a completion.
   */
  async attemptCompleted(runId: string, attemptNumber: number, status: RunStatus, requeued: boolean): Promise<void> {
    try {
      const timing = await metricsAttemptTiming(this.#db.sql, runId, attemptNumber);
      if (!timing) return;
      this.attemptCompletedWith(runId, timing, status, requeued);
    } catch {
      // A metric lost is better than a completion refused.
    }
  }

  /** The same, with the timing already known (the fast completion answers it). */
  attemptCompletedWith(runId: string, timing: AttemptTiming, status: RunStatus, requeued: boolean): void {
    const outcome = status === "COMPLETED" ? "success" : status === "CANCELED" ? "canceled" : "failure";
    if (timing.durationSeconds !== null) this.#attemptDuration.observe({ task: timing.taskIdentifier, outcome }, Math.max(0, timing.durationSeconds));
    if (!requeued) {
      this.runFinished(timing.taskIdentifier, status);
      if (isFinal(status)) this.onRunFinal?.(runId, timing.environmentId);
    }
  }

  /** The text a scrape answers: reads the database gauges first (in one bounded transaction). */
  async render(now: Date): Promise<string> {
    this.#dbPoolMax.set(this.#poolMax);
    const replica = this.#readReplica?.();
    if (replica) {
      this.#replicaUp.set(replica.up ? 1 : 0);
      // NaN while unknown (down, or not a standby): an alert on the lag then stays quiet and `up` speaks.
      this.#replicaLagBytes.set(replica.replayLagBytes ?? Number.NaN);
      this.#replicaLagSeconds.set(replica.replayLagSeconds ?? Number.NaN);
    }
    try {
      const [queues, executing, partitions, connections] = await this.#db.sql.begin(async (tx) => {
        await metricsStatementTimeout(tx);
        return [await metricsQueueDepths(tx, now), await metricsExecuting(tx), await metricsEventPartitionSizes(tx), await metricsDbConnections(tx)] as const;
      });
      // Reset first: a queue that emptied must not keep reporting its last depth.
      this.#queueDepth.reset();
      this.#queueOldest.reset();
      for (const row of queues) {
        const labels = { project: row.project, environment: row.environment, queue: row.queue };
        this.#queueDepth.set(labels, row.depth);
        this.#queueOldest.set(labels, row.oldestAgeSeconds);
      }
      this.#workers.reset();
      this.#executing.reset();
      for (const row of executing) {
        this.#workers.set({ project: row.project, environment: row.environment }, row.workers);
        this.#executing.set({ project: row.project, environment: row.environment }, row.executions);
      }
      this.#partitionBytes.reset();
      for (const row of partitions) this.#partitionBytes.set({ partition: row.partition }, row.bytes);
      this.#dbConnections.reset();
      for (const row of connections) this.#dbConnections.set({ state: row.state }, row.connections);
    } catch {
      this.#scrapeErrors.inc();
    }
    return this.registry.metrics();
  }
}
