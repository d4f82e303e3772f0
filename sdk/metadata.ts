// Run metadata from inside a task: changed locally at once, sent to the server by flush() (the
// worker flushes every second and when the attempt ends). metadata.parent and metadata.root change
// the run's parent and root run on the server; in a run that has none they change the run itself,
// as in Trigger.dev's SDK.
import { apiRequest } from "./api-client.ts";
import { currentRuntime, type TaskRuntime } from "./runtime.ts";

function runtimeOrNull(): TaskRuntime | null {
  return currentRuntime();
}

function record(runtime: TaskRuntime, operation: Record<string, unknown>): void {
  runtime.pendingMetadataOperations.push(operation);
}

type Operation = Record<string, unknown>;

/** Changes to another run's metadata: queued as operations, applied by the server. */
function relativeUpdater(target: "parent" | "root", isSelf: (runtime: TaskRuntime) => boolean) {
  const queue = (operation: Operation, local: () => void) => {
    const runtime = runtimeOrNull();
    if (!runtime) return;
    if (isSelf(runtime)) {
      local();
      return;
    }
    const pending =
      target === "parent"
        ? (runtime.pendingParentMetadataOperations ??= [])
        : (runtime.pendingRootMetadataOperations ??= []);
    pending.push(operation);
  };
  const updater = {
    set(key: string, value: unknown) {
      queue({ type: "set", key, value }, () => metadata.set(key, value));
      return updater;
    },
    del(key: string) {
      queue({ type: "delete", key }, () => metadata.del(key));
      return updater;
    },
    append(key: string, value: unknown) {
      queue({ type: "append", key, value }, () => metadata.append(key, value));
      return updater;
    },
    remove(key: string, value: unknown) {
      queue({ type: "remove", key, value }, () => metadata.remove(key, value));
      return updater;
    },
    increment(key: string, value = 1) {
      queue({ type: "increment", key, value }, () => metadata.increment(key, value));
      return updater;
    },
    decrement(key: string, value = 1) {
      return updater.increment(key, -value);
    },
    /** Replaces the whole metadata object ("update" on the wire, as in Trigger.dev). */
    replace(value: Record<string, unknown>) {
      queue({ type: "update", value }, () => metadata.replace(value));
      return updater;
    },
    /** Trigger.dev's name for replace. */
    update(value: Record<string, unknown>) {
      return updater.replace(value);
    },
  };
  return updater;
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
  /** The run that triggered this one (this run itself when it has no parent). */
  parent: relativeUpdater("parent", (runtime) => !runtime.ctx.run.parentRunId),
  /** The run at the top of this run's tree (this run itself when it is the root). */
  root: relativeUpdater("root", (runtime) => !runtime.ctx.run.rootRunId),
  /** Sends the changes made since the last flush. */
  async flush(): Promise<void> {
    const runtime = runtimeOrNull();
    if (!runtime) return;
    const operations = runtime.pendingMetadataOperations;
    const parentOperations = runtime.pendingParentMetadataOperations ?? [];
    const rootOperations = runtime.pendingRootMetadataOperations ?? [];
    if (operations.length + parentOperations.length + rootOperations.length === 0) return;
    runtime.pendingMetadataOperations = [];
    runtime.pendingParentMetadataOperations = [];
    runtime.pendingRootMetadataOperations = [];
    const replace = operations.findLastIndex((operation) => operation.type === "update");
    const own = replace >= 0 ? { metadata: operations[replace]!.value, operations: operations.slice(replace + 1) } : { operations };
    const body = {
      ...own,
      ...(parentOperations.length > 0 ? { parentOperations } : {}),
      ...(rootOperations.length > 0 ? { rootOperations } : {}),
    };
    await apiRequest("PUT", `/api/v1/runs/${runtime.ctx.run.id}/metadata`, { body });
  },
};
