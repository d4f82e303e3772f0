// Limits on what clients may send. docs/api.md lists them; each is enforced with a clear 4xx.
export const limits = {
  payloadBytes: 3 * 1024 * 1024,
  metadataBytes: 256 * 1024,
  tagsPerRun: 10,
  tagLength: 127,
  idempotencyKeyLength: 2048,
  debounceKeyLength: 512,
  batchItems: 1000,
  pageSizeMax: 100,
  pageSizeDefault: 25,
  taskIdentifierLength: 256,
  /** Nesting of any JSON the API reads: request bodies, NDJSON lines, superjson payload strings. */
  jsonDepth: 128,
  /** The longest delay, TTL, timeout or idempotency key TTL (10 years: far inside what Postgres holds). */
  durationMaxDays: 3650,
  /** Integer columns are 32-bit; `maxDuration: 2147483647` is the SDK's timeout.None. */
  int32Max: 2_147_483_647,
  /** Priority in seconds: ×1000 it must still fit a 32-bit millisecond column. */
  prioritySecondsMax: 2_147_483,
} as const;
