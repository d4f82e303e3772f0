// The run a piece of code is executing in, if any. The worker sets it before an attempt starts and
// clears it after. Kept on globalThis so that every copy of the SDK in a process shares it.

export interface TaskContext {
  run: {
    id: string;
    tags: string[];
    isTest: boolean;
    createdAt: Date;
    startedAt: Date;
    idempotencyKey?: string;
    maxAttempts?: number;
    maxDuration?: number;
    version?: string;
    concurrencyKey?: string;
    batchId?: string;
    parentRunId?: string;
    rootRunId?: string;
    depth: number;
  };
  attempt: { number: number; startedAt: Date };
  /** The attempt's place in the run's trace: spans and logs of the task nest under `spanId`. */
  trace?: { traceId: string; spanId: string };
  task: { id: string; filePath: string; exportName: string };
  queue: { name: string };
  environment: { id: string; slug: string; type: string };
  project: { ref: string };
  machine?: { name: string };
}

export interface RunEvent {
  kind: "log" | "span";
  level: "trace" | "debug" | "log" | "info" | "warn" | "error";
  message: string;
  attributes?: Record<string, unknown>;
  time: string;
  /** Order within the attempt; a span takes its number when it starts, so it sorts before its children. */
  seq: number;
  spanId?: string;
  parentSpanId?: string;
  durationMs?: number;
}

export interface TaskRuntime {
  ctx: TaskContext;
  signal: AbortSignal;
  emit(event: RunEvent): void;
  nextSeq(): number;
  metadata: Record<string, unknown>;
  pendingMetadataOperations: Array<Record<string, unknown>>;
  /** metadata.parent / metadata.root changes not yet sent (created on first use). */
  pendingParentMetadataOperations?: Array<Record<string, unknown>>;
  pendingRootMetadataOperations?: Array<Record<string, unknown>>;
  /** The span the code is inside, for logger.trace nesting. */
  currentSpanId?: string;
  /** The worker holding the run's lease (journal calls are made under it). */
  workerId: string;
  /** Position of the next journaled operation (waits, child triggers, steps) in this execution. */
  nextJournalPosition(): number;
  /** Waits up to this long stay in the process; longer ones suspend the run. */
  waitInProcessMs: number;
  /** The run was suspended on the server: this execution ends here, without an outcome. */
  suspend(): void;
  /**
   * In a container the runner can checkpoint: waits longer than `afterMs` (and token, child and
   * batch waits) ask it to, and the process goes on here after the restore. `unavailable`: why not,
   * noted on the run when it suspends by replay instead (docs/checkpoints.md).
   */
  checkpoints?: { afterMs: number; take(): Promise<CheckpointAnswer> } | { afterMs: number; unavailable: string };
}

/** `restored`: the process was checkpointed and restored, and its wait is over. */
export type CheckpointAnswer = { restored: true } | { restored: false; reason: string };

const key = Symbol.for("ratchet.sdk.runtime");
type Global = typeof globalThis & { [key]?: TaskRuntime | null };

export function currentRuntime(): TaskRuntime | null {
  return (globalThis as Global)[key] ?? null;
}

export function setRuntime(runtime: TaskRuntime | null): void {
  (globalThis as Global)[key] = runtime;
}
