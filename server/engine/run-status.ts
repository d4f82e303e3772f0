// Run statuses: Ratchet stores Trigger.dev's public names directly.
export const runStatuses = [
  "PENDING_VERSION",
  "DELAYED",
  "QUEUED",
  "DEQUEUED",
  "EXECUTING",
  "WAITING",
  "COMPLETED",
  "CANCELED",
  "FAILED",
  "CRASHED",
  "SYSTEM_FAILURE",
  "EXPIRED",
  "TIMED_OUT",
] as const;

export type RunStatus = (typeof runStatuses)[number];

export const finalStatuses: ReadonlySet<RunStatus> = new Set([
  "COMPLETED",
  "CANCELED",
  "FAILED",
  "CRASHED",
  "SYSTEM_FAILURE",
  "EXPIRED",
  "TIMED_OUT",
]);

export const isFinal = (status: RunStatus) => finalStatuses.has(status);

/** Statuses after which an idempotency key no longer holds (as Trigger.dev clears it). */
export const idempotencyClearingStatuses: ReadonlySet<RunStatus> = new Set([
  "FAILED",
  "CRASHED",
  "SYSTEM_FAILURE",
  "EXPIRED",
  "TIMED_OUT",
  "CANCELED",
]);

export function statusFlags(status: RunStatus) {
  return {
    isQueued: status === "QUEUED" || status === "DELAYED" || status === "PENDING_VERSION",
    isExecuting: status === "EXECUTING" || status === "DEQUEUED",
    isWaiting: status === "WAITING",
    isCompleted: isFinal(status),
    isSuccess: status === "COMPLETED",
    isFailed: isFinal(status) && status !== "COMPLETED" && status !== "CANCELED",
    isCancelled: status === "CANCELED",
  };
}
