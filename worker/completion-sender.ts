// Sends attempt completions to the server, several per request when runs finish together, and keeps
// them until the server has answered: a finished run's result is never dropped because the API was
// unreachable for a while. Each request also asks for the next runs of the slots it frees, so a busy
// worker sends one request per run.
import { ApiError, apiRequest } from "../sdk/api-client.ts";
import type { DequeuedRun } from "./controller.ts";

export interface CompletionResult {
  accepted: boolean;
  status?: string;
  retryAt?: string;
  nextAttemptNumber?: number;
  error?: string;
  /** The run that takes this completion's slot, claimed and started for this worker by the server. */
  nextRun?: DequeuedRun;
  /** What `next()` returned when the request that brought `nextRun` went out. */
  nextFor?: unknown;
}

/** What a request asks for besides its completions: the next runs, of these versions (null: none). */
export interface NextRuns<T> {
  versions: string[];
  /** The worker restores checkpointed runs (docs/checkpoints.md); else the server has them replayed. */
  checkpoints?: boolean;
  /** Handed back with each run (the worker's version object, to run it with). */
  tag: T;
}

interface Pending {
  completion: Record<string, unknown>;
  resolve: (result: CompletionResult) => void;
  reject: (error: unknown) => void;
}

export interface CompletionSenderOptions {
  /**
   * How long to keep retrying completions the server has not answered. Longer than the server's
   * lease (60 s by default): the worker keeps heartbeating meanwhile, so the lease outlives an outage
   * that ends within it, and even past it a late completion is only refused (409), never harmful.
   */
  retryForMs?: number;
  log?: (message: string) => void;
  /**
   * Asked as each request goes out: the versions to claim next runs of, one per completion whose slot
   * frees (a retry in place keeps its slot), or null to claim none (stopping, or no version yet).
   */
  next?: () => NextRuns<unknown> | null;
  /**
   * Runs the server handed out beyond the completions that freed a slot (never expected: the server
   * claims at most one per freed slot, but a claimed run must not be dropped).
   */
  onExtraRuns?: (runs: DequeuedRun[], tag: unknown) => void;
}

/** The protocol's limit of completions in one request. */
const maxPerRequest = 100;
const firstRetryMs = 250;
/** Small, so that a completion lands within a couple of seconds of the server coming back. */
const maxRetryMs = 2_000;
export const defaultCompletionRetryForMs = 15 * 60_000;

/** Network errors, timeouts, overload and 5xx are worth another try; a 4xx answer is final. */
function worthRetrying(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true;
  return error.status === 408 || error.status === 429 || error.status >= 500;
}

/**
 * A completion goes out at once when no request is in flight; completions arriving while one is in
 * flight wait for it and then go out together. So an idle worker adds no delay, and a busy one sends
 * far fewer requests than runs. While the server cannot be reached, the batch is retried with
 * backoff (taking in completions that arrive meanwhile) until it answers or `retryForMs` has passed.
 */
export class CompletionSender {
  readonly #workerId: string;
  readonly #retryForMs: number;
  readonly #log: (message: string) => void;
  readonly #next: () => NextRuns<unknown> | null;
  readonly #onExtraRuns: (runs: DequeuedRun[], tag: unknown) => void;
  #queue: Pending[] = [];
  #inFlight = false;

  constructor(workerId: string, options: CompletionSenderOptions = {}) {
    this.#workerId = workerId;
    this.#retryForMs = options.retryForMs ?? defaultCompletionRetryForMs;
    this.#log = options.log ?? (() => {});
    this.#next = options.next ?? (() => null);
    this.#onExtraRuns = options.onExtraRuns ?? (() => {});
  }

  send(completion: Record<string, unknown>): Promise<CompletionResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ completion, resolve, reject });
      if (!this.#inFlight) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#inFlight = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, maxPerRequest);
      try {
        const { results, runs, tag } = await this.#deliver(batch);
        // Each run goes to a completion that frees its slot; the worker starts it in that slot.
        const nextRuns = [...runs];
        batch.forEach((pending, index) => {
          const result = results[index];
          if (!result) {
            pending.reject(new Error("the server answered fewer completions than were sent"));
            return;
          }
          const freesSlot = result.nextAttemptNumber === undefined;
          const nextRun = freesSlot ? nextRuns.shift() : undefined;
          pending.resolve(nextRun ? { ...result, nextRun, nextFor: tag } : result);
        });
        if (nextRuns.length > 0) this.#onExtraRuns(nextRuns, tag);
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.#inFlight = false;
  }

  /** Sends `batch` until the server answers; the batch grows with completions queued meanwhile. */
  async #deliver(batch: Pending[]): Promise<{ results: CompletionResult[]; runs: DequeuedRun[]; tag: unknown }> {
    const started = Date.now();
    for (let attempt = 1; ; attempt += 1) {
      try {
        const next = this.#next();
        const { results, runs } = await apiRequest<{ results: CompletionResult[]; runs?: DequeuedRun[] }>("POST", "/engine/v1/complete", {
          body: {
            workerId: this.#workerId,
            completions: batch.map((pending) => pending.completion),
            ...(next ? { next: { maxRuns: batch.length, versions: next.versions, checkpoints: next.checkpoints ?? false } } : {}),
          },
          maxAttempts: 1,
        });
        if (attempt > 1) this.#log(`delivered ${batch.length} completions after ${attempt} tries (${Date.now() - started} ms)`);
        // A server from before next runs answers without them: the worker's dequeue loop fills the slots.
        return { results, runs: next ? (runs ?? []) : [], tag: next?.tag };
      } catch (error) {
        const elapsed = Date.now() - started;
        if (!worthRetrying(error) || elapsed >= this.#retryForMs) throw error;
        const delay = Math.min(firstRetryMs * 2 ** (attempt - 1), maxRetryMs);
        this.#log(
          `could not deliver ${batch.length} completions (try ${attempt}, ${elapsed} ms since the first): ${(error as Error).message}; retrying in ${delay} ms`,
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        batch.push(...this.#queue.splice(0, maxPerRequest - batch.length));
      }
    }
  }
}
