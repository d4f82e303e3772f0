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
}

export interface CancelMessage {
  type: "cancel";
}

export type ToChild = ExecuteMessage | CancelMessage;

export type ChildResult =
  | { kind: "finished"; result: Exclude<AttemptResult, { ok: true }> | { ok: true; output?: string; outputType: string } }
  | { kind: "timed-out" }
  | { kind: "canceled" }
  /** The run waits on the server now; it continues in a later execution. */
  | { kind: "suspended" };

export type FromChild =
  | { type: "events"; events: RunEvent[] }
  | { type: "result"; result: ChildResult }
  | { type: "manifest"; tasks: TaskManifest[]; queues: Array<{ name: string; concurrencyLimit?: number }> }
  | { type: "index-error"; message: string };
