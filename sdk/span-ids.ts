// The span ids the server derives for a run's attempts and journaled operations (waits, child
// triggers, steps), so spans made in the task nest under them. Must match
// server/observability/span-ids.ts (test/tracing.test.ts compares them).
import { createHash } from "node:crypto";

function spanIdOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export function attemptSpanId(publicRunId: string, attemptNumber: number): string {
  return spanIdOf(`attempt:${publicRunId}:${attemptNumber}`);
}

export function journalSpanId(publicRunId: string, position: number): string {
  return spanIdOf(`journal:${publicRunId}:${position}`);
}
