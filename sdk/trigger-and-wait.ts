// triggerAndWait / batchTriggerAndWait: start children and wait for their results. The child is
// triggered with an idempotency key made from this run and the call's journal position, so a replay
// of the parent never starts a second child; the parent suspends while the child runs.
import { createHash } from "node:crypto";
import { journalLookup, journalWait, runtimeOrThrow, type JournalEntry } from "./journal.ts";
import { importIfStored } from "./packets.ts";
import { parsePacket } from "./serialization.ts";
import { batchTriggerTasks, triggerTask, type TriggerOptions } from "./trigger.ts";

export class SubtaskUnwrapError extends Error {
  override name = "SubtaskUnwrapError";
  readonly runId: string;
  readonly taskId: string;
  override readonly cause: unknown;

  constructor(taskId: string, runId: string, cause: unknown) {
    super(`Error in ${taskId}: ${(cause as Error)?.message ?? String(cause)}`);
    this.taskId = taskId;
    this.runId = runId;
    this.cause = cause;
  }
}

export type TaskRunResult<TOutput> = (
  | { ok: true; id: string; taskIdentifier: string; output: TOutput }
  | { ok: false; id: string; taskIdentifier: string; error: unknown }
) & { unwrap(): TOutput };

interface StoredResult {
  ok: boolean;
  id: string;
  taskIdentifier: string;
  output?: unknown;
  outputType?: string;
  error?: { message?: string; name?: string; stackTrace?: string; raw?: string } | null;
  status?: string;
}

async function toResult<TOutput>(stored: StoredResult): Promise<TaskRunResult<TOutput>> {
  if (stored.ok) {
    const packet = await importIfStored(stored.output, stored.outputType ?? "application/json");
    const output = parsePacket(packet.data, packet.dataType) as TOutput;
    return { ok: true, id: stored.id, taskIdentifier: stored.taskIdentifier, output, unwrap: () => output };
  }
  const error = new Error(stored.error?.message ?? stored.error?.raw ?? `The run ended ${stored.status ?? "without success"}`);
  if (stored.error?.name) error.name = stored.error.name;
  if (stored.error?.stackTrace) error.stack = stored.error.stackTrace;
  return {
    ok: false,
    id: stored.id,
    taskIdentifier: stored.taskIdentifier,
    error,
    unwrap: () => {
      throw new SubtaskUnwrapError(stored.taskIdentifier, stored.id, error);
    },
  };
}

function callSiteKey(runId: string, position: number): string {
  return createHash("sha256").update(`${runId}:${position}`).digest("hex");
}

function outputOf(entry: JournalEntry): unknown {
  return typeof entry.output === "string" ? JSON.parse(entry.output) : entry.output;
}

export async function triggerAndWaitTask<TOutput>(taskId: string, payload: unknown, options?: TriggerOptions): Promise<TaskRunResult<TOutput>> {
  const runtime = runtimeOrThrow("triggerAndWait()");
  const position = runtime.nextJournalPosition();
  const name = `triggerAndWait:${taskId}`;
  const recorded = await journalLookup(runtime, position, "trigger", name);
  if (recorded?.status === "COMPLETED") return toResult<TOutput>(outputOf(recorded) as StoredResult);
  const child = await triggerTask(taskId, payload, { ...options, idempotencyKey: callSiteKey(runtime.ctx.run.id, position) });
  const entry = await journalWait(runtime, position, "trigger", name, { type: "RUN", childRunId: child.id });
  return toResult<TOutput>(outputOf(entry) as StoredResult);
}

export async function batchTriggerAndWaitTasks<TOutput>(
  name: string,
  items: Array<{ task: string; payload: unknown; options?: TriggerOptions }>,
): Promise<{ id: string; runs: Array<TaskRunResult<TOutput>> }> {
  const runtime = runtimeOrThrow("batchTriggerAndWait()");
  const position = runtime.nextJournalPosition();
  const recorded = await journalLookup(runtime, position, "batch", name);
  let entry = recorded?.status === "COMPLETED" ? recorded : null;
  let batchId = "";
  if (!entry) {
    const batch = await batchTriggerTasks(items, { idempotencyKey: callSiteKey(runtime.ctx.run.id, position) });
    batchId = batch.batchId;
    entry = await journalWait(runtime, position, "batch", name, { type: "BATCH", batchId });
  }
  const results = outputOf(entry) as StoredResult[];
  return { id: batchId, runs: await Promise.all(results.map((result) => toResult<TOutput>(result))) };
}
