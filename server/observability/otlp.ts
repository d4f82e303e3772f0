// OTLP/HTTP JSON (opentelemetry-proto's JSON mapping) → run events. Spans and log records land in
// the run trace their trace id names (trace id = the root run's UUID, docs/tracing.md), on the run
// their `ratchet.run.id` attribute names within that tree, else on the root run. See docs/otlp.md.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { EventLevel } from "../storage/events.ts";

/** Spans or log records one request may carry (the OTel SDK's batch processors send 512). */
export const otlpItemsPerRequest = 5000;

const hexId = (length: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${length}}$`), `must be ${length} hex digits`);
/** Nanoseconds since the epoch: a decimal string (the JSON mapping of fixed64) or a number. */
const unixNano = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]);

type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
};
type KeyValue = { key: string; value?: AnyValue };

const anyValue: z.ZodType<AnyValue> = z.lazy(() =>
  z
    .object({
      stringValue: z.string().optional(),
      boolValue: z.boolean().optional(),
      intValue: z.union([z.string(), z.number()]).optional(),
      doubleValue: z.number().optional(),
      arrayValue: z.object({ values: z.array(anyValue).optional() }).optional(),
      kvlistValue: z.object({ values: z.array(keyValue).optional() }).optional(),
      bytesValue: z.string().optional(),
    })
    .loose(),
);
const keyValue: z.ZodType<KeyValue> = z.lazy(() => z.object({ key: z.string().max(1024), value: anyValue.optional() }).loose());
const attributes = z.array(keyValue).max(1000).optional();
const resource = z.object({ attributes }).loose().optional();

const spanSchema = z
  .object({
    traceId: hexId(32),
    spanId: hexId(16),
    parentSpanId: z.union([hexId(16), z.literal("")]).optional(),
    name: z.string(),
    startTimeUnixNano: unixNano,
    endTimeUnixNano: unixNano,
    attributes,
    status: z.object({ code: z.union([z.number(), z.string()]).optional(), message: z.string().optional() }).loose().optional(),
  })
  .loose();

export const otlpTracesSchema = z
  .object({
    resourceSpans: z
      .array(z.object({ resource, scopeSpans: z.array(z.object({ scope: z.object({ name: z.string().optional() }).loose().optional(), spans: z.array(spanSchema).optional() }).loose()).optional() }).loose())
      .optional(),
  })
  .loose();

const logSchema = z
  .object({
    timeUnixNano: unixNano.optional(),
    observedTimeUnixNano: unixNano.optional(),
    severityNumber: z.number().int().min(0).max(24).optional(),
    severityText: z.string().optional(),
    body: anyValue.optional(),
    attributes,
    traceId: z.union([hexId(32), z.literal("")]).optional(),
    spanId: z.union([hexId(16), z.literal("")]).optional(),
  })
  .loose();

export const otlpLogsSchema = z
  .object({
    resourceLogs: z
      .array(z.object({ resource, scopeLogs: z.array(z.object({ logRecords: z.array(logSchema).optional() }).loose()).optional() }).loose())
      .optional(),
  })
  .loose();

function plain(value: AnyValue | undefined): unknown {
  if (!value) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  if (value.kvlistValue) return flatten(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return null;
}

function flatten(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((item) => [item.key, plain(item.value)]));
}

function nanosToDate(value: string | number): Date {
  return new Date(Number(BigInt(value) / 1_000_000n));
}

/** A stable sequence number for an item, so an exporter's retry of the same batch is stored once. */
function stableSeq(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32BE(0) >>> 1;
}

function severityLevel(severity: number | undefined): EventLevel {
  if (severity === undefined || severity === 0) return "info";
  if (severity <= 4) return "trace";
  if (severity <= 8) return "debug";
  if (severity <= 12) return "info";
  if (severity <= 16) return "warn";
  return "error";
}

export interface OtlpItem {
  traceId: string;
  /** The `ratchet.run.id` attribute (a public run id), when the sender named the run. */
  runId: string | null;
  attemptNumber: number;
  seq: number;
  time: Date;
  kind: "span" | "log";
  level: EventLevel;
  message: string;
  attributes: Record<string, unknown>;
  spanId: string | null;
  parentSpanId: string | null;
  durationMs: number | null;
}

function placement(attrs: Record<string, unknown>): { runId: string | null; attemptNumber: number } {
  const runId = typeof attrs["ratchet.run.id"] === "string" ? (attrs["ratchet.run.id"] as string) : null;
  const attempt = Number(attrs["ratchet.attempt.number"]);
  return { runId, attemptNumber: Number.isInteger(attempt) && attempt >= 1 && attempt <= 250 ? attempt : 1 };
}

export function otlpSpans(body: z.infer<typeof otlpTracesSchema>): OtlpItem[] {
  const items: OtlpItem[] = [];
  for (const resourceSpans of body.resourceSpans ?? []) {
    const resourceAttributes = flatten(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        const attrs = { ...resourceAttributes, ...flatten(span.attributes) };
        const start = BigInt(span.startTimeUnixNano);
        const end = BigInt(span.endTimeUnixNano);
        const failed = span.status?.code === 2 || span.status?.code === "STATUS_CODE_ERROR";
        if (failed && span.status?.message) attrs["exception.message"] = span.status.message;
        if (scopeSpans.scope?.name) attrs["otel.scope.name"] = scopeSpans.scope.name;
        items.push({
          traceId: span.traceId.toLowerCase(),
          ...placement(attrs),
          seq: stableSeq(`span:${span.spanId.toLowerCase()}`),
          time: nanosToDate(span.startTimeUnixNano),
          kind: "span",
          level: failed ? "error" : "info",
          message: span.name,
          attributes: attrs,
          spanId: span.spanId.toLowerCase(),
          parentSpanId: span.parentSpanId ? span.parentSpanId.toLowerCase() : null,
          durationMs: end > start ? Number(end - start) / 1e6 : 0,
        });
      }
    }
  }
  return items;
}

export function otlpLogs(body: z.infer<typeof otlpLogsSchema>, now: Date): { items: OtlpItem[]; withoutTrace: number } {
  const items: OtlpItem[] = [];
  let withoutTrace = 0;
  for (const resourceLogs of body.resourceLogs ?? []) {
    const resourceAttributes = flatten(resourceLogs.resource?.attributes);
    for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
      for (const record of scopeLogs.logRecords ?? []) {
        if (!record.traceId) {
          withoutTrace += 1;
          continue;
        }
        const attrs = { ...resourceAttributes, ...flatten(record.attributes) };
        const body = plain(record.body);
        const time = record.timeUnixNano && record.timeUnixNano !== "0" ? nanosToDate(record.timeUnixNano) : record.observedTimeUnixNano ? nanosToDate(record.observedTimeUnixNano) : now;
        const message = typeof body === "string" ? body : JSON.stringify(body);
        items.push({
          traceId: record.traceId.toLowerCase(),
          ...placement(attrs),
          seq: stableSeq(`log:${record.traceId}:${record.spanId ?? ""}:${time.toISOString()}:${message}`),
          time,
          kind: "log",
          level: severityLevel(record.severityNumber),
          message,
          attributes: attrs,
          spanId: null,
          parentSpanId: record.spanId ? record.spanId.toLowerCase() : null,
          durationMs: null,
        });
      }
    }
  }
  return { items, withoutTrace };
}
