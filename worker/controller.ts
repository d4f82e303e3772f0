// The worker's run loop: dequeue as many runs as there are free slots (long-poll), run each attempt
// in a child process from the pool, send heartbeats for everything in hand, pass on cancellations,
// ship the run's logs, and report each outcome. Short retries stay in this worker; long ones go back
// to the queue.
import { apiRequest } from "../sdk/api-client.ts";
import { attemptSpanId } from "../sdk/span-ids.ts";
import { CompletionSender, type CompletionResult } from "./completion-sender.ts";
import type { RunEvent, TaskContext } from "../sdk/runtime.ts";
import type { AttemptOutcome, AttemptRunner, RunnerPool } from "./runner.ts";
import { EnvironmentVariablesSource } from "./environment-variables.ts";

export interface DequeuedRun {
  id: string;
  attemptNumber: number;
  taskIdentifier: string;
  payload: unknown;
  payloadType: string;
  metadata?: Record<string, unknown>;
  tags: string[];
  queue: string;
  concurrencyKey?: string;
  idempotencyKey?: string;
  maxAttempts?: number;
  retry?: { maxAttempts?: number };
  maxDuration?: number;
  machine?: string;
  version?: string;
  isTest: boolean;
  createdAt: string;
  startedAt: string;
  parentRunId?: string;
  rootRunId?: string;
  /** The run's trace id (absent from servers older than traces). */
  traceId?: string;
  batchId?: string;
  depth: number;
  /** The environment's variables version when the run was claimed (absent from older servers). */
  envvarsVersion?: number;
  /** The run resumes from this checkpoint of its container (asked for with `checkpoints: true`). */
  checkpointId?: string;
}

export interface WorkerVersion {
  version: string;
  bundle: string;
  pool: RunnerPool;
}

export interface RunReport {
  runId: string;
  taskIdentifier: string;
  attemptNumber: number;
  status: string;
  durationMs: number;
  /** What the attempt threw, when it failed (its stack is source-mapped to the task files). */
  error?: { message: string; stackTrace?: string };
}

export interface ControllerOptions {
  workerId: string;
  concurrency: number;
  environment: { id: string; slug: string; type: string };
  projectRef: string;
  /** Retries due within this many ms run again here, keeping the slot. */
  retryInPlaceWithinMs?: number;
  /** Waits up to this long keep the process; longer ones suspend the run (default 5 s). */
  waitInProcessMs?: number;
  heartbeatIntervalMs?: number;
  dequeueWaitSeconds?: number;
  /** How long a completion the server has not answered is retried (default 15 min). */
  completionRetryForMs?: number;
  /** Each attempt as it starts here (the CLI prints a line). */
  onRunStart?: (run: { runId: string; taskIdentifier: string; attemptNumber: number }) => void;
  onRunReport?: (report: RunReport) => void;
  log?: (message: string) => void;
}

interface InFlight {
  run: DequeuedRun;
  attemptNumber: number;
  version: WorkerVersion;
  process: AttemptRunner | null;
  lost: boolean;
  handedBack: boolean;
  /** Its cancel reached the process; heartbeats name it `canceling`. */
  canceling?: boolean;
  /**
   * Bumped whenever a completion is answered. A heartbeat answer describes the lease as it was when
   * the heartbeat was sent; once a completion has moved the run on (a retry in place gets a new
   * lease), an older "lost" answer is stale and must not stop the new attempt.
   */
  leaseEpoch: number;
  completing: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The default maxAttempts the server applies (engine/retry.ts), so hooks know a failure is final. */
function maxAttemptsOf(run: DequeuedRun): number {
  if (run.maxAttempts !== undefined) return run.maxAttempts;
  if (!run.retry) return 1;
  return run.retry.maxAttempts ?? 3;
}

export class WorkerController {
  readonly #options: ControllerOptions;
  readonly #completions: CompletionSender;
  readonly #variables = new EnvironmentVariablesSource((message) => this.#log(message));
  #version: WorkerVersion | null = null;
  /** Versions served besides #version (`ratchet runner` serves every deployed version). */
  readonly #alsoServed = new Map<string, WorkerVersion>();
  #versionCursor = 0;
  readonly #retired = new Set<WorkerVersion>();
  readonly #inFlight = new Map<string, InFlight>();
  #stopping = false;
  #dequeueAbort: AbortController | null = null;
  #slotFreed: (() => void) | null = null;
  #heartbeatAbort: AbortController | null = null;
  #heartbeats: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  #stopped = false;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#completions = new CompletionSender(options.workerId, {
      retryForMs: options.completionRetryForMs,
      log: (message) => this.#log(message),
      // The runs that take the freed slots come back in the completion's answer.
      next: () =>
        this.#stopping || !this.#version
          ? null
          : { versions: [this.#version.version], checkpoints: this.#version.pool.restoresCheckpoints === true, tag: this.#version },
      onExtraRuns: (runs, tag) => {
        for (const run of runs) this.#takeNextRun(run, tag as WorkerVersion);
      },
    });
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** New runs use this version; runs in flight finish on the one they started with. */
  setVersion(version: WorkerVersion): void {
    if (this.#version) this.#retired.add(this.#version);
    this.#version = version;
    void this.#closeRetiredPools();
  }

  /**
   * Serves `version`'s pinned runs too, with its own pool, for as long as this worker runs; the
   * first one served is also the version of unpinned runs.
   */
  addVersion(version: WorkerVersion): void {
    if (!this.#version) this.#version = version;
    else this.#alsoServed.set(version.version, version);
    this.#wake();
  }

  /** The versions named in the next dequeue: all of them, or a rotating window of the protocol's 16. */
  #dequeueVersions(primary: WorkerVersion): string[] {
    const others = [...this.#alsoServed.keys()].filter((version) => version !== primary.version);
    if (others.length <= 15) return [primary.version, ...others];
    const start = this.#versionCursor % others.length;
    this.#versionCursor += 15;
    return [primary.version, ...[...others, ...others].slice(start, start + 15)];
  }

  start(): void {
    this.#loop = this.#run();
    this.#heartbeats = this.#heartbeatLoop();
  }

  /** Stops taking runs, lets those in hand finish for up to `graceMs`, then hands the rest back. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.#dequeueAbort?.abort();
    this.#wake();
    await this.#loop;
    const deadline = Date.now() + graceMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) await sleep(50);
    // A run whose result is on its way to the server is not handed back: that would run it again.
    const remaining = [...this.#inFlight.values()].filter((entry) => !entry.completing);
    if (remaining.length > 0) {
      for (const entry of remaining) entry.handedBack = true;
      await apiRequest("POST", "/engine/v1/release", {
        body: { workerId: this.#options.workerId, runs: remaining.map((entry) => ({ runId: entry.run.id, attemptNumber: entry.attemptNumber })) },
      }).catch((error: unknown) => this.#log(`could not hand back runs: ${(error as Error).message}`));
      await Promise.all(remaining.map((entry) => entry.process?.stop()));
    }
    // Completions still being retried keep their leases alive through heartbeats until they land.
    while (this.#inFlight.size > 0) await sleep(50);
    this.#stopped = true;
    this.#heartbeatAbort?.abort();
    await this.#heartbeats;
    await Promise.all([this.#version, ...this.#alsoServed.values(), ...this.#retired].map((version) => version?.pool.close()));
  }

  #log(message: string): void {
    this.#options.log?.(message);
  }

  #wake(): void {
    this.#slotFreed?.();
    this.#slotFreed = null;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const free = this.#options.concurrency - this.#inFlight.size;
      if (free <= 0 || !this.#version) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
        continue;
      }
      this.#dequeueAbort = new AbortController();
      try {
        const { runs } = await apiRequest<{ runs: DequeuedRun[] }>("POST", "/engine/v1/dequeue", {
          // Only runs of the version this worker runs now (or unpinned ones): a run pinned to other code
          // waits for a worker of its own version.
          body: {
            workerId: this.#options.workerId,
            maxRuns: free,
            waitSeconds: this.#options.dequeueWaitSeconds ?? 20,
            start: true,
            versions: this.#dequeueVersions(this.#version),
            checkpoints: this.#version.pool.restoresCheckpoints === true,
          },
          signal: this.#dequeueAbort.signal,
        });
        for (const run of runs) this.#startRun(run, (run.version && this.#alsoServed.get(run.version)) || this.#version);
      } catch (error) {
        if (this.#stopping) break;
        this.#log(`dequeue failed: ${(error as Error).message}; retrying`);
        await sleep(1000);
      }
    }
  }

  #startRun(run: DequeuedRun, version: WorkerVersion): void {
    const entry: InFlight = { run, attemptNumber: run.attemptNumber, version, process: null, lost: false, handedBack: false, leaseEpoch: 0, completing: false };
    this.#inFlight.set(run.id, entry);
    this.#execute(entry)
      .catch((error: unknown) => this.#log(`run ${run.id} failed in the worker: ${(error as Error)?.stack ?? String(error)}`))
      .finally(() => {
        this.#inFlight.delete(run.id);
        this.#wake();
        void this.#closeRetiredPools();
      });
  }

  /**
   * A run the server claimed and started for this worker in a completion's answer. Once the worker is
   * stopping it is handed straight back (no attempt spent) rather than started.
   */
  #takeNextRun(run: DequeuedRun, version: WorkerVersion): void {
    if (!this.#stopping) {
      this.#startRun(run, version);
      return;
    }
    const lease = { runId: run.id, attemptNumber: run.attemptNumber };
    const entry: InFlight = { run, attemptNumber: run.attemptNumber, version, process: null, lost: false, handedBack: true, leaseEpoch: 0, completing: false };
    // Held in flight until the server has it back, so that stop() waits for the release.
    this.#inFlight.set(run.id, entry);
    void apiRequest("POST", "/engine/v1/release", { body: { workerId: this.#options.workerId, runs: [lease] } })
      .catch((error: unknown) => this.#log(`could not hand back run ${run.id}: ${(error as Error).message}`))
      .finally(() => {
        this.#inFlight.delete(run.id);
        this.#wake();
      });
  }

  async #execute(entry: InFlight): Promise<void> {
    const { run } = entry;
    const { workerId } = this.#options;
    const started = Date.now();
    // The dequeue started this attempt (start: true); only a retry in place calls start itself.
    for (let first = true; ; first = false) {
      this.#options.onRunStart?.({ runId: run.id, taskIdentifier: run.taskIdentifier, attemptNumber: entry.attemptNumber });
      // Asked per attempt: a variable changed since the last one applies to this one. The first attempt
      // came with the version current when it was claimed, and needs no request when that is in hand.
      const process = entry.version.pool.acquire(run.machine, await this.#variables.current(first ? run.envvarsVersion : undefined));
      entry.process = process;
      const shipper = new EventShipper(run.id, entry.attemptNumber, workerId, (message) => this.#log(message));
      const outcome = await process.run(
        {
          type: "execute",
          bundle: entry.version.bundle,
          taskId: run.taskIdentifier,
          payload: run.payload,
          payloadType: run.payloadType,
          ctx: this.#context(run, entry.attemptNumber),
          metadata: run.metadata ?? {},
          maxAttempts: maxAttemptsOf(run),
          maxDuration: run.maxDuration,
          workerId,
          waitInProcessMs: this.#options.waitInProcessMs ?? 5_000,
          checkpointId: run.checkpointId,
        },
        (events) => shipper.add(events),
      );
      await shipper.close();
      // A checkpoint is restored once; a retry of the attempt starts afresh.
      run.checkpointId = undefined;
      entry.process = null;
      await entry.version.pool.release(process, outcome.kind !== "finished");
      if (entry.lost || entry.handedBack) return;
      if (outcome.kind === "suspended") {
        this.#options.onRunReport?.({ runId: run.id, taskIdentifier: run.taskIdentifier, attemptNumber: entry.attemptNumber, status: "WAITING", durationMs: Date.now() - started });
        return;
      }
      const error = outcome.kind === "finished" && !outcome.result.ok ? outcome.result.error : undefined;
      const completion = this.#completion(entry, outcome);
      entry.completing = true;
      let result: CompletionResult;
      try {
        result = await this.#completions.send(completion);
      } finally {
        entry.leaseEpoch += 1;
        entry.completing = false;
      }
      // Started before this run's slot is given up (the caller's finally), so the dequeue loop does not
      // see the slot free meanwhile.
      if (result.nextRun) this.#takeNextRun(result.nextRun, result.nextFor as WorkerVersion);
      if (!result.accepted) {
        this.#log(`run ${run.id}: the server refused the outcome (${result.error})`);
        return;
      }
      if (result.nextAttemptNumber !== undefined && !this.#stopping) {
        this.#options.onRunReport?.({ runId: run.id, taskIdentifier: run.taskIdentifier, attemptNumber: entry.attemptNumber, status: "RETRYING", durationMs: Date.now() - started, error });
        await sleep(Math.max(0, new Date(result.retryAt!).getTime() - Date.now()));
        entry.attemptNumber = result.nextAttemptNumber;
        if (entry.lost) return;
        await apiRequest("POST", `/engine/v1/runs/${run.id}/attempts/${entry.attemptNumber}/start`, { body: { workerId } });
        continue;
      }
      this.#options.onRunReport?.({
        runId: run.id,
        taskIdentifier: run.taskIdentifier,
        attemptNumber: entry.attemptNumber,
        status: result.status ?? "UNKNOWN",
        durationMs: Date.now() - started,
        error,
      });
      return;
    }
  }

  #completion(entry: InFlight, outcome: AttemptOutcome): Record<string, unknown> {
    const base = { runId: entry.run.id, attemptNumber: entry.attemptNumber };
    switch (outcome.kind) {
      case "finished": {
        const result = outcome.result;
        if (result.ok) return { ...base, ok: true, output: result.output, outputType: result.outputType };
        return {
          ...base,
          ok: false,
          status: "FAILED",
          error: result.error,
          skipRetrying: result.skipRetrying,
          retryDelayMs: result.retryDelayMs,
          retryInPlaceWithinMs: result.final ? undefined : (this.#options.retryInPlaceWithinMs ?? 30_000),
        };
      }
      case "timed-out":
        return { ...base, ok: false, status: "TIMED_OUT", error: { type: "INTERNAL_ERROR", code: "MAX_DURATION_EXCEEDED", message: `The run exceeded its maxDuration of ${entry.run.maxDuration} s` } };
      case "canceled":
        return { ...base, ok: false, status: "CANCELED" };
      case "suspended":
        throw new Error("a suspended run has no outcome to report");
      case "crashed": {
        // V8 aborts the process when the heap limit of the run's machine is reached.
        const outOfMemory = outcome.oomKilled === true || outcome.signal === "SIGABRT" || outcome.code === 134;
        const code = outOfMemory
          ? "TASK_PROCESS_MAYBE_OOM_KILLED"
          : outcome.signal === "SIGKILL"
            ? "TASK_PROCESS_SIGKILL_TIMEOUT"
            : outcome.signal === "SIGSEGV"
              ? "TASK_PROCESS_SIGSEGV"
              : "TASK_PROCESS_EXITED_WITH_NON_ZERO_CODE";
        const how = outOfMemory
          ? `ran out of memory (machine ${entry.run.machine ?? "small-1x"}${outcome.oomKilled ? ": killed by the kernel at the container's memory limit" : ""})`
          : outcome.reason
            ? outcome.reason
          : outcome.signal
            ? `was killed by ${outcome.signal}`
            : `exited with code ${outcome.code}`;
        return { ...base, ok: false, status: "CRASHED", retryable: outcome.retryable, error: { type: "INTERNAL_ERROR", code, message: `The run's process ${how}` } };
      }
    }
  }

  #context(run: DequeuedRun, attemptNumber: number): TaskContext {
    return {
      run: {
        id: run.id,
        tags: run.tags,
        isTest: run.isTest,
        createdAt: new Date(run.createdAt),
        startedAt: new Date(run.startedAt),
        idempotencyKey: run.idempotencyKey,
        maxAttempts: maxAttemptsOf(run),
        maxDuration: run.maxDuration,
        version: run.version,
        concurrencyKey: run.concurrencyKey,
        batchId: run.batchId,
        parentRunId: run.parentRunId,
        rootRunId: run.rootRunId,
        depth: run.depth,
      },
      attempt: { number: attemptNumber, startedAt: new Date() },
      ...(run.traceId ? { trace: { traceId: run.traceId, spanId: attemptSpanId(run.id, attemptNumber) } } : {}),
      task: { id: run.taskIdentifier, filePath: "", exportName: "" },
      queue: { name: run.queue },
      environment: this.#options.environment,
      project: { ref: this.#options.projectRef },
      machine: run.machine ? { name: run.machine } : undefined,
    };
  }

  /**
   * Keeps the leases of every run in hand alive. Each heartbeat long-polls for up to
   * `heartbeatIntervalMs`, and returns at once when one of the runs is canceled.
   */
  async #heartbeatLoop(): Promise<void> {
    while (!this.#stopped) {
      if (this.#inFlight.size === 0) {
        await sleep(100);
        continue;
      }
      await this.#sendHeartbeat();
    }
  }

  async #sendHeartbeat(): Promise<void> {
    const entries = [...this.#inFlight.values()].filter((entry) => !entry.handedBack);
    if (entries.length === 0) {
      await sleep(100);
      return;
    }
    this.#heartbeatAbort = new AbortController();
    const sentEpochs = new Map(entries.map((entry) => [entry.run.id, entry.leaseEpoch]));
    try {
      const answer = await apiRequest<{ lost: string[]; cancel: string[] }>("POST", "/engine/v1/heartbeat", {
        body: {
          workerId: this.#options.workerId,
          runs: entries.map((entry) => ({ runId: entry.run.id, attemptNumber: entry.attemptNumber, ...(entry.canceling ? { canceling: true } : {}) })),
          waitSeconds: (this.#options.heartbeatIntervalMs ?? 10_000) / 1000,
        },
        signal: this.#heartbeatAbort.signal,
      });
      for (const id of answer.cancel) {
        const entry = this.#inFlight.get(id);
        // Told once per run: while its onCancel runs, later heartbeats say so and keep waiting.
        if (!entry?.process || entry.canceling) continue;
        entry.canceling = true;
        entry.process.cancel();
      }
      for (const id of answer.lost) {
        const entry = this.#inFlight.get(id);
        // A run whose completion is under way or was answered since holds the lease the server says.
        if (!entry || entry.completing || entry.leaseEpoch !== sentEpochs.get(id)) continue;
        entry.lost = true;
        void entry.process?.stop();
      }
    } catch (error) {
      if (this.#stopped) return;
      this.#log(`heartbeat failed: ${(error as Error).message}`);
      await sleep(1000);
    }
  }

  async #closeRetiredPools(): Promise<void> {
    for (const version of [...this.#retired]) {
      if ([...this.#inFlight.values()].some((entry) => entry.version === version)) continue;
      this.#retired.delete(version);
      await version.pool.close();
    }
  }
}

/** Sends a run's logs and spans in order, in batches, while it runs and once more at the end. */
class EventShipper {
  readonly #runId: string;
  readonly #attemptNumber: number;
  readonly #workerId: string;
  readonly #log: (message: string) => void;
  #buffer: RunEvent[] = [];
  #sending: Promise<void> = Promise.resolve();
  readonly #timer: NodeJS.Timeout;

  constructor(runId: string, attemptNumber: number, workerId: string, log: (message: string) => void) {
    this.#runId = runId;
    this.#attemptNumber = attemptNumber;
    this.#workerId = workerId;
    this.#log = log;
    this.#timer = setInterval(() => this.#flush(), 500);
  }

  add(events: RunEvent[]): void {
    this.#buffer.push(...events);
    if (this.#buffer.length >= 500) this.#flush();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#flush();
    await this.#sending;
  }

  #flush(): void {
    if (this.#buffer.length === 0) return;
    const events = this.#buffer.splice(0, 1000);
    this.#sending = this.#sending.then(() =>
      apiRequest("POST", `/engine/v1/runs/${this.#runId}/events`, {
        body: { workerId: this.#workerId, attemptNumber: this.#attemptNumber, events },
      }).then(
        () => undefined,
        (error: unknown) => this.#log(`could not send logs of ${this.#runId}: ${(error as Error).message}`),
      ),
    );
  }
}
