// Messages between the worker and the child processes that run attempts (Node IPC).
import type { AttemptResult } from "../sdk/execute.ts";
import type { RunEvent, TaskContext } from "../sdk/runtime.ts";
import type { TaskManifest } from "./manifest.ts";

export interface ExecuteMessage {
  type: "execute";
  bundle: string;
  taskId: string;
  payload: unknown;
  payloadType: string;
  ctx: TaskContext;
  metadata: Record<string, unknown>;
  maxAttempts: number;
  /** Seconds; the attempt's signal aborts and the attempt ends TIMED_OUT when it passes. */
  maxDuration?: number;
  workerId: string;
  /** Waits up to this long stay in the process; longer ones suspend the run. */
  waitInProcessMs: number;
  /** Set by a runner that checkpoints containers: a longer wait is checkpointed, or why not. */
  checkpoints?: { afterMs: number } | { afterMs: number; unavailable: string };
  /** The run resumes from this checkpoint (docs/checkpoints.md); the runner restores it. */
  checkpointId?: string;
}

/** To a restored process: it runs under this worker's lease now, and its wait is over. */
export interface RestoredMessage {
  type: "restored";
  workerId: string;
}

/** The checkpoint asked for was not taken: the wait suspends by replay, for `reason`. */
export interface CheckpointRefusedMessage {
  type: "checkpoint-refused";
  reason: string;
}

export interface CancelMessage {
  type: "cancel";
}

export type ToChild = ExecuteMessage | CancelMessage | RestoredMessage | CheckpointRefusedMessage;

export type ChildResult =
  | { kind: "finished"; result: Exclude<AttemptResult, { ok: true }> | { ok: true; output?: string; outputType: string } }
  | { kind: "timed-out" }
  | { kind: "canceled" }
  /** The run waits on the server now; it continues in a later execution. */
  | { kind: "suspended" };

export type FromChild =
  | { type: "events"; events: RunEvent[] }
  | { type: "result"; result: ChildResult }
  /** The attempt waits long: checkpoint this process now (it blocks until answered). */
  | { type: "checkpoint" }
  | { type: "manifest"; tasks: TaskManifest[]; queues: Array<{ name: string; concurrencyLimit?: number }> }
  | { type: "index-error"; message: string };
