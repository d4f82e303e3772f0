// Engine timings. Leases are renewed by worker heartbeats; a worker that stops heartbeating loses its
// runs after the lease ends and they are retried by policy.
export interface EngineSettings {
  leaseSeconds: number;
  /** Past maxDuration the worker aborts the run itself; the server steps in this much later. */
  deadlineGraceSeconds: number;
  /** Longest a dequeue request may wait for work. */
  maxDequeueWaitMs: number;
  /** How often a waiting dequeue looks again even without a notification. */
  dequeuePollMs: number;
  /** How often the sweepers run. */
  sweepIntervalMs: number;
  sweepBatchSize: number;
}

export const defaultEngineSettings: EngineSettings = {
  leaseSeconds: 60,
  deadlineGraceSeconds: 15,
  maxDequeueWaitMs: 30_000,
  dequeuePollMs: 1_000,
  sweepIntervalMs: 1_000,
  sweepBatchSize: 500,
};
