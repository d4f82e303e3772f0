// wait.for / wait.until (durable: a long wait holds no process), and wait tokens for a person or a
// webhook: createToken, forToken, completeToken, retrieveToken, listTokens.
import { apiRequest } from "./api-client.ts";
import { journalLookup, journalRecord, journalWait, runtimeOrThrow } from "./journal.ts";
import { currentRuntime } from "./runtime.ts";
import { parsePacket } from "./serialization.ts";

export interface WaitForOptions {
  seconds?: number;
  minutes?: number;
  hours?: number;
  days?: number;
  weeks?: number;
  months?: number;
  years?: number;
}

export function durationMs(options: WaitForOptions): number {
  return (
    (options.seconds ?? 0) * 1_000 +
    (options.minutes ?? 0) * 60_000 +
    (options.hours ?? 0) * 3_600_000 +
    (options.days ?? 0) * 86_400_000 +
    (options.weeks ?? 0) * 604_800_000 +
    (options.months ?? 0) * 30 * 86_400_000 +
    (options.years ?? 0) * 365 * 86_400_000
  );
}

async function waitUntilDate(operation: string, until: () => Date): Promise<void> {
  const runtime = runtimeOrThrow(operation);
  const position = runtime.nextJournalPosition();
  const recorded = await journalLookup(runtime, position, "wait", operation);
  if (recorded?.status === "COMPLETED") return;
  // The date is fixed when the wait is first recorded; a replay waits for the same moment.
  await journalWait(runtime, position, "wait", operation, { type: "DATETIME", date: until().toISOString() });
}

export interface WaitpointToken {
  id: string;
  url: string;
  isCached?: boolean;
}

export interface TokenInfo {
  id: string;
  url: string;
  status: "WAITING" | "COMPLETED" | "TIMED_OUT";
  output?: unknown;
  outputType?: string;
  outputIsError?: boolean;
  idempotencyKey?: string;
  timeoutAt?: string;
  completedAt?: string;
  tags: string[];
  createdAt: string;
}

export type WaitResult<T> = ({ ok: true; output: T } | { ok: false; error: Error }) & { unwrap(): T };

export class WaitpointTimeoutError extends Error {
  override name = "WaitpointTimeoutError";
}

function tokenResult<T>(output: unknown, isError: boolean): WaitResult<T> {
  if (isError) {
    const error = new WaitpointTimeoutError((output as { message?: string })?.message ?? "The wait token timed out");
    return { ok: false, error, unwrap: () => { throw error; } };
  }
  return { ok: true, output: output as T, unwrap: () => output as T };
}

async function createTokenRequest(options: { timeout?: string | Date; idempotencyKey?: string; idempotencyKeyTTL?: string; tags?: string | string[] }): Promise<WaitpointToken> {
  const timeout = options.timeout instanceof Date ? options.timeout.toISOString() : options.timeout;
  return apiRequest<WaitpointToken>("POST", "/api/v1/waitpoints/tokens", { body: { ...options, timeout } });
}

export const wait = {
  /** Waits for a duration. Up to the worker's in-process limit (5 s by default) the process waits; longer, the run suspends. */
  async for(options: WaitForOptions): Promise<void> {
    const ms = durationMs(options);
    await waitUntilDate("wait.for", () => new Date(Date.now() + ms));
  },
  async until(options: { date: Date; throwIfInThePast?: boolean }): Promise<void> {
    if (options.throwIfInThePast && options.date.getTime() < Date.now()) throw new Error("wait.until() was given a date in the past");
    await waitUntilDate("wait.until", () => options.date);
  },
  /** Creates a token; inside a run the token is recorded in the journal, so a replay gets the same one. */
  async createToken(options: { timeout?: string | Date; idempotencyKey?: string; idempotencyKeyTTL?: string; tags?: string | string[] } = {}): Promise<WaitpointToken> {
    const runtime = currentRuntime();
    if (!runtime) return createTokenRequest(options);
    const position = runtime.nextJournalPosition();
    const recorded = await journalLookup(runtime, position, "token", "wait.createToken");
    if (recorded) return JSON.parse(recorded.output as string) as WaitpointToken;
    const token = await createTokenRequest(options);
    await journalRecord(runtime, position, "token", "wait.createToken", { output: JSON.stringify(token), outputType: "application/json" });
    return token;
  },
  /** Waits until the token is completed (its data is the output) or times out (ok: false). */
  async forToken<T = unknown>(token: string | { id: string }): Promise<WaitResult<T>> {
    const runtime = runtimeOrThrow("wait.forToken()");
    const tokenId = typeof token === "string" ? token : token.id;
    const position = runtime.nextJournalPosition();
    const entry = await journalWait(runtime, position, "wait", "wait.forToken", { type: "TOKEN", tokenId });
    return tokenResult<T>(parsePacket(entry.output, entry.outputType ?? "application/json"), entry.isError);
  },
  async completeToken(token: string | { id: string }, data: unknown): Promise<{ success: true }> {
    const id = typeof token === "string" ? token : token.id;
    return apiRequest("POST", `/api/v1/waitpoints/tokens/${id}/complete`, { body: { data } });
  },
  async retrieveToken(token: string | { id: string }): Promise<TokenInfo> {
    const id = typeof token === "string" ? token : token.id;
    return apiRequest<TokenInfo>("GET", `/api/v1/waitpoints/tokens/${id}`);
  },
  async listTokens(filters: { status?: string | string[]; idempotencyKey?: string; tags?: string | string[]; period?: string; limit?: number } = {}): Promise<{ data: TokenInfo[] }> {
    const query = new URLSearchParams();
    const csv = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(",") : value);
    if (filters.status) query.set("filter[status]", csv(filters.status)!);
    if (filters.idempotencyKey) query.set("filter[idempotencyKey]", filters.idempotencyKey);
    if (filters.tags) query.set("filter[tags]", csv(filters.tags)!);
    if (filters.period) query.set("filter[createdAt][period]", filters.period);
    if (filters.limit) query.set("page[size]", String(filters.limit));
    const text = query.toString();
    return apiRequest("GET", `/api/v1/waitpoints/tokens${text ? `?${text}` : ""}`);
  },
};
