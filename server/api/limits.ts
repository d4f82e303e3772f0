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
} as const;
