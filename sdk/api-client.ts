// HTTP to the Ratchet API, retrying what is worth retrying (408, 429, 5xx, network) with backoff.
import { resolvedConfig } from "./config.ts";

export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly code: string | undefined;
  readonly body: unknown;

  constructor(status: number, message: string, code?: string, body?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (NDJSON); `body` is JSON-encoded otherwise. */
  rawBody?: string;
  contentType?: string;
  headers?: Record<string, string>;
  maxAttempts?: number;
  signal?: AbortSignal;
}

export async function apiRequest<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const { baseURL, accessToken } = resolvedConfig();
  const maxAttempts = options.maxAttempts ?? 4;
  let lastError: unknown;
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    try {
      const response = await fetch(`${baseURL}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${accessToken}`,
          ...(options.body !== undefined || options.rawBody !== undefined
            ? { "content-type": options.contentType ?? "application/json" }
            : {}),
          ...options.headers,
        },
        body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
        signal: options.signal,
      });
      const text = await response.text();
      const json = text ? (JSON.parse(text) as unknown) : undefined;
      if (response.ok) return json as T;
      const error = json as { error?: string; code?: string } | undefined;
      lastError = new ApiError(response.status, error?.error ?? `${response.status} ${response.statusText}`, error?.code, json);
      if (!retryable(response.status) || response.headers.get("x-should-retry") === "false") throw lastError;
    } catch (error) {
      if (error instanceof ApiError && !retryable(error.status)) throw error;
      if (options.signal?.aborted) throw error;
      lastError = error;
    }
    if (attempt < maxAttempts) await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
  }
  throw lastError;
}
