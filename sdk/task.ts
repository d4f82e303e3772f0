// task(), schemaTask() and queue(): what a task file declares. Definitions go into a registry the
// worker reads when it loads the task files.
import type { TaskContext } from "./runtime.ts";
import { TaskPayloadParsedError } from "./errors.ts";
import { batchTriggerTasks, triggerTask, type BatchHandle, type BatchItem, type RunHandle, type TriggerOptions } from "./trigger.ts";
import { batchTriggerAndWaitTasks, triggerAndWaitTask, type TaskRunResult } from "./trigger-and-wait.ts";

export interface RetryOptions {
  maxAttempts?: number;
  factor?: number;
  minTimeoutInMs?: number;
  maxTimeoutInMs?: number;
  randomize?: boolean;
}

export interface QueueOptions {
  name?: string;
  concurrencyLimit?: number;
}

export interface Queue {
  name: string;
  concurrencyLimit?: number;
}

export interface RunParams<TInit = unknown> {
  ctx: TaskContext;
  signal: AbortSignal;
  init?: TInit;
}

export type CatchErrorResult =
  | { skipRetrying?: boolean; retryAt?: Date; retryDelayInMs?: number; retry?: RetryOptions; error?: unknown }
  | undefined
  | void;

/** What every lifecycle hook receives (Trigger.dev v4 passes hooks one object). */
export interface HookParams<TPayload, TInit = unknown> {
  ctx: TaskContext;
  payload: TPayload;
  /** The task's id. */
  task: string;
  signal: AbortSignal;
  init?: TInit;
}

export interface TaskOptions<TId extends string, TPayload, TOutput, TInit = unknown> {
  id: TId;
  description?: string;
  retry?: RetryOptions;
  queue?: QueueOptions | Queue;
  machine?: string | { preset?: string };
  maxDuration?: number;
  ttl?: string | number;
  run: (payload: TPayload, params: RunParams<TInit>) => Promise<TOutput> | TOutput;
  init?: (params: Omit<HookParams<TPayload>, "init">) => Promise<TInit> | TInit;
  cleanup?: (params: HookParams<TPayload, TInit>) => Promise<void> | void;
  middleware?: (params: Omit<HookParams<TPayload>, "init"> & { next: () => Promise<void> }) => Promise<void>;
  /** Before the first attempt only (deprecated by Trigger.dev in favour of onStartAttempt). */
  onStart?: (params: HookParams<TPayload, TInit>) => Promise<void> | void;
  onStartAttempt?: (params: Omit<HookParams<TPayload>, "init">) => Promise<void> | void;
  onSuccess?: (params: HookParams<TPayload, TInit> & { output: TOutput }) => Promise<void> | void;
  onFailure?: (params: HookParams<TPayload, TInit> & { error: unknown }) => Promise<void> | void;
  onComplete?: (params: HookParams<TPayload, TInit> & { result: { ok: true; data: TOutput } | { ok: false; error: unknown } }) => Promise<void> | void;
  catchError?: (
    params: HookParams<TPayload, TInit> & { error: unknown; retry?: RetryOptions; retryAt?: Date; retryDelayInMs?: number },
  ) => Promise<CatchErrorResult> | CatchErrorResult;
  onCancel?: (params: HookParams<TPayload, TInit> & { runPromise: Promise<unknown> }) => Promise<void> | void;
}

export interface Task<TId extends string, TPayload = unknown, TOutput = unknown> {
  id: TId;
  trigger(payload: TPayload, options?: TriggerOptions): Promise<RunHandle<TId>>;
  batchTrigger(items: Array<BatchItem<TPayload>>, options?: { idempotencyKey?: string }): Promise<BatchHandle>;
  /** Inside a run: triggers and waits for the result (the parent suspends meanwhile). */
  triggerAndWait(payload: TPayload, options?: TriggerOptions): Promise<TaskRunResult<TOutput>>;
  batchTriggerAndWait(items: Array<BatchItem<TPayload>>): Promise<{ id: string; runs: Array<TaskRunResult<TOutput>> }>;
  /** Type-only marker: the output, for `typeof myTask` in application code. */
  readonly __output?: TOutput;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTaskOptions = TaskOptions<string, any, any, any>;

export interface TaskRegistry {
  tasks: Map<string, AnyTaskOptions>;
  queues: Map<string, Queue>;
}

const registryKey = Symbol.for("ratchet.sdk.registry");
type Global = typeof globalThis & { [registryKey]?: TaskRegistry };

export function taskRegistry(): TaskRegistry {
  const global = globalThis as Global;
  global[registryKey] ??= { tasks: new Map(), queues: new Map() };
  return global[registryKey];
}

export function task<TId extends string, TPayload = unknown, TOutput = unknown, TInit = unknown>(
  options: TaskOptions<TId, TPayload, TOutput, TInit>,
): Task<TId, TPayload, Awaited<TOutput>> {
  if (!options.id || typeof options.id !== "string") throw new Error("task() needs an id");
  const registry = taskRegistry();
  if (registry.tasks.has(options.id) && registry.tasks.get(options.id) !== options) {
    throw new Error(`Two tasks have the id "${options.id}"; task ids must be unique in a project`);
  }
  registry.tasks.set(options.id, options as AnyTaskOptions);
  return {
    id: options.id,
    trigger: (payload, triggerOptions) => triggerTask(options.id, payload, triggerOptions),
    batchTrigger: (items, batchOptions) =>
      batchTriggerTasks(items.map((item) => ({ task: options.id, payload: item.payload, options: item.options })), batchOptions),
    triggerAndWait: (payload, triggerOptions) => triggerAndWaitTask<Awaited<TOutput>>(options.id, payload, triggerOptions),
    batchTriggerAndWait: (items) =>
      batchTriggerAndWaitTasks<Awaited<TOutput>>(
        `batchTriggerAndWait:${options.id}`,
        items.map((item) => ({ task: options.id, payload: item.payload, options: item.options })),
      ),
  };
}

/** Anything with parse(): zod, valibot's parser wrappers, arktype… */
export interface PayloadSchema<T> {
  parse(value: unknown): T;
}

export function schemaTask<TId extends string, TPayload, TOutput = unknown, TInit = unknown>(
  options: Omit<TaskOptions<TId, TPayload, TOutput, TInit>, "run"> & {
    schema: PayloadSchema<TPayload>;
    run: (payload: TPayload, params: RunParams<TInit>) => Promise<TOutput> | TOutput;
  },
): Task<TId, TPayload, Awaited<TOutput>> {
  const { schema, run, ...rest } = options;
  return task<TId, TPayload, TOutput, TInit>({
    ...rest,
    run: (payload, params) => {
      let parsed: TPayload;
      try {
        parsed = schema.parse(payload);
      } catch (error) {
        throw new TaskPayloadParsedError(error);
      }
      return run(parsed, params);
    },
  });
}

export function queue(options: { name: string; concurrencyLimit?: number }): Queue {
  const registry = taskRegistry();
  const declared = { name: options.name, concurrencyLimit: options.concurrencyLimit };
  registry.queues.set(options.name, declared);
  return declared;
}
