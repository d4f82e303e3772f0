// Caps on what checkpoints may keep in Postgres, and the error a caller falls back to replay on.

export interface CheckpointLimits {
  /** Largest packed checkpoint accepted, in bytes. */
  maxCheckpointBytes: number;
  /** Most bytes all checkpoints of one environment may keep at once. */
  maxEnvironmentBytes: number;
}

export const defaultCheckpointLimits: CheckpointLimits = {
  maxCheckpointBytes: 256 * 1024 * 1024,
  maxEnvironmentBytes: 4 * 1024 * 1024 * 1024,
};

/** A checkpoint refused by a cap; `reason` is what the run records for its fallback to replay. */
export class CheckpointLimitError extends Error {
  readonly code = "checkpoint_limit_exceeded";
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
    this.name = "CheckpointLimitError";
  }
}
