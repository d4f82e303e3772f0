// OTLP/HTTP protobuf (`application/x-protobuf`) → the same JSON-mapping objects that otlp.ts validates,
// so both encodings go through one schema and one placement. The messages are those of
// opentelemetry-proto (collector/trace/v1, collector/logs/v1 and what they use), described to
// protobufjs by their field numbers; fields Ratchet does not read (links, dropped counts) are left
// out, which protobuf decoding skips. See docs/otlp.md.
import protobuf from "protobufjs";

const keyValue = { fields: { key: { type: "string", id: 1 }, value: { type: "AnyValue", id: 2 } } };
const descriptor = {
  nested: {
    AnyValue: {
      oneofs: { value: { oneof: ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"] } },
      fields: {
        stringValue: { type: "string", id: 1 },
        boolValue: { type: "bool", id: 2 },
        intValue: { type: "int64", id: 3 },
        doubleValue: { type: "double", id: 4 },
        arrayValue: { type: "ArrayValue", id: 5 },
        kvlistValue: { type: "KeyValueList", id: 6 },
        bytesValue: { type: "bytes", id: 7 },
      },
    },
    ArrayValue: { fields: { values: { rule: "repeated", type: "AnyValue", id: 1 } } },
    KeyValueList: { fields: { values: { rule: "repeated", type: "KeyValue", id: 1 } } },
    KeyValue: keyValue,
    Resource: { fields: { attributes: { rule: "repeated", type: "KeyValue", id: 1 } } },
    InstrumentationScope: { fields: { name: { type: "string", id: 1 }, version: { type: "string", id: 2 }, attributes: { rule: "repeated", type: "KeyValue", id: 3 } } },
    Status: { fields: { message: { type: "string", id: 2 }, code: { type: "int32", id: 3 } } },
    SpanEvent: { fields: { timeUnixNano: { type: "fixed64", id: 1 }, name: { type: "string", id: 2 }, attributes: { rule: "repeated", type: "KeyValue", id: 3 } } },
    Span: {
      fields: {
        traceId: { type: "bytes", id: 1 },
        spanId: { type: "bytes", id: 2 },
        traceState: { type: "string", id: 3 },
        parentSpanId: { type: "bytes", id: 4 },
        name: { type: "string", id: 5 },
        kind: { type: "int32", id: 6 },
        startTimeUnixNano: { type: "fixed64", id: 7 },
        endTimeUnixNano: { type: "fixed64", id: 8 },
        attributes: { rule: "repeated", type: "KeyValue", id: 9 },
        events: { rule: "repeated", type: "SpanEvent", id: 11 },
        status: { type: "Status", id: 15 },
        flags: { type: "fixed32", id: 16 },
      },
    },
    ScopeSpans: { fields: { scope: { type: "InstrumentationScope", id: 1 }, spans: { rule: "repeated", type: "Span", id: 2 }, schemaUrl: { type: "string", id: 3 } } },
    ResourceSpans: { fields: { resource: { type: "Resource", id: 1 }, scopeSpans: { rule: "repeated", type: "ScopeSpans", id: 2 }, schemaUrl: { type: "string", id: 3 } } },
    ExportTraceServiceRequest: { fields: { resourceSpans: { rule: "repeated", type: "ResourceSpans", id: 1 } } },
    LogRecord: {
      fields: {
        timeUnixNano: { type: "fixed64", id: 1 },
        severityNumber: { type: "int32", id: 2 },
        severityText: { type: "string", id: 3 },
        body: { type: "AnyValue", id: 5 },
        attributes: { rule: "repeated", type: "KeyValue", id: 6 },
        flags: { type: "fixed32", id: 8 },
        traceId: { type: "bytes", id: 9 },
        spanId: { type: "bytes", id: 10 },
        observedTimeUnixNano: { type: "fixed64", id: 11 },
        eventName: { type: "string", id: 12 },
      },
    },
    ScopeLogs: { fields: { scope: { type: "InstrumentationScope", id: 1 }, logRecords: { rule: "repeated", type: "LogRecord", id: 2 }, schemaUrl: { type: "string", id: 3 } } },
    ResourceLogs: { fields: { resource: { type: "Resource", id: 1 }, scopeLogs: { rule: "repeated", type: "ScopeLogs", id: 2 }, schemaUrl: { type: "string", id: 3 } } },
    ExportLogsServiceRequest: { fields: { resourceLogs: { rule: "repeated", type: "ResourceLogs", id: 1 } } },
    ExportTracePartialSuccess: { fields: { rejectedSpans: { type: "int64", id: 1 }, errorMessage: { type: "string", id: 2 } } },
    ExportTraceServiceResponse: { fields: { partialSuccess: { type: "ExportTracePartialSuccess", id: 1 } } },
    ExportLogsPartialSuccess: { fields: { rejectedLogRecords: { type: "int64", id: 1 }, errorMessage: { type: "string", id: 2 } } },
    ExportLogsServiceResponse: { fields: { partialSuccess: { type: "ExportLogsPartialSuccess", id: 1 } } },
  },
};

const root = protobuf.Root.fromJSON(descriptor);
const types = {
  traces: root.lookupType("ExportTraceServiceRequest"),
  logs: root.lookupType("ExportLogsServiceRequest"),
  tracesAnswer: root.lookupType("ExportTraceServiceResponse"),
  logsAnswer: root.lookupType("ExportLogsServiceResponse"),
};

export const protobufContentType = "application/x-protobuf";

const idFields = new Set(["traceId", "spanId", "parentSpanId"]);

/** protobuf ids are raw bytes; the JSON mapping (and otlp.ts) writes them as hex. */
function idsToHex(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(idsToHex);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, inner]) => [key, idFields.has(key) && typeof inner === "string" ? Buffer.from(inner, "base64").toString("hex") : idsToHex(inner)]),
  );
}

/** Decodes an export request; throws (a message for the 400) when the bytes are not that message. */
export function decodeOtlpProtobuf(kind: "traces" | "logs", bytes: Buffer): unknown {
  const message = types[kind].decode(bytes);
  // 64-bit integers as decimal strings and bytes as base64, as the JSON mapping has them.
  return idsToHex(types[kind].toObject(message, { longs: String, enums: Number, bytes: String }));
}

/** The export answer (partial success) in protobuf, as protobuf exporters read it. */
export function encodeOtlpAnswer(kind: "traces" | "logs", answer: { partialSuccess: Record<string, unknown> }): Buffer {
  const type = kind === "traces" ? types.tracesAnswer : types.logsAnswer;
  return Buffer.from(type.encode(type.fromObject(answer)).finish());
}
