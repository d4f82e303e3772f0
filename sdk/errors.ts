// Errors a task may throw to steer what happens next.

/** Fails the run at once, without retrying. */
export class AbortTaskRunError extends Error {
  override name = "AbortTaskRunError";
}

/** What a task's payload schema rejected: not retried either. */
export class TaskPayloadParsedError extends Error {
  override name = "TaskPayloadParsedError";
  override readonly cause: unknown;

  constructor(cause: unknown) {
    super(`The payload does not match the task's schema: ${(cause as Error)?.message ?? String(cause)}`);
    this.cause = cause;
  }
}
