// The trigger request as Trigger.dev's SDK sends it (TriggerTaskRequestBody), validated with zod.
import { z } from "zod";
import { delayProblem, durationProblem } from "../engine/durations.ts";
import { limits } from "./limits.ts";

/** A duration ("10m", "1h30m", or seconds), read by engine/durations.ts and within its maximum. */
export const durationSchema = z.union([z.string().min(1).max(64), z.number()]).superRefine((value, context) => {
  const problem = durationProblem(value);
  if (problem) context.addIssue({ code: "custom", message: problem });
});

/** A duration written as text ("10m"), as idempotency key TTLs, debounce delays and periods are. */
export const durationTextSchema = z.string().min(1).max(64).superRefine((value, context) => {
  const problem = durationProblem(value);
  if (problem) context.addIssue({ code: "custom", message: problem });
});

/** A delay: a duration from now, or an ISO date (from 1970, and no further ahead than the longest duration). */
export const delaySchema = z.string().min(1).max(64).superRefine((value, context) => {
  const problem = delayProblem(value, new Date());
  if (problem) context.addIssue({ code: "custom", message: problem });
});

/** Whole seconds a run may take; 2147483647 is the SDK's timeout.None. */
export const maxDurationSchema = z.number().int().min(5).max(limits.int32Max);

/** Seconds of head start in a queue. */
export const prioritySchema = z.number().min(-limits.prioritySecondsMax).max(limits.prioritySecondsMax);

export const tagsSchema = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : [value]))
  .pipe(
    z
      .array(z.string().min(1).max(limits.tagLength, `each tag must be shorter than ${limits.tagLength + 1} characters`))
      .max(limits.tagsPerRun, `at most ${limits.tagsPerRun} tags per run`),
  );

export const triggerOptionsSchema = z
  .object({
    queue: z.union([z.string().min(1).max(256), z.object({ name: z.string().min(1).max(256) }).loose()]).optional(),
    concurrencyKey: z.union([z.string().max(512), z.number()]).transform(String).optional(),
    delay: delaySchema.optional(),
    ttl: durationSchema.optional(),
    idempotencyKey: z.string().min(1).max(limits.idempotencyKeyLength).optional(),
    idempotencyKeyTTL: durationTextSchema.optional(),
    tags: tagsSchema.optional(),
    metadata: z.unknown().optional(),
    metadataType: z.string().max(64).optional(),
    payloadType: z.string().max(64).optional(),
    maxAttempts: z.number().int().min(1).max(250).optional(),
    maxDuration: maxDurationSchema.optional(),
    machine: z.union([z.string().max(32), z.object({ preset: z.string().max(32).optional() }).loose()]).optional(),
    priority: prioritySchema.optional(),
    lockToVersion: z.string().max(64).optional(),
    parentRunId: z.string().max(64).optional(),
    resumeParentOnCompletion: z.boolean().optional(),
    parentBatch: z.string().max(64).optional(),
    test: z.boolean().optional(),
    debounce: z
      .object({
        key: z.string().min(1).max(limits.debounceKeyLength),
        delay: durationTextSchema,
        mode: z.enum(["leading", "trailing"]).optional(),
        maxDelay: durationTextSchema.optional(),
      })
      .optional(),
  })
  .loose();

export type TriggerOptions = z.infer<typeof triggerOptionsSchema>;

export const triggerBodySchema = z
  .object({
    payload: z.unknown().optional(),
    context: z.unknown().optional(),
    options: triggerOptionsSchema.optional(),
  })
  .loose();

export const taskIdentifierSchema = z
  .string()
  .min(1)
  .max(limits.taskIdentifierLength)
  .regex(/^[A-Za-z0-9_\-./:]+$/, "task ids use letters, digits and - _ . / :");
