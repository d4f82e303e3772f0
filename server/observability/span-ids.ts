// Trace and span ids of what the engine records, derived rather than stored: a run's trace id is its
// root run's UUID as 32 hex digits, and the spans of a run, its attempts and its journal entries
// (waits, child triggers, steps) have ids hashed from the public run id. The SDK derives the same
// ids (sdk/span-ids.ts) to parent its own spans and child triggers; test/tracing.test.ts checks that
// the two agree.
import { createHash } from "node:crypto";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A W3C trace id: the root run's UUID without dashes. */
export function traceIdForRootRun(rootRunId: string): string {
  return rootRunId.replaceAll("-", "").toLowerCase();
}

/** The root run's UUID of a trace id, or null for a trace id Ratchet did not make. */
export function rootRunIdForTrace(traceId: string): string | null {
  if (!/^[0-9a-f]{32}$/i.test(traceId)) return null;
  const hex = traceId.toLowerCase();
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return uuidPattern.test(uuid) ? uuid : null;
}

function spanIdOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The span of a whole run, from trigger to its end. */
export function runSpanId(publicRunId: string): string {
  return spanIdOf(`run:${publicRunId}`);
}

export function attemptSpanId(publicRunId: string, attemptNumber: number): string {
  return spanIdOf(`attempt:${publicRunId}:${attemptNumber}`);
}

/** A journaled operation: wait.for/until, a token wait, a (batch) triggerAndWait, a step. */
export function journalSpanId(publicRunId: string, position: number): string {
  return spanIdOf(`journal:${publicRunId}:${position}`);
}
