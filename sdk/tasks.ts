// tasks.trigger("id", payload) from application code, typed by `typeof myTask`.
import type { Task } from "./task.ts";
import { batchTriggerTasks, triggerTask, type BatchHandle, type BatchItem, type RunHandle, type TriggerOptions } from "./trigger.ts";
import { batchTriggerAndWaitTasks, triggerAndWaitTask, type TaskRunResult } from "./trigger-and-wait.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTask = Task<string, any, any>;
type PayloadOf<T> = T extends Task<string, infer P, unknown> ? P : never;
type IdOf<T> = T extends Task<infer I, unknown, unknown> ? I : string;
type OutputOf<T> = T extends Task<string, unknown, infer O> ? O : unknown;

export const tasks = {
  trigger<T extends AnyTask>(id: IdOf<T>, payload: PayloadOf<T>, options?: TriggerOptions): Promise<RunHandle<IdOf<T>>> {
    return triggerTask(id, payload, options);
  },
  batchTrigger<T extends AnyTask>(
    id: IdOf<T>,
    items: Array<BatchItem<PayloadOf<T>>>,
    options?: { idempotencyKey?: string },
  ): Promise<BatchHandle> {
    return batchTriggerTasks(items.map((item) => ({ task: id, payload: item.payload, options: item.options })), options);
  },
  triggerAndWait<T extends AnyTask>(id: IdOf<T>, payload: PayloadOf<T>, options?: TriggerOptions): Promise<TaskRunResult<OutputOf<T>>> {
    return triggerAndWaitTask<OutputOf<T>>(id, payload, options);
  },
  batchTriggerAndWait<T extends AnyTask>(id: IdOf<T>, items: Array<BatchItem<PayloadOf<T>>>): Promise<{ id: string; runs: Array<TaskRunResult<OutputOf<T>>> }> {
    return batchTriggerAndWaitTasks<OutputOf<T>>(
      `batchTriggerAndWait:${id}`,
      items.map((item) => ({ task: id, payload: item.payload, options: item.options })),
    );
  },
};

export const batch = {
  trigger(items: Array<{ id: string; payload: unknown; options?: TriggerOptions }>, options?: { idempotencyKey?: string }): Promise<BatchHandle> {
    return batchTriggerTasks(items.map((item) => ({ task: item.id, payload: item.payload, options: item.options })), options);
  },
  triggerAndWait(items: Array<{ id: string; payload: unknown; options?: TriggerOptions }>): Promise<{ id: string; runs: Array<TaskRunResult<unknown>> }> {
    return batchTriggerAndWaitTasks("batch.triggerAndWait", items.map((item) => ({ task: item.id, payload: item.payload, options: item.options })));
  },
};
