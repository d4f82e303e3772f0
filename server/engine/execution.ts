// The worker side of a run's life: dequeue (long-poll), start, heartbeat, complete.
import { ApiError } from "../errors.ts";
import {
  executionsDequeue,
  executionsHandBack,
  executionsHeartbeat,
  executionsHeld,
  executionsMarkConnectionLost,
  executionsMarkUnrenewedConnectionLost,
  executionsRelease,
  executionsStart,
  executionsCompleteFast,
  runsLockForOutcome,
  type WorkerLease,
} from "../storage/executions.ts";
import { runsFindByIds, type RunRow } from "../storage/runs.ts";
import { environmentsTouchWorkerSeen } from "../storage/schedules.ts";
import { applyAttemptOutcome, type AttemptOutcome, type OutcomeOptions, type OutcomeResult } from "./attempt-outcome.ts";
import { completeWaitpointsForFinishedRun } from "./waitpoints.ts";
import type { EngineSettings } from "./settings.ts";
import type { EngineDeps } from "./trigger.ts";

/** A run's attempt as a worker holds it, with the environment of the key the worker acts with. */
export type Lease = WorkerLease;

export interface DequeuedRun {
  run: RunRow;
  attemptNumber: number;
}

export async function dequeueOnce(
  deps: EngineDeps,
  settings: EngineSettings,
  request: { environmentId: string; workerId: string; max: number; start?: boolean; versions?: string[] },
): Promise<DequeuedRun[]> {
  const now = deps.clock.now();
  // One statement: atomic on its own, and one round trip.
  const claimed = await executionsDequeue(deps.db.sql, {
    environmentId: request.environmentId,
    workerId: request.workerId,
    max: request.max,
    leaseSeconds: settings.leaseSeconds,
    now,
    start: request.start ?? false,
    deadlineGraceSeconds: settings.deadlineGraceSeconds,
    versions: request.versions ?? null,
  });
  if (claimed.length === 0) return [];
  deps.notifier.runsChanged(request.environmentId);
  const found = await runsFindByIds(deps.db.sql, request.environmentId, claimed.map((row) => row.runId));
  const runs = new Map(found.map((run) => [run.id, run]));
  for (const run of found) deps.metrics?.attemptStarted(run.taskIdentifier, run.queuedAt, now);
  return claimed.flatMap((row) => {
    const run = runs.get(row.runId);
    return run ? [{ run, attemptNumber: row.attemptNumber }] : [];
  });
}

/**
 * Checked again at each wake-up of a long poll, before it hands out or extends anything: throws when
 * the caller may no longer act (its key was revoked while it waited).
 */
export type StillAllowed = () => Promise<void>;

/** Waits up to `waitMs` for work: woken by notifications, polling as the fallback. */
export async function dequeue(
  deps: EngineDeps,
  settings: EngineSettings,
  request: {
    environmentId: string;
    workerId: string;
    max: number;
    start?: boolean;
    versions?: string[];
    waitMs: number;
    signal?: AbortSignal;
    stillAllowed?: StillAllowed;
  },
): Promise<DequeuedRun[]> {
  deps.metrics?.longPollStarted();
  try {
    return await dequeueWaiting(deps, settings, request);
  } finally {
    deps.metrics?.longPollEnded();
  }
}

async function dequeueWaiting(
  deps: EngineDeps,
  settings: EngineSettings,
  request: { environmentId: string; workerId: string; max: number; start?: boolean; waitMs: number; signal?: AbortSignal; stillAllowed?: StillAllowed },
): Promise<DequeuedRun[]> {
  const deadline = Date.now() + Math.min(request.waitMs, settings.maxDequeueWaitMs);
  await environmentsTouchWorkerSeen(deps.db.sql, request.environmentId, deps.clock.now());
  for (let woken = false; ; woken = true) {
    // A worker that went away must not be handed runs it will never see.
    if (request.signal?.aborted) return [];
    // The first look was authorized with the request; each later one is checked again.
    if (woken) await request.stillAllowed?.();
    const runs = await dequeueOnce(deps, settings, request);
    if (runs.length > 0 && request.signal?.aborted) {
      // The worker hung up (it is stopping) or this server is closing while these were claimed: the
      // answer would reach nobody, so they go straight back to the queue, no attempt spent.
      await handBack(deps, request, runs.map(({ run, attemptNumber }) => ({ runId: run.id, attemptNumber })));
      return [];
    }
    const remaining = deadline - Date.now();
    if (runs.length > 0 || remaining <= 0 || request.signal?.aborted) return runs;
    await deps.notifier.waitForWork(request.environmentId, Math.min(remaining, settings.dequeuePollMs), request.signal);
  }
}

/**
 * When this process last recorded a worker's presence per environment, for the completion path: a
 * busy worker gets its runs from its completions and long-polls rarely, but it is still there (dev
 * schedules fire only while a worker is). Per database handle, so separate apps stay separate.
 */
const workerSeenTouched = new WeakMap<object, Map<string, number>>();
const workerSeenEveryMs = 5_000;

async function touchWorkerSeenThrottled(deps: EngineDeps, environmentId: string): Promise<void> {
  let touched = workerSeenTouched.get(deps.db);
  if (!touched) workerSeenTouched.set(deps.db, (touched = new Map()));
  const last = touched.get(environmentId);
  if (last !== undefined && Date.now() - last < workerSeenEveryMs) return;
  touched.set(environmentId, Date.now());
  await environmentsTouchWorkerSeen(deps.db.sql, environmentId, deps.clock.now());
}

/**
 * The next runs for the slots a completion request frees (docs/protocol.md, "next"): claimed and
 * started right after the completions, without waiting, so a busy worker needs one request per run.
 * Claimed for a worker that hung up meanwhile, they go straight back to the queue.
 */
export async function dequeueForCompletions(
  deps: EngineDeps,
  settings: EngineSettings,
  request: { environmentId: string; workerId: string; max: number; versions?: string[]; signal?: AbortSignal },
): Promise<DequeuedRun[]> {
  if (request.max <= 0 || request.signal?.aborted) return [];
  const [runs] = await Promise.all([
    dequeueOnce(deps, settings, { ...request, start: true }),
    touchWorkerSeenThrottled(deps, request.environmentId),
  ]);
  if (runs.length > 0 && request.signal?.aborted) {
    await handBack(deps, request, runs.map(({ run, attemptNumber }) => ({ runId: run.id, attemptNumber })));
    return [];
  }
  return runs;
}

function leaseLost(lease: Lease): ApiError {
  return new ApiError(
    "CONFLICT",
    `Attempt ${lease.attemptNumber} of this run is not leased to worker ${lease.workerId} (the lease expired, or the attempt already ended)`,
  );
}

export async function startAttempt(deps: EngineDeps, settings: EngineSettings, lease: Lease): Promise<void> {
  if (!(await executionsStart(deps.db.sql, lease, deps.clock.now(), settings.deadlineGraceSeconds))) throw leaseLost(lease);
  deps.notifier.runsChanged(lease.environmentId);
}

/** The longest a heartbeat long-poll waits: a third of the lease, so two more tries fit in it. */
export function heartbeatWaitLimitMs(settings: EngineSettings): number {
  return (settings.leaseSeconds * 1000) / 3;
}

/**
 * Extends the leases a worker holds and tells it which of its runs were canceled. With `waitMs` it
 * long-polls: it answers at once when a run of this worker is canceled or a lease named is taken
 * away, else after `waitMs`, so a worker hears of a cancel within milliseconds without heartbeating
 * often. Completions do not end the wait: the worker that sent them knows already.
 */
export async function heartbeat(
  deps: EngineDeps,
  settings: EngineSettings,
  request: {
    environmentId: string;
    workerId: string;
    /** `canceling`: the worker was told of this run's cancel and is stopping it already. */
    leases: Array<{ runId: string; attemptNumber: number; canceling?: boolean }>;
    waitMs?: number;
    signal?: AbortSignal;
    stillAllowed?: StillAllowed;
    /** Names this heartbeat on the leases it renews, so that its connection dropping can be told apart. */
    heartbeatId?: string;
  },
): Promise<{ held: string[]; lost: string[]; cancel: string[] }> {
  const named = request.leases.map((lease) => lease.runId);
  const isNamed = new Set(named);
  const extend = () =>
    executionsHeartbeat(deps.db.sql, request, named, new Date(deps.clock.now().getTime() + settings.leaseSeconds * 1000), request.heartbeatId ?? null);
  let rows = await extend();
  // Answer well within the lease just extended, whatever wait the worker asked for: the worker
  // heartbeats again only after this answer, so a longer wait would let its leases run out (and
  // runs it dequeued meanwhile are covered only by the next heartbeat).
  const deadline = Date.now() + Math.min(request.waitMs ?? 0, settings.maxDequeueWaitMs, heartbeatWaitLimitMs(settings));
  const namedHeld = () => rows.filter((row) => isNamed.has(row.runId)).length;
  // A cancel the worker already acts on (its run's onCancel may take a while) must not end every
  // heartbeat at once: that would spin the worker's heartbeat loop until the run ends.
  const known = new Set(request.leases.filter((lease) => lease.canceling).map((lease) => lease.runId));
  const newCancel = () => rows.some((row) => row.cancelRequested && !known.has(row.runId));
  // Nothing named is held any more (or nothing was named): answer at once, there is nothing to keep.
  if (namedHeld() > 0) {
    // The lease was extended past the end of this wait; while waiting, only look (without writing).
    // Only cancels and lease losses wake the wait (notifier.leasesChanged); the poll is the fallback
    // for a lost notification, and on it only a cancel ends the wait: a named run gone then is most
    // likely one the worker completed itself.
    while (!newCancel() && Date.now() < deadline && !request.signal?.aborted) {
      const woken = await deps.notifier.waitForLeaseChange(request.environmentId, Math.min(deadline - Date.now(), settings.dequeuePollMs), request.signal);
      if (request.signal?.aborted) break;
      await request.stillAllowed?.();
      rows = await executionsHeld(deps.db.sql, request, named);
      if (woken && namedHeld() < isNamed.size) break;
    }
  }
  // A retry in place replaces the execution row in one transaction; a heartbeat that raced it saw
  // the old row go and not the new one. A second look, with a fresh snapshot, settles it (the
  // worker's other canceled runs the waiting loop saw are kept).
  if (namedHeld() < isNamed.size) {
    const others = rows.filter((row) => !isNamed.has(row.runId));
    rows = [...(await extend()), ...others];
  }
  const held = new Set(rows.filter((row) => isNamed.has(row.runId)).map((row) => row.runId));
  return {
    held: [...held],
    lost: request.leases.filter((lease) => !held.has(lease.runId)).map((lease) => lease.runId),
    cancel: rows.filter((row) => row.cancelRequested).map((row) => row.runId),
  };
}

/**
 * The connection of heartbeat `heartbeatId` closed before it was answered: the worker may be gone.
 * Its leases are marked; unless a heartbeat (through any server) follows within the grace period,
 * the sweeper fails those attempts as "worker lost" and the retry policy decides.
 */
export async function heartbeatConnectionLost(
  deps: EngineDeps,
  heartbeat: { environmentId: string; workerId: string; runIds: string[]; heartbeatId: string },
): Promise<number> {
  return executionsMarkConnectionLost(deps.db.sql, heartbeat, deps.clock.now());
}

/** The same for a dequeue whose connection closed: leases no heartbeat has renewed yet are marked. */
export async function dequeueConnectionLost(deps: EngineDeps, worker: { environmentId: string; workerId: string }): Promise<number> {
  return executionsMarkUnrenewedConnectionLost(deps.db.sql, worker, deps.clock.now());
}

/** Ends an attempt exactly once: a completion for a lease that is no longer held is refused. */
export async function completeAttempt(
  deps: EngineDeps,
  lease: Lease,
  outcome: AttemptOutcome,
  options: OutcomeOptions = {},
): Promise<OutcomeResult> {
  const now = deps.clock.now();
  if (outcome.kind === "success") {
    const fast = await executionsCompleteFast(deps.db.sql, lease, outcome, now);
    if (fast.outcome === "lost") throw leaseLost(lease);
    if (fast.outcome === "completed") {
      deps.notifier.queueChanged(fast.environmentId!);
      // The statement answered the metrics' figures: no query of their own.
      deps.metrics?.attemptCompletedWith(lease.runId, { taskIdentifier: fast.taskIdentifier!, environmentId: fast.environmentId!, durationSeconds: fast.durationSeconds }, "COMPLETED", false);
      return { status: "COMPLETED", requeued: false, retryAt: null };
    }
  }
  const result = await deps.db.sql.begin(async (tx) => {
    // Both at once (pipelined): locking the run of a lease that turns out lost does no harm.
    const [execution, run] = await Promise.all([executionsRelease(tx, lease), runsLockForOutcome(tx, lease.environmentId, lease.runId)]);
    if (!execution) return null;
    return { execution, outcome: await applyAttemptOutcome(tx, execution, outcome, now, options, run) };
  });
  if (!result) throw leaseLost(lease);
  // A slot was freed, and a retry may be queued: either way dequeuers should look again.
  deps.notifier.queueChanged(result.execution.environmentId);
  for (const environmentId of result.outcome.resumed ?? []) deps.notifier.queueChanged(environmentId);
  const stays = result.outcome.requeued || result.outcome.nextAttemptNumber !== undefined;
  await deps.metrics?.attemptCompleted(lease.runId, lease.attemptNumber, result.outcome.status, stays);
  return result.outcome;
}

/** Returns runs a stopping worker will not finish to the queue, without using up an attempt. */
export async function handBack(
  deps: EngineDeps,
  holder: { environmentId: string; workerId: string },
  leases: Array<{ runId: string; attemptNumber: number }>,
): Promise<number> {
  const now = deps.clock.now();
  let returned = 0;
  for (const lease of leases) {
    const result = await deps.db.sql.begin(async (tx) => {
      const handedBack = await executionsHandBack(tx, { ...lease, environmentId: holder.environmentId, workerId: holder.workerId }, now);
      // A run canceled meanwhile ends here: whoever waits for it gets its result.
      const resumed = handedBack?.canceled ? await completeWaitpointsForFinishedRun(tx, lease.runId, now) : [];
      return handedBack ? { ...handedBack, resumed } : null;
    });
    if (!result) continue;
    if (!result.canceled) returned += 1;
    for (const environmentId of [result.environmentId, ...result.resumed]) deps.notifier.queueChanged(environmentId);
  }
  return returned;
}
