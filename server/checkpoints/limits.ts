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

/**
 * The caps a runner applies, from `RATCHET_CHECKPOINT_MAX_MB` and `RATCHET_CHECKPOINT_ENV_MAX_MB`
 * (MiB of stored, packed bytes); unset means the defaults. A value that is not a whole number of
 * MiB above zero is refused, naming the variable, so that a typo never turns a cap off.
 */
export function checkpointLimitsFromEnv(env: NodeJS.ProcessEnv): CheckpointLimits {
  const mib = (name: string, fallback: number): number => {
    const text = env[name];
    if (text === undefined || text === "") return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number of MiB above 0, not "${text}"`);
    return value * 1024 * 1024;
  };
  return {
    maxCheckpointBytes: mib("RATCHET_CHECKPOINT_MAX_MB", defaultCheckpointLimits.maxCheckpointBytes),
    maxEnvironmentBytes: mib("RATCHET_CHECKPOINT_ENV_MAX_MB", defaultCheckpointLimits.maxEnvironmentBytes),
  };
}

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
