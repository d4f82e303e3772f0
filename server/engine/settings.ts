// Engine timings. Leases are renewed by worker heartbeats; a worker that stops heartbeating loses its
// runs after the lease ends and they are retried by policy.
export interface EngineSettings {
  leaseSeconds: number;
  /**
   * When a worker's heartbeat connection closes before it is answered and no heartbeat follows within
   * this many seconds, its attempts fail as "worker lost" without waiting out the lease.
   */
  workerLostGraceSeconds: number;
  /**
   * A server whose sweeps failed (or that just started) and finds that nobody swept for longer than
   * this treats the gap as an outage: live leases and deadlines move on by its length.
   */
  outageThresholdMs: number;
  /** Past maxDuration the worker aborts the run itself; the server steps in this much later. */
  deadlineGraceSeconds: number;
  /** Longest a dequeue request may wait for work. */
  maxDequeueWaitMs: number;
  /** How often a waiting dequeue looks again even without a notification. */
  dequeuePollMs: number;
  /** How often the sweepers run. */
  sweepIntervalMs: number;
  sweepBatchSize: number;
  /** POST /api/v1/query: statement timeout, row cap and result size cap (docs/sql.md). */
  queryTimeoutMs: number;
  queryMaxRows: number;
  queryMaxBytes: number;
  /** Queries running at once on this server; more are refused with 429 so the engine keeps its pool. */
  queryConcurrency: number;
  /** Bulk actions: runs handled per chunk (one transaction), and how often to look for pending ones. */
  bulkChunkSize: number;
  bulkIntervalMs: number;
}

export const defaultEngineSettings: EngineSettings = {
  leaseSeconds: 60,
  workerLostGraceSeconds: 5,
  outageThresholdMs: 5_000,
  deadlineGraceSeconds: 15,
  maxDequeueWaitMs: 30_000,
  dequeuePollMs: 1_000,
  sweepIntervalMs: 1_000,
  sweepBatchSize: 500,
  queryTimeoutMs: 10_000,
  queryMaxRows: 10_000,
  queryMaxBytes: 16 * 1024 * 1024,
  queryConcurrency: 2,
  bulkChunkSize: 200,
  bulkIntervalMs: 1_000,
};
