// Sends attempt completions to the server, several per request when runs finish together.
import { apiRequest } from "../sdk/api-client.ts";

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

/** The protocol's limit of completions in one request. */
const maxPerRequest = 100;

/**
 * A completion goes out at once when no request is in flight; completions arriving while one is in
 * flight wait for it and then go out together. So an idle worker adds no delay, and a busy one sends
 * far fewer requests than runs.
 */
export class CompletionSender {
  readonly #workerId: string;
  #queue: Pending[] = [];
  #inFlight = false;

  constructor(workerId: string) {
    this.#workerId = workerId;
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
        const { results } = await apiRequest<{ results: CompletionResult[] }>("POST", "/engine/v1/complete", {
          body: { workerId: this.#workerId, completions: batch.map((pending) => pending.completion) },
        });
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
}
