// Sends attempt completions to the server, several per request when runs finish together, and keeps
// them until the server has answered: a finished run's result is never dropped because the API was
// unreachable for a while.
import { ApiError, apiRequest } from "../sdk/api-client.ts";

export interface CompletionResult {
  accepted: boolean;
  status?: string;
  retryAt?: string;
  nextAttemptNumber?: number;
  error?: string;
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
  #queue: Pending[] = [];
  #inFlight = false;

  constructor(workerId: string, options: CompletionSenderOptions = {}) {
    this.#workerId = workerId;
    this.#retryForMs = options.retryForMs ?? defaultCompletionRetryForMs;
    this.#log = options.log ?? (() => {});
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
        const results = await this.#deliver(batch);
        batch.forEach((pending, index) => {
          const result = results[index];
          if (result) pending.resolve(result);
          else pending.reject(new Error("the server answered fewer completions than were sent"));
        });
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.#inFlight = false;
  }

  /** Sends `batch` until the server answers; the batch grows with completions queued meanwhile. */
  async #deliver(batch: Pending[]): Promise<CompletionResult[]> {
    const started = Date.now();
    for (let attempt = 1; ; attempt += 1) {
      try {
        const { results } = await apiRequest<{ results: CompletionResult[] }>("POST", "/engine/v1/complete", {
          body: { workerId: this.#workerId, completions: batch.map((pending) => pending.completion) },
          maxAttempts: 1,
        });
        if (attempt > 1) this.#log(`delivered ${batch.length} completions after ${attempt} tries (${Date.now() - started} ms)`);
        return results;
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
