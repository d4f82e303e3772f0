// The journal of a run, as the SDK inside a task uses it: look up what an operation did before,
// record a step's result, start a wait (on a date, a token, a child run or a batch), and suspend the
// run while it waits so that it holds no process and no concurrency slot.
import type { TransactionSql } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import { uuidv7 } from "../ids.ts";
import {
  batchesLock,
  batchesResultsIfFinished,
  journalCompleteFromWaitpoints,
  journalGet,
  journalInsert,
  journalLength,
  runsResultForWaitpoint,
  runWaitpointsAnyWaiting,
  runWaitpointsBlock,
  waitpointsFind,
  waitpointsInsert,
  type JournalEntry,
} from "../storage/waitpoints.ts";
import { toPublicId } from "../ids.ts";
import { attemptsNoteSuspension, checkpointsBelongsToRun } from "../storage/checkpoints.ts";
import { executionsHeldBy, runsSuspend } from "../storage/executions.ts";
import { runsLock, runsLockChild } from "../storage/runs.ts";
import { completeWaitpoints } from "./waitpoints.ts";
import { isFinal } from "./run-status.ts";
import type { EngineDeps } from "./trigger.ts";

/** Entries a run's journal may hold: a run that keeps journaling past it is failed. */
export const journalLimit = 10_000;

export type WaitSpec =
  | { type: "DATETIME"; date: Date }
  | { type: "TOKEN"; tokenId: string }
  | { type: "RUN"; childRunId: string }
  | { type: "BATCH"; batchId: string };

export type JournalRequest =
  | { op: "get" }
  | { op: "record"; kind: JournalEntry["kind"]; name: string; output: string | null; outputType: string; isError: boolean }
  | { op: "wait"; kind: JournalEntry["kind"]; name: string; wait: WaitSpec };

interface Lease {
  runId: string;
  workerId: string;
}

/** The run must be executing under this worker's lease; everything else is refused. */
async function assertLeaseHeld(tx: TransactionSql, environmentId: string, lease: Lease): Promise<void> {
  if (!(await executionsHeldBy(tx, environmentId, lease))) throw new ApiError("CONFLICT", "This worker does not hold the run (its lease expired or the run moved on)");
}

/**
 * Brings a PENDING entry up to date: a DATETIME wait whose time has passed is completed on the spot
 * (not at the next sweep), and an entry whose waitpoint already completed gets its result.
 */
async function settleDueDate(
  tx: TransactionSql,
  environmentId: string,
  runId: string,
  entry: JournalEntry,
  now: Date,
): Promise<{ entry: JournalEntry; resumed: string[] }> {
  if (entry.status !== "PENDING" || !entry.waitpointId) return { entry, resumed: [] };
  const waitpoint = await waitpointsFind(tx, environmentId, entry.waitpointId);
  if (waitpoint && waitpoint.status !== "WAITING") {
    await journalCompleteFromWaitpoints(tx, [waitpoint.id], now);
    return { entry: (await journalGet(tx, runId, entry.position)) ?? entry, resumed: [] };
  }
  if (waitpoint?.type !== "DATETIME" || !waitpoint.completedAfter || waitpoint.completedAfter > now) {
    return { entry, resumed: [] };
  }
  const resumed = await completeWaitpoints(tx, [waitpoint.id], { status: "COMPLETED", output: null, outputType: "application/json", isError: false }, now);
  return { entry: (await journalGet(tx, runId, entry.position)) ?? entry, resumed };
}

async function createWaitpoint(tx: TransactionSql, environmentId: string, wait: WaitSpec, now: Date): Promise<string> {
  if (wait.type === "TOKEN") {
    // Locked, so a completion racing with this wait either lands first (seen here) or after (and
    // then finds this run's journal entry and edge).
    const token = await waitpointsFind(tx, environmentId, wait.tokenId, true);
    if (!token || token.type !== "MANUAL") throw new ApiError("NOT_FOUND", `No wait token ${toPublicId("wp", wait.tokenId)}`);
    return token.id;
  }
  const id = uuidv7(now);
  if (wait.type === "DATETIME") {
    await waitpointsInsert(tx, { id, environmentId, type: "DATETIME", completedAfter: wait.date }, now);
    if (wait.date <= now) await completeWaitpoints(tx, [id], { status: "COMPLETED", output: null, outputType: "application/json", isError: false }, now);
    return id;
  }
  if (wait.type === "RUN") {
    // The child's row lock orders this against the child finishing: either we see it finished, or it
    // sees this waitpoint when it does.
    const child = await runsLockChild(tx, environmentId, wait.childRunId);
    if (!child) throw new ApiError("NOT_FOUND", `No run ${toPublicId("run", wait.childRunId)}`);
    await waitpointsInsert(tx, { id, environmentId, type: "RUN", completedAfter: null, completedByRunId: wait.childRunId }, now);
    if (isFinal(child.status)) {
      const finished = await runsResultForWaitpoint(tx, wait.childRunId);
      const result: Record<string, unknown> = { ...finished!.result, id: toPublicId("run", wait.childRunId) };
      await completeWaitpoints(tx, [id], { status: "COMPLETED", output: JSON.stringify(result), outputType: "application/json", isError: result.ok !== true }, now);
    }
    return id;
  }
  // Likewise the batch's row lock, taken by every child of the batch as it finishes. Only a batch of
  // the run's own environment: its items' outputs are the batch's result.
  if (!(await batchesLock(tx, environmentId, wait.batchId))) throw new ApiError("NOT_FOUND", `No batch ${toPublicId("batch", wait.batchId)}`);
  await waitpointsInsert(tx, { id, environmentId, type: "BATCH", completedAfter: null, completedByBatchId: wait.batchId }, now);
  const results = await batchesResultsIfFinished(tx, wait.batchId);
  if (results) {
    const items = results.map(({ runId: child, ...rest }) => ({ ...rest, id: toPublicId("run", child as string) }));
    await completeWaitpoints(tx, [id], { status: "COMPLETED", output: JSON.stringify(items), outputType: "application/json", isError: false }, now);
  }
  return id;
}

export async function journalOperation(
  deps: EngineDeps,
  environmentId: string,
  lease: Lease,
  position: number,
  request: JournalRequest,
): Promise<JournalEntry | null> {
  const now = deps.clock.now();
  const { entry, resumed } = await deps.db.sql.begin(async (tx) => {
    await runsLock(tx, environmentId, lease.runId);
    await assertLeaseHeld(tx, environmentId, lease);
    const existing = await journalGet(tx, lease.runId, position);
    if (existing) return settleDueDate(tx, environmentId, lease.runId, existing, now);
    if (request.op === "get") return { entry: null, resumed: [] };
    if ((await journalLength(tx, lease.runId)) >= journalLimit) {
      throw new ApiError("UNPROCESSABLE", `A run's journal holds at most ${journalLimit} operations`);
    }
    if (request.op === "record") {
      const recorded = await journalInsert(
        tx,
        lease.runId,
        {
          position,
          kind: request.kind,
          name: request.name,
          status: "COMPLETED",
          waitpointId: null,
          // The packet text (superjson) is kept as a JSON string, handed back exactly as sent.
          output: request.output === null ? null : JSON.stringify(request.output),
          outputType: request.outputType,
          isError: request.isError,
        },
        now,
      );
      return { entry: recorded, resumed: [] };
    }
    const waitpointId = await createWaitpoint(tx, environmentId, request.wait, now);
    const waitpoint = await waitpointsFind(tx, environmentId, waitpointId);
    const done = waitpoint!.status !== "WAITING";
    await journalInsert(
      tx,
      lease.runId,
      {
        position,
        kind: request.kind,
        name: request.name,
        status: done ? "COMPLETED" : "PENDING",
        waitpointId,
        output: done && waitpoint!.output !== null && waitpoint!.output !== undefined ? JSON.stringify(waitpoint!.output) : null,
        outputType: waitpoint!.outputType,
        isError: waitpoint!.outputIsError,
      },
      now,
    );
    if (!done) await runWaitpointsBlock(tx, lease.runId, waitpointId, now);
    return { entry: await journalGet(tx, lease.runId, position), resumed: [] as string[] };
  });
  for (const environment of resumed) deps.notifier.queueChanged(environment);
  return entry;
}

/** How a suspension holds the run: a checkpoint of its container, or replay and why (docs/checkpoints.md). */
export interface SuspendHow {
  checkpointId?: string;
  fallbackReason?: string;
}

/**
 * Suspends a run that waits: its execution (and so its concurrency slot) is released and it is
 * WAITING until its waitpoints complete. If they all completed meanwhile, nothing is suspended and
 * the caller carries on.
 */
export async function suspendRun(deps: EngineDeps, environmentId: string, lease: Lease, how: SuspendHow = {}): Promise<boolean> {
  const now = deps.clock.now();
  const suspended = await deps.db.sql.begin(async (tx) => {
    // The run's lock first: a waitpoint completing now waits for it, then sees WAITING and resumes.
    await runsLock(tx, environmentId, lease.runId);
    await assertLeaseHeld(tx, environmentId, lease);
    if (how.checkpointId && !(await checkpointsBelongsToRun(tx, how.checkpointId, lease.runId, environmentId))) {
      throw new ApiError("NOT_FOUND", "checkpointId: no checkpoint of this run has that id");
    }
    const waiting = await runWaitpointsAnyWaiting(tx, lease.runId);
    // Noted while the attempt is still leased (the execution row names it); a wait already over
    // keeps its checkpoint, which the runner restores at once.
    if (waiting || how.fallbackReason) {
      await attemptsNoteSuspension(tx, lease, { checkpointed: waiting && how.checkpointId !== undefined, fallback: how.fallbackReason ?? null });
    }
    if (!waiting) return false;
    await runsSuspend(tx, environmentId, lease, now);
    return true;
  });
  // The slot is free for other runs.
  if (suspended) deps.notifier.queueChanged(environmentId);
  return suspended;
}
