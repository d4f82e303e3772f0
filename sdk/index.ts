// Ratchet's SDK: what task files and application code import ("ratchet/sdk"; task files written for
// "@trigger.dev/sdk" are pointed here by the worker).
export { configure } from "./config.ts";
export { ApiError } from "./api-client.ts";
export { AbortTaskRunError, TaskPayloadParsedError } from "./errors.ts";
export { task, schemaTask, queue } from "./task.ts";
export type { Task, TaskOptions, RetryOptions, Queue, RunParams } from "./task.ts";
export { tasks, batch } from "./tasks.ts";
export type { TriggerOptions, RunHandle, BatchHandle } from "./trigger.ts";
export { runs } from "./runs.ts";
export type { Run, ListRunsParams } from "./runs.ts";
export { logger } from "./logger.ts";
export { metadata } from "./metadata.ts";
export { tags } from "./tags.ts";
export { idempotencyKeys } from "./idempotency.ts";
export { wait, WaitpointTimeoutError } from "./wait.ts";
export type { WaitpointToken, WaitResult } from "./wait.ts";
export { step } from "./step.ts";
export { streams } from "./streams.ts";
export { schedules } from "./schedules.ts";
export type { ScheduledTaskPayload, ScheduleObject } from "./schedules.ts";
export { SubtaskUnwrapError } from "./trigger-and-wait.ts";
export type { TaskRunResult } from "./trigger-and-wait.ts";
export { JournalMismatchError } from "./journal.ts";
export type { TaskContext } from "./runtime.ts";
export { defineConfig } from "./project-config.ts";
export type { ProjectConfig } from "./project-config.ts";
