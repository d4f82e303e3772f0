// Run metadata from inside a task: changed locally at once, sent to the server by flush() (the
// worker flushes every second and when the attempt ends).
import { apiRequest } from "./api-client.ts";
import { currentRuntime, type TaskRuntime } from "./runtime.ts";

function runtimeOrNull(): TaskRuntime | null {
  return currentRuntime();
}

function record(runtime: TaskRuntime, operation: Record<string, unknown>): void {
  runtime.pendingMetadataOperations.push(operation);
}

export const metadata = {
  current(): Record<string, unknown> | undefined {
    return runtimeOrNull()?.metadata;
  },
  get(key: string): unknown {
    return runtimeOrNull()?.metadata[key];
  },
  set(key: string, value: unknown) {
    const runtime = runtimeOrNull();
    if (!runtime) return metadata;
    runtime.metadata[key] = value;
    record(runtime, { type: "set", key, value });
    return metadata;
  },
  del(key: string) {
    const runtime = runtimeOrNull();
    if (!runtime) return metadata;
    delete runtime.metadata[key];
    record(runtime, { type: "delete", key });
    return metadata;
  },
  append(key: string, value: unknown) {
    const runtime = runtimeOrNull();
    if (!runtime) return metadata;
    const existing = runtime.metadata[key];
    runtime.metadata[key] = Array.isArray(existing) ? [...existing, value] : existing === undefined ? [value] : [existing, value];
    record(runtime, { type: "append", key, value });
    return metadata;
  },
  remove(key: string, value: unknown) {
    const runtime = runtimeOrNull();
    if (!runtime) return metadata;
    const existing = runtime.metadata[key];
    if (Array.isArray(existing)) runtime.metadata[key] = existing.filter((item) => JSON.stringify(item) !== JSON.stringify(value));
    record(runtime, { type: "remove", key, value });
    return metadata;
  },
  increment(key: string, value = 1) {
    const runtime = runtimeOrNull();
    if (!runtime) return metadata;
    const existing = runtime.metadata[key];
    runtime.metadata[key] = (typeof existing === "number" ? existing : 0) + value;
    record(runtime, { type: "increment", key, value });
    return metadata;
  },
  decrement(key: string, value = 1) {
    return metadata.increment(key, -value);
  },
  replace(value: Record<string, unknown>) {
    const runtime = runtimeOrNull();
    if (!runtime) return metadata;
    runtime.metadata = { ...value };
    runtime.pendingMetadataOperations = [];
    record(runtime, { type: "update", value });
    return metadata;
  },
  /** Sends the changes made since the last flush. */
  async flush(): Promise<void> {
    const runtime = runtimeOrNull();
    if (!runtime || runtime.pendingMetadataOperations.length === 0) return;
    const operations = runtime.pendingMetadataOperations;
    runtime.pendingMetadataOperations = [];
    const replace = operations.findLastIndex((operation) => operation.type === "update");
    const body =
      replace >= 0
        ? { metadata: operations[replace]!.value, operations: operations.slice(replace + 1) }
        : { operations };
    await apiRequest("PUT", `/api/v1/runs/${runtime.ctx.run.id}/metadata`, { body });
  },
};
