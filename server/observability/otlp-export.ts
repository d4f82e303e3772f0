// Exports finished runs' spans and logs to an external OTLP/HTTP collector (RATCHET_OTLP_ENDPOINT), so
// a team sees Ratchet's runs in Jaeger/Tempo/Honeycomb too. When a run reaches a final status, its
// spans (the run, its attempts, waits, child triggers, steps and the task's own spans) and its logs
// (each in the span it was written in) are read from the trace Ratchet already assembles and sent as
// one OTLP JSON request per signal. Export is best effort: a collector down loses that batch, never a
// completion. See docs/tracing.md.
import type { Db } from "../db/client.ts";
import { toPublicId } from "../ids.ts";
import { loadRunTrace } from "./run-trace.ts";
import type { TraceSpan } from "./trace-tree.ts";

type AnyValue = { stringValue: string } | { boolValue: boolean } | { intValue: string } | { doubleValue: number } | { arrayValue: { values: AnyValue[] } };

function anyValue(value: unknown): AnyValue {
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { stringValue: JSON.stringify(value) };
}

const nanos = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

/** One span in opentelemetry-proto's JSON mapping. */
function otlpSpan(traceId: string, span: TraceSpan) {
  const attributes: Record<string, unknown> = { ...span.properties, "ratchet.run.id": span.runId };
  if (span.attemptNumber !== undefined) attributes["ratchet.attempt.number"] = span.attemptNumber;
  if (span.taskSlug) attributes["ratchet.task.id"] = span.taskSlug;
  const start = span.startTime.getTime();
  return {
    traceId,
    spanId: span.id,
    ...(span.parentId ? { parentSpanId: span.parentId } : {}),
    name: span.message,
    // SPAN_KIND_INTERNAL: these are units of work inside Ratchet, not RPCs.
    kind: 1,
    startTimeUnixNano: nanos(start),
    endTimeUnixNano: nanos(start + Math.max(0, span.durationMs)),
    attributes: Object.entries(attributes)
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([key, value]) => ({ key, value: anyValue(value) })),
    status: span.isError ? { code: 2, message: String(span.properties["exception.message"] ?? "") } : { code: 0 },
  };
}

/** OpenTelemetry's SeverityNumber for each of Ratchet's levels (the first of each range). */
const severityNumbers: Record<string, number> = { trace: 1, debug: 5, info: 9, log: 9, warn: 13, error: 17, fatal: 21 };

/** One log record in opentelemetry-proto's JSON mapping, in the span it was written in. */
function otlpLogRecord(traceId: string, log: TraceSpan) {
  const attributes: Record<string, unknown> = { ...log.properties, "ratchet.run.id": log.runId };
  if (log.attemptNumber !== undefined) attributes["ratchet.attempt.number"] = log.attemptNumber;
  const time = nanos(log.startTime.getTime());
  const level = log.level.toLowerCase();
  return {
    timeUnixNano: time,
    observedTimeUnixNano: time,
    severityNumber: severityNumbers[level] ?? 9,
    severityText: level.toUpperCase(),
    body: { stringValue: log.message },
    attributes: Object.entries(attributes)
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([key, value]) => ({ key, value: anyValue(value) })),
    traceId,
    ...(log.parentId ? { spanId: log.parentId } : {}),
    flags: 1,
  };
}

const resource = { attributes: [{ key: "service.name", value: { stringValue: "ratchet" } }] };

export class OtlpRunExporter {
  readonly #db: Db;
  readonly #url: string;
  readonly #logsUrl: string;
  readonly #headers: Record<string, string>;
  readonly #now: () => Date;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(db: Db, options: { endpoint: string; headers: Record<string, string> }, now: () => Date) {
    this.#db = db;
    // As OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL, the signal's path appended.
    this.#url = `${options.endpoint.replace(/\/+$/, "")}/v1/traces`;
    this.#logsUrl = `${options.endpoint.replace(/\/+$/, "")}/v1/logs`;
    this.#headers = options.headers;
    this.#now = now;
  }

  /** Starts exporting a finished run's spans; never throws and never delays the caller. */
  runFinished(runId: string, environmentId: string): void {
    const sending = this.#export(runId, environmentId).catch(() => {
      // Best effort: the spans stay in Ratchet's own trace either way.
    });
    this.#inFlight.add(sending);
    void sending.finally(() => this.#inFlight.delete(sending));
  }

  /** Waits for exports under way (at shutdown, so the last runs still reach the collector). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  async #export(runId: string, environmentId: string): Promise<void> {
    const trace = await loadRunTrace(this.#db, environmentId, runId, this.#now());
    if (!trace) return;
    const publicId = toPublicId("run", runId);
    const own = trace.spans.filter((span) => span.runId === publicId);
    const spans = own.filter((span) => span.kind !== "log").map((span) => otlpSpan(trace.traceId, span));
    const logs = own.filter((span) => span.kind === "log").map((log) => otlpLogRecord(trace.traceId, log));
    const scope = { name: "ratchet" };
    await Promise.all([
      spans.length > 0 ? this.#post(this.#url, { resourceSpans: [{ resource, scopeSpans: [{ scope, spans }] }] }) : null,
      // After the spans are on their way, so a collector sees the spans these logs point at.
      logs.length > 0 ? this.#post(this.#logsUrl, { resourceLogs: [{ resource, scopeLogs: [{ scope, logRecords: logs }] }] }) : null,
    ]);
  }

  async #post(url: string, body: unknown): Promise<void> {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...this.#headers, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
  }
}
