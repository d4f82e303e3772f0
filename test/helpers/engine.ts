// Drives the engine over real HTTP routes (app.inject) the way a worker and a client would.
import type { FastifyInstance } from "fastify";
import assert from "node:assert/strict";

export class ApiClient {
  readonly app: FastifyInstance;
  readonly key: string;

  constructor(app: FastifyInstance, key: string) {
    this.app = app;
    this.key = key;
  }

  async request(method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await this.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.statusCode, body: response.body ? response.json() : undefined, headers: response.headers };
  }

  async ok(method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown, headers?: Record<string, string>) {
    const response = await this.request(method, url, body, headers);
    assert.ok(response.status >= 200 && response.status < 300, `${method} ${url} → ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  register(tasks: unknown[], queues?: unknown[]) {
    return this.ok("POST", "/engine/v1/worker/register", { tasks, queues });
  }

  async trigger(task: string, payload: unknown, options: Record<string, unknown> = {}): Promise<{ id: string; isCached: boolean }> {
    return this.ok("POST", `/api/v1/tasks/${task}/trigger`, { payload, options });
  }

  retrieve(id: string) {
    return this.ok("GET", `/api/v3/runs/${id}`);
  }

  async dequeue(workerId: string, maxRuns = 10): Promise<Array<{ id: string; attemptNumber: number; payload: unknown; taskIdentifier: string }>> {
    return (await this.ok("POST", "/engine/v1/dequeue", { workerId, maxRuns, waitSeconds: 0 })).runs;
  }

  start(workerId: string, run: { id: string; attemptNumber: number }) {
    return this.ok("POST", `/engine/v1/runs/${run.id}/attempts/${run.attemptNumber}/start`, { workerId });
  }

  async complete(workerId: string, run: { id: string; attemptNumber: number }, result: Record<string, unknown>) {
    const body = await this.ok("POST", "/engine/v1/complete", { workerId, completions: [{ runId: run.id, attemptNumber: run.attemptNumber, ...result }] });
    return body.results[0];
  }
}
