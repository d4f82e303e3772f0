// Retry backoff with Trigger.dev's formula and defaults:
//   delay = min(maxTimeoutInMs, (randomize ? 1 + random : 1) * minTimeoutInMs * factor^(attempt - 1))
// A task without a retry policy is not retried (as in Trigger.dev).
import { z } from "zod";
import { maxDurationMs } from "./durations.ts";

export const retryPolicySchema = z.object({
  maxAttempts: z.number().int().min(1).max(250).optional(),
  factor: z.number().min(1).max(100).optional(),
  minTimeoutInMs: z.number().int().min(0).max(maxDurationMs).optional(),
  maxTimeoutInMs: z.number().int().min(0).max(maxDurationMs).optional(),
  randomize: z.boolean().optional(),
});

export type RetryPolicy = z.infer<typeof retryPolicySchema>;

export const retryDefaults = { maxAttempts: 3, factor: 2, minTimeoutInMs: 1_000, maxTimeoutInMs: 60_000, randomize: true };

/** The hard cap on attempts, whatever a task asks for. */
export const maxAttemptsCap = 250;

export function maxAttemptsFor(policy: RetryPolicy | null, runMaxAttempts: number | null): number {
  if (runMaxAttempts !== null) return Math.min(runMaxAttempts, maxAttemptsCap);
  if (!policy) return 1;
  return Math.min(policy.maxAttempts ?? retryDefaults.maxAttempts, maxAttemptsCap);
}

/** Milliseconds before attempt `attempt + 1`, or null when `attempt` was the last one allowed. */
export function nextRetryDelayMs(
  policy: RetryPolicy | null,
  attempt: number,
  maxAttempts: number,
  random: () => number = Math.random,
): number | null {
  if (attempt >= maxAttempts) return null;
  const options = { ...retryDefaults, ...policy };
  const jitter = options.randomize ? 1 + random() : 1;
  return Math.round(Math.min(options.maxTimeoutInMs, jitter * options.minTimeoutInMs * options.factor ** (attempt - 1)));
}
