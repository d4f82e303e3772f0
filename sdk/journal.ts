// The journal seen from inside a run. Every wait, child trigger and step takes the next position;
// on a resumed or retried execution the server answers positions already recorded, so the task
// function runs again from the top but skips what it already did.
import { apiRequest } from "./api-client.ts";
import { currentRuntime, type TaskRuntime } from "./runtime.ts";

export interface JournalEntry {
  position: number;
  kind: "wait" | "token" | "step" | "trigger" | "batch";
  name: string;
  status: "PENDING" | "COMPLETED";
  output: unknown;
  outputType: string | null;
  isError: boolean;
}

export type WaitSpec =
  | { type: "DATETIME"; date: string }
  | { type: "TOKEN"; tokenId: string }
  | { type: "RUN"; childRunId: string }
  | { type: "BATCH"; batchId: string };

/** The code no longer performs the operations its journal recorded: replay cannot continue safely. */
export class JournalMismatchError extends Error {
  override name = "JournalMismatchError";
}

export function runtimeOrThrow(what: string): TaskRuntime {
  const runtime = currentRuntime();
  if (!runtime) throw new Error(`${what} can only be used inside a task's run`);
  return runtime;
}

async function call(runtime: TaskRuntime, position: number, body: Record<string, unknown>): Promise<JournalEntry | null> {
  const answer = await apiRequest<{ entry: JournalEntry | null }>("POST", `/engine/v1/runs/${runtime.ctx.run.id}/journal/${position}`, {
    body: { workerId: runtime.workerId, ...body },
  });
  return answer.entry;
}

function checkMatches(entry: JournalEntry, kind: JournalEntry["kind"], name: string): void {
  if (entry.kind !== kind || entry.name !== name) {
    throw new JournalMismatchError(
      `Operation ${entry.position} of this run was ${entry.kind} "${entry.name}", but the task now performs ${kind} "${name}" there. ` +
        "The code changed in a way its recorded history cannot follow; replay this run to start it afresh.",
    );
  }
}

export async function journalLookup(runtime: TaskRuntime, position: number, kind: JournalEntry["kind"], name: string): Promise<JournalEntry | null> {
  const entry = await call(runtime, position, { op: "get" });
  if (entry) checkMatches(entry, kind, name);
  return entry;
}

export async function journalRecord(
  runtime: TaskRuntime,
  position: number,
  kind: JournalEntry["kind"],
  name: string,
  result: { output: string | null; outputType: string; isError?: boolean },
): Promise<JournalEntry> {
  const entry = await call(runtime, position, { op: "record", kind, name, output: result.output, outputType: result.outputType, isError: result.isError ?? false });
  checkMatches(entry!, kind, name);
  return entry!;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Waits for what `wait` names and returns the completed entry. A short wait stays in the process;
 * a longer one suspends the run, and this execution ends: when the wait completes the run is queued
 * again and the journal answers this position at once.
 */
export async function journalWait(runtime: TaskRuntime, position: number, kind: JournalEntry["kind"], name: string, wait: WaitSpec): Promise<JournalEntry> {
  let entry = (await call(runtime, position, { op: "wait", kind, name, wait }))!;
  checkMatches(entry, kind, name);
  const deadline = Date.now() + runtime.waitInProcessMs;
  while (entry.status !== "COMPLETED") {
    const remaining = wait.type === "DATETIME" ? new Date(wait.date).getTime() - Date.now() : deadline - Date.now();
    if (remaining <= runtime.waitInProcessMs && remaining > 0 && !runtime.signal.aborted) {
      await sleep(wait.type === "DATETIME" ? remaining : Math.min(remaining, 200), runtime.signal);
    } else if (remaining > 0 || wait.type !== "DATETIME") {
      let fallbackReason: string | undefined;
      const checkpoints = runtime.checkpoints;
      // A wait of unknown length (token, child, batch) has waited in the process already: long.
      const long = wait.type !== "DATETIME" || remaining > (checkpoints?.afterMs ?? 0);
      if (checkpoints && long) {
        if ("take" in checkpoints) {
          // The runner checkpoints this process; it goes on here once restored, the wait over.
          const answer = await checkpoints.take();
          if (answer.restored) {
            entry = (await call(runtime, position, { op: "get" }))!;
            continue;
          }
          fallbackReason = answer.reason;
        } else {
          fallbackReason = checkpoints.unavailable;
        }
      }
      const { suspended } = await apiRequest<{ suspended: boolean }>("POST", `/engine/v1/runs/${runtime.ctx.run.id}/suspend`, {
        body: { workerId: runtime.workerId, fallbackReason },
      });
      if (suspended) {
        runtime.suspend();
        await new Promise(() => {});
      }
    }
    if (runtime.signal.aborted) throw runtime.signal.reason ?? new Error("The run was aborted");
    entry = (await call(runtime, position, { op: "get" }))!;
  }
  return entry;
}
