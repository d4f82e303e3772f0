// The trigger request as Trigger.dev's SDK sends it (TriggerTaskRequestBody), validated with zod.
import { z } from "zod";
import { limits } from "./limits.ts";

const duration = z.union([z.string().min(1).max(64), z.number().nonnegative()]);

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
    delay: z.union([z.string().min(1).max(64), z.iso.datetime({ offset: true })]).optional(),
    ttl: duration.optional(),
    idempotencyKey: z.string().min(1).max(limits.idempotencyKeyLength).optional(),
    idempotencyKeyTTL: z.string().regex(/^\d+[smhdw]$/, 'must look like "30s", "10m", "1h" or "7d"').optional(),
    tags: tagsSchema.optional(),
    metadata: z.unknown().optional(),
    metadataType: z.string().max(64).optional(),
    payloadType: z.string().max(64).optional(),
    maxAttempts: z.number().int().min(1).max(250).optional(),
    maxDuration: z.number().int().min(5).optional(),
    machine: z.union([z.string().max(32), z.object({ preset: z.string().max(32).optional() }).loose()]).optional(),
    priority: z.number().min(-2_147_483).max(2_147_483).optional(),
    lockToVersion: z.string().max(64).optional(),
    parentRunId: z.string().max(64).optional(),
    resumeParentOnCompletion: z.boolean().optional(),
    parentBatch: z.string().max(64).optional(),
    test: z.boolean().optional(),
    debounce: z
      .object({
        key: z.string().min(1).max(limits.debounceKeyLength),
        delay: z.string().min(1).max(64),
        mode: z.enum(["leading", "trailing"]).optional(),
        maxDelay: z.string().min(1).max(64).optional(),
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
