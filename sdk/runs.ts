// runs.retrieve / list / cancel / replay / reschedule / poll.
import { apiRequest } from "./api-client.ts";

export interface RunStatusFlags {
  isQueued: boolean;
  isExecuting: boolean;
  isWaiting: boolean;
  isCompleted: boolean;
  isSuccess: boolean;
  isFailed: boolean;
  isCancelled: boolean;
}

export interface Run extends RunStatusFlags {
  id: string;
  status: string;
  taskIdentifier: string;
  payload?: unknown;
  output?: unknown;
  error?: { message: string; name?: string; stackTrace?: string };
  tags: string[];
  metadata?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  attemptCount: number;
  [field: string]: unknown;
}

export interface ListRunsParams {
  status?: string | string[];
  taskIdentifier?: string | string[];
  tag?: string | string[];
  version?: string | string[];
  batch?: string;
  queue?: string | string[];
  isTest?: boolean;
  from?: Date | number;
  to?: Date | number;
  period?: string;
  limit?: number;
}

interface ListResponse {
  data: Run[];
  pagination: { next?: string; previous?: string };
}

function listQuery(params: ListRunsParams, cursor?: string): string {
  const query = new URLSearchParams();
  const csv = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(",") : value);
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== "") query.set(name, value);
  };
  set("filter[status]", csv(params.status));
  set("filter[taskIdentifier]", csv(params.taskIdentifier));
  set("filter[tag]", csv(params.tag));
  set("filter[version]", csv(params.version));
  set("filter[batch]", params.batch);
  set("filter[queue]", csv(params.queue));
  if (params.isTest !== undefined) set("filter[isTest]", String(params.isTest));
  if (params.from !== undefined) set("filter[createdAt][from]", String(new Date(params.from).getTime()));
  if (params.to !== undefined) set("filter[createdAt][to]", String(new Date(params.to).getTime()));
  set("filter[createdAt][period]", params.period);
  if (params.limit !== undefined) set("page[size]", String(params.limit));
  set("page[after]", cursor);
  const text = query.toString();
  return text ? `?${text}` : "";
}

async function* iterate(params: ListRunsParams): AsyncGenerator<Run> {
  let cursor: string | undefined;
  do {
    const page = await apiRequest<ListResponse>("GET", `/api/v1/runs${listQuery(params, cursor)}`);
    yield* page.data;
    cursor = page.pagination.next;
  } while (cursor);
}

export const runs = {
  retrieve(id: string): Promise<Run> {
    return apiRequest<Run>("GET", `/api/v3/runs/${id}`);
  },
  /** One page with `data`, and iterable over every matching run with for await. */
  list(params: ListRunsParams = {}) {
    const first = apiRequest<ListResponse>("GET", `/api/v1/runs${listQuery(params)}`);
    return Object.assign(first, { [Symbol.asyncIterator]: () => iterate(params) });
  },
  cancel(id: string): Promise<{ id: string }> {
    return apiRequest("POST", `/api/v2/runs/${id}/cancel`);
  },
  replay(id: string): Promise<{ id: string }> {
    return apiRequest("POST", `/api/v1/runs/${id}/replay`);
  },
  reschedule(id: string, options: { delay: string | Date }): Promise<Run> {
    const delay = options.delay instanceof Date ? options.delay.toISOString() : options.delay;
    return apiRequest("POST", `/api/v1/runs/${id}/reschedule`, { body: { delay } });
  },
  /** Retrieves the run until it has finished. */
  async poll(id: string, options: { pollIntervalMs?: number; timeoutMs?: number } = {}): Promise<Run> {
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const run = await runs.retrieve(id);
      if (run.isCompleted) return run;
      if (Date.now() > deadline) throw new Error(`Run ${id} had not finished after ${options.timeoutMs ?? 600_000} ms`);
      await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? 1000));
    }
  },
};
