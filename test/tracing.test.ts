// Traces end to end: a real worker runs a parent that calls two children with triggerAndWait and
// waits; the trace read through the API (and through the official SDK's client) is one tree holding
// the attempts, the wait, both children's runs and the task's own span with its log.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { ApiClient as TriggerApiClient } from "@trigger.dev/core/v3";
import { context as otelContext, trace as otelTrace, TraceFlags } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPLogExporter as OTLPProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPTraceExporter as OTLPProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import * as serverIds from "../server/observability/span-ids.ts";
import * as sdkIds from "../sdk/span-ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApiOk } from "./helpers/http-api.ts";
import { projectRoot } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const project = join(projectRoot, "test/fixtures/durable-project");

interface Span {
  id: string;
  parentId?: string;
  runId: string;
  data: { message: string; startTime: string; duration: number; isPartial: boolean; isError: boolean; level: string; properties: Record<string, unknown> };
  children: Span[];
}

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: { stringValue?: string } }>;
}
interface ExportedRequest {
  resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: ExportedSpan[] }> }>;
}
interface ExportedLogRecord {
  traceId: string;
  spanId?: string;
  severityNumber: number;
  severityText: string;
  body: { stringValue: string };
  attributes: Array<{ key: string; value: { stringValue?: string } }>;
}
interface ExportedLogsRequest {
  resourceLogs: Array<{ scopeLogs: Array<{ logRecords: ExportedLogRecord[] }> }>;
}

const kindOf = (span: Span) => span.data.properties["ratchet.span.kind"];
const all = (span: Span): Span[] => [span, ...span.children.flatMap(all)];

describe("run traces", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker;
  let parentId: string;
  const api = httpApiOk(() => url, () => key);
  // A real OTLP/HTTP collector stand-in: decodes what the server exports (RATCHET_OTLP_ENDPOINT).
  let collector: Server;
  const exported: Array<{ headers: Record<string, unknown>; body: ExportedRequest }> = [];
  const exportedLogs: ExportedLogsRequest[] = [];
  let onExport = () => {};
  const exportedSpans = () => exported.flatMap((request) => request.body.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)));
  const exportArrived = async (predicate: () => boolean) => {
    while (!predicate()) await new Promise<void>((resolve) => (onExport = resolve));
  };

  before(async () => {
    collector = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        if (request.url === "/collector/v1/traces" && request.method === "POST") exported.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as ExportedRequest });
        if (request.url === "/collector/v1/logs" && request.method === "POST") exportedLogs.push(JSON.parse(Buffer.concat(chunks).toString()) as ExportedLogsRequest);
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
        onExport();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const collectorPort = (collector.address() as { port: number }).port;
    t = await createTestApp({
      sweeper: true,
      settings: { sweepIntervalMs: 100 },
      env: { RATCHET_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}/collector/`, RATCHET_OTLP_HEADERS: "x-honeycomb-team=abc123,x-tenant=ratchet%20tests" },
    });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    worker = startWorker(project, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    await worker.waitFor(/tasks registered as version/);
    parentId = (await api("POST", "/api/v1/tasks/traced-parent/trigger", { payload: {} })).id;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${parentId}`);
      if (run.isCompleted) {
        assert.equal(run.status, "COMPLETED", worker.output());
        assert.equal(run.output, 6);
        break;
      }
      if (Date.now() > deadline) throw new Error(`the parent is ${run.status}:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(async () => {
    await worker?.stop();
    await t.close();
    collector?.close();
  });

  test("finished runs' spans are exported to the RATCHET_OTLP_ENDPOINT collector, in the run's trace", async () => {
    const { trace } = await api("GET", `/api/v1/runs/${parentId}/trace`);
    const root = trace.rootSpan as Span;
    const attempt = root.children.find((span) => kindOf(span) === "attempt")!;
    const childRuns = all(root).filter((span) => kindOf(span) === "run" && span.id !== root.id);
    await exportArrived(() => [root.id, attempt.id, ...childRuns.map((span) => span.id)].every((id) => exportedSpans().some((span) => span.spanId === id)));
    const spans = exportedSpans();
    assert.ok(spans.every((span) => span.traceId === trace.traceId), "every exported span is in the run's trace");
    const run = spans.find((span) => span.spanId === root.id)!;
    assert.equal(run.name, "traced-parent");
    assert.equal(run.parentSpanId, undefined);
    assert.ok(BigInt(run.endTimeUnixNano) >= BigInt(run.startTimeUnixNano));
    const exportedAttempt = spans.find((span) => span.spanId === attempt.id)!;
    assert.equal(exportedAttempt.parentSpanId, root.id);
    assert.ok(exportedAttempt.attributes.some((attribute) => attribute.key === "ratchet.run.id" && attribute.value.stringValue === parentId));
    assert.ok(spans.some((span) => span.name === "wait.for" || span.attributes.some((a) => a.key === "ratchet.span.kind" && a.value.stringValue === "wait")), "the wait is exported");
    assert.equal(exported[0]!.headers["x-honeycomb-team"], "abc123");
    assert.equal(exported[0]!.headers["x-tenant"], "ratchet tests");
    assert.equal(exported[0]!.body.resourceSpans[0]!.resource.attributes[0]!.value.stringValue, "ratchet");
  });

  test("finished runs' logs are exported to the collector too, each in the span it was written in", async () => {
    const { trace } = await api("GET", `/api/v1/runs/${parentId}/trace`);
    const logsIn = (span: Span) => all(span).filter((candidate) => kindOf(candidate) === "log");
    const expected = logsIn(trace.rootSpan as Span);
    assert.ok(expected.length >= 2, "the tree has logs of the parent and of a child");
    const records = () => exportedLogs.flatMap((request) => request.resourceLogs.flatMap((resource) => resource.scopeLogs.flatMap((scope) => scope.logRecords)));
    await exportArrived(() => expected.every((log) => records().some((record) => record.body.stringValue === log.data.message)));
    const runOf = (record: ExportedLogRecord) => record.attributes.find((attribute) => attribute.key === "ratchet.run.id")?.value.stringValue;
    // Both children write "child working": a record is its message in its run.
    await exportArrived(() => expected.every((log) => records().some((record) => record.body.stringValue === log.data.message && runOf(record) === log.runId)));
    for (const log of expected) {
      const record = records().find((candidate) => candidate.body.stringValue === log.data.message && runOf(candidate) === log.runId)!;
      assert.equal(record.traceId, trace.traceId);
      assert.equal(record.spanId, log.parentId, `"${log.data.message}" points at the span it was written in`);
      assert.equal(record.severityText, log.data.level);
    }
    const inside = records().find((record) => record.body.stringValue === "inside the span")!;
    assert.equal(inside.severityNumber, 9, "info is SeverityNumber 9");
  });

  test("the SDK derives the same span ids as the server", () => {
    assert.equal(sdkIds.attemptSpanId("run_abc", 2), serverIds.attemptSpanId("run_abc", 2));
    assert.equal(sdkIds.journalSpanId("run_abc", 7), serverIds.journalSpanId("run_abc", 7));
    assert.match(serverIds.runSpanId("run_abc"), /^[0-9a-f]{16}$/);
  });

  test("one trace holds the parent's attempt, both children's runs, the wait and the task's own span with its log", async () => {
    const { trace } = await api("GET", `/api/v1/runs/${parentId}/trace`);
    assert.match(trace.traceId, /^[0-9a-f]{32}$/);
    const root = trace.rootSpan as Span;
    assert.equal(root.runId, parentId);
    assert.equal(kindOf(root), "run");
    assert.equal(root.data.message, "traced-parent");
    assert.equal(root.data.isPartial, false);

    const attempts = root.children.filter((span) => kindOf(span) === "attempt");
    assert.equal(attempts.length, 1, "the wait suspended and resumed the same attempt");
    const attempt = attempts[0]!;
    assert.equal(attempt.data.message, "Attempt 1");

    const triggers = attempt.children.filter((span) => kindOf(span) === "trigger");
    assert.deepEqual(triggers.map((span) => span.data.message), ["triggerAndWait:traced-child", "triggerAndWait:traced-child"]);
    const childRuns = triggers.map((span) => {
      const runs = span.children.filter((child) => kindOf(child) === "run");
      assert.equal(runs.length, 1, "each triggerAndWait holds its child's run");
      return runs[0]!;
    });
    assert.equal(new Set(childRuns.map((run) => run.runId)).size, 2);
    for (const childRun of childRuns) {
      assert.equal(childRun.data.message, "traced-child");
      const childAttempt = childRun.children.find((span) => kindOf(span) === "attempt");
      assert.ok(childAttempt, "the child's attempt is in the parent's trace");
      assert.ok(childAttempt.children.some((span) => kindOf(span) === "log" && span.data.message === "child working"), "the child's log sits in its attempt");
      // The trigger span lasts until its child finished.
      const trigger = triggers[childRuns.indexOf(childRun)]!;
      assert.ok(Date.parse(trigger.data.startTime) + trigger.data.duration >= Date.parse(childRun.data.startTime) + childRun.data.duration - 5);
    }

    const waits = attempt.children.filter((span) => kindOf(span) === "wait");
    assert.equal(waits.length, 1);
    assert.equal(waits[0]!.data.properties["ratchet.waitpoint.type"], "DATETIME");
    // From the server recording the wait (a moment after the task computed its due time) to the sweep that ended it.
    assert.ok(waits[0]!.data.duration >= 900, `the wait lasted ${waits[0]!.data.duration} ms`);

    const userSpan = attempt.children.find((span) => span.data.message === "sum-up");
    assert.ok(userSpan, "the task's logger.trace span nests under the attempt");
    assert.equal(kindOf(userSpan), "span");
    assert.equal(userSpan.data.properties["app.step"], "sum");
    assert.ok(userSpan.children.some((span) => kindOf(span) === "log" && span.data.message === "inside the span"), "the log sits inside its span");

    const otelSpan = attempt.children.find((span) => span.data.message === "otel work");
    assert.ok(otelSpan, "a span of the OpenTelemetry API nests under the attempt");
    assert.equal(otelSpan.data.properties["app.otel"], true);
    assert.equal(otelSpan.data.properties["otel.scope.name"], "fixture");
    assert.ok(otelSpan.children.some((span) => span.data.message === "otel inner"), "the active span is the parent of the next one");
    // The config's UndiciInstrumentation recorded the task's fetch as a child span of the active span.
    const http = otelSpan.children.find((span) => span.data.properties["otel.scope.name"] === "@opentelemetry/instrumentation-undici");
    assert.ok(http, `an undici span under the user's span: ${JSON.stringify(otelSpan.children.map((span) => span.data.message))}`);
    assert.equal(http.data.properties["http.request.method"], "GET");
    assert.equal(http.data.properties["http.response.status_code"], 200);
    assert.match(String(http.data.properties["url.full"]), /\/healthz$/);

    // The child's own trace is the same tree.
    const fromChild = (await api("GET", `/api/v1/runs/${childRuns[0]!.runId}/trace`)).trace;
    assert.equal(fromChild.traceId, trace.traceId);
    assert.equal(fromChild.rootSpan.id, root.id);
    assert.equal(all(fromChild.rootSpan).length, all(root).length);
  });

  test("the official SDK's client reads the trace, its pages and a span", async () => {
    const client = new TriggerApiClient(url, key);
    const { trace } = await client.retrieveRunTrace(parentId);
    assert.equal(trace.rootSpan.data.message, "traced-parent");
    const spans = all((await api("GET", `/api/v1/runs/${parentId}/trace`)).trace.rootSpan);

    const first = await client.retrieveRunTracePage(parentId, { limit: 3 });
    assert.equal(first.data.length, 3);
    assert.ok(first.pagination.next);
    let seen = first.data.length;
    for (let after: string | undefined = first.pagination.next; after; ) {
      const page = await client.retrieveRunTracePage(parentId, { limit: 3, after });
      seen += page.data.length;
      after = page.pagination.next;
    }
    assert.equal(seen, spans.length);

    const wait = spans.find((span) => kindOf(span) === "wait")!;
    const detail = await client.retrieveSpan(parentId, wait.id);
    assert.equal(detail.spanId, wait.id);
    assert.equal(detail.message, "wait.for");
    assert.equal(detail.durationMs, wait.data.duration);
    const trigger = spans.find((span) => kindOf(span) === "trigger")!;
    const triggered = await client.retrieveSpan(parentId, trigger.id);
    assert.equal(triggered.triggeredRuns?.length, 1);
    assert.equal(triggered.triggeredRuns![0]!.taskIdentifier, "traced-child");
  });

  test("spans and logs exported by the OpenTelemetry SDK's own OTLP/HTTP exporters land in the run's trace", async () => {
    const { trace } = await api("GET", `/api/v1/runs/${parentId}/trace`);
    const attempt = (trace.rootSpan as Span).children.find((span) => kindOf(span) === "attempt")!;
    const headers = { authorization: `Bearer ${key}` };
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${url}/otel/v1/traces`, headers }))] });
    // Another service continuing the run's trace from its attempt (as a traceparent header would carry it).
    const parentContext = otelTrace.setSpanContext(otelContext.active(), { traceId: trace.traceId, spanId: attempt.id, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const tracer = provider.getTracer("billing-service");
    const span = tracer.startSpan("charge card", { attributes: { "payment.amount": 42 } }, parentContext);
    const spanId = span.spanContext().spanId;
    const loggers = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(new OTLPLogExporter({ url: `${url}/otel/v1/logs`, headers }))] });
    loggers.getLogger("billing-service").emit({
      severityNumber: SeverityNumber.WARN,
      body: "card declined once",
      context: otelTrace.setSpan(otelContext.active(), span),
    });
    span.end();
    await provider.forceFlush();
    await loggers.forceFlush();
    await provider.shutdown();
    await loggers.shutdown();

    const after = (await api("GET", `/api/v1/runs/${parentId}/trace`)).trace;
    const received = all(after.rootSpan).find((candidate) => candidate.id === spanId);
    assert.ok(received, "the exported span is in the trace");
    assert.equal(received.parentId, attempt.id);
    assert.equal(received.data.message, "charge card");
    assert.equal(received.data.properties["payment.amount"], 42);
    assert.equal(received.data.properties["otel.scope.name"], "billing-service");
    const log = received.children.find((child) => kindOf(child) === "log");
    assert.ok(log, "the exported log sits inside its span");
    assert.equal(log.data.message, "card declined once");
    assert.equal(log.data.level, "WARN");
  });

  test("spans and logs exported in protobuf by the OpenTelemetry SDK's OTLP/HTTP proto exporters land in the run's trace", async () => {
    const { trace } = await api("GET", `/api/v1/runs/${parentId}/trace`);
    const attempt = (trace.rootSpan as Span).children.find((span) => kindOf(span) === "attempt")!;
    const headers = { authorization: `Bearer ${key}` };
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new OTLPProtoTraceExporter({ url: `${url}/otel/v1/traces`, headers }))] });
    const parentContext = otelTrace.setSpanContext(otelContext.active(), { traceId: trace.traceId, spanId: attempt.id, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const span = provider.getTracer("ledger-service").startSpan("post ledger entry", { attributes: { "ledger.lines": 3, "ledger.account": "acme", "ledger.tags": ["a", "b"] } }, parentContext);
    const spanId = span.spanContext().spanId;
    const loggers = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(new OTLPProtoLogExporter({ url: `${url}/otel/v1/logs`, headers }))] });
    loggers.getLogger("ledger-service").emit({ severityNumber: SeverityNumber.ERROR, body: "ledger locked", context: otelTrace.setSpan(otelContext.active(), span) });
    span.setStatus({ code: 2, message: "locked" });
    span.end();
    await provider.forceFlush();
    await loggers.forceFlush();
    await provider.shutdown();
    await loggers.shutdown();

    const after = (await api("GET", `/api/v1/runs/${parentId}/trace`)).trace;
    const received = all(after.rootSpan).find((candidate) => candidate.id === spanId);
    assert.ok(received, "the protobuf-exported span is in the trace");
    assert.equal(received.parentId, attempt.id);
    assert.equal(received.data.message, "post ledger entry");
    assert.equal(received.data.properties["ledger.lines"], 3);
    assert.equal(received.data.properties["ledger.account"], "acme");
    assert.deepEqual(received.data.properties["ledger.tags"], ["a", "b"]);
    assert.equal(received.data.properties["otel.scope.name"], "ledger-service");
    assert.equal(received.data.properties["exception.message"], "locked");
    assert.equal(received.data.isError, true);
    assert.ok(received.data.duration >= 0);
    const log = received.children.find((child) => kindOf(child) === "log");
    assert.ok(log, "the protobuf-exported log sits inside its span");
    assert.equal(log.data.message, "ledger locked");
    assert.equal(log.data.level, "ERROR");
  });

  test("gzip-compressed exports (the SDK exporters' compression: gzip) land in the run's trace; bad encodings are 4xx", async () => {
    const { trace } = await api("GET", `/api/v1/runs/${parentId}/trace`);
    const attempt = (trace.rootSpan as Span).children.find((span) => kindOf(span) === "attempt")!;
    const headers = { authorization: `Bearer ${key}` };
    const parentContext = otelTrace.setSpanContext(otelContext.active(), { traceId: trace.traceId, spanId: attempt.id, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const received: string[] = [];
    for (const [name, exporter, logExporter] of [
      ["gzip json", new OTLPTraceExporter({ url: `${url}/otel/v1/traces`, headers, compression: CompressionAlgorithm.GZIP }), new OTLPLogExporter({ url: `${url}/otel/v1/logs`, headers, compression: CompressionAlgorithm.GZIP })],
      ["gzip protobuf", new OTLPProtoTraceExporter({ url: `${url}/otel/v1/traces`, headers, compression: CompressionAlgorithm.GZIP }), new OTLPProtoLogExporter({ url: `${url}/otel/v1/logs`, headers, compression: CompressionAlgorithm.GZIP })],
    ] as const) {
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
      const loggers = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(logExporter)] });
      const span = provider.getTracer("gzip-service").startSpan(`${name} span`, { attributes: { "payload.padding": "x".repeat(2000) } }, parentContext);
      loggers.getLogger("gzip-service").emit({ severityNumber: SeverityNumber.INFO, body: `${name} log`, context: otelTrace.setSpan(otelContext.active(), span) });
      span.end();
      await provider.forceFlush();
      await loggers.forceFlush();
      await provider.shutdown();
      await loggers.shutdown();
      received.push(span.spanContext().spanId);
    }
    const after = (await api("GET", `/api/v1/runs/${parentId}/trace`)).trace;
    for (const [index, name] of ["gzip json", "gzip protobuf"].entries()) {
      const span = all(after.rootSpan).find((candidate) => candidate.id === received[index]);
      assert.ok(span, `the ${name} span is in the trace`);
      assert.equal(span.parentId, attempt.id);
      assert.equal(span.data.message, `${name} span`);
      assert.equal(String(span.data.properties["payload.padding"]).length, 2000);
      assert.ok(span.children.some((child) => kindOf(child) === "log" && child.data.message === `${name} log`), `the ${name} log sits inside its span`);
    }

    const post = (body: Uint8Array, encoding: string) =>
      fetch(`${url}/otel/v1/traces`, { method: "POST", headers: { ...headers, "content-type": "application/json", "content-encoding": encoding }, body });
    const notGzip = await post(new TextEncoder().encode("{}"), "gzip");
    assert.equal(notGzip.status, 400);
    assert.match(((await notGzip.json()) as { error: string }).error, /body: not gzip/);
    const brotli = await post(new TextEncoder().encode("{}"), "br");
    assert.equal(brotli.status, 415);
    assert.match(((await brotli.json()) as { error: string }).error, /content-encoding/);
    // A bomb: a few KiB of gzip that inflate past the body limit are refused, not inflated whole.
    const bomb = await post(gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)), "gzip");
    assert.equal(bomb.status, 413);
  });

  test("OTLP protobuf: partial success answered in protobuf, undecodable bytes a 400", async () => {
    // A real span of an unknown trace, serialized by the OTel SDK's own protobuf serializer.
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    provider.getTracer("elsewhere").startSpan("not ours").end();
    const body = ProtobufTraceSerializer.serializeRequest(memory.getFinishedSpans())!;
    const post = (bytes: Uint8Array) => fetch(`${url}/otel/v1/traces`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/x-protobuf" }, body: bytes });
    const refused = await post(body);
    assert.equal(refused.status, 200);
    assert.equal(refused.headers.get("content-type"), "application/x-protobuf");
    const answer = ProtobufTraceSerializer.deserializeResponse(new Uint8Array(await refused.arrayBuffer()));
    assert.equal(Number(answer.partialSuccess?.rejectedSpans), 1);
    assert.match(answer.partialSuccess?.errorMessage ?? "", /not a run trace of this environment/);
    const garbage = await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    assert.equal(garbage.status, 400);
    assert.match(((await garbage.json()) as { error: string }).error, /body: not an OTLP traces export request in protobuf/);
    await provider.shutdown();
  });

  test("OTLP refuses what does not belong to a run tree of the key's environment", async () => {
    const post = async (path: string, body: unknown, auth = key) => {
      const response = await fetch(`${url}${path}`, { method: "POST", headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as { partialSuccess: { rejectedSpans?: number; errorMessage?: string }; error?: string } };
    };
    const span = (traceId: string) => ({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId, spanId: "00f067aa0ba902b7", name: "x", startTimeUnixNano: `${Date.now()}000000`, endTimeUnixNano: `${Date.now()}000000` }] }] }] });
    const unknown = await post("/otel/v1/traces", span("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert.equal(unknown.status, 200);
    assert.equal(unknown.body.partialSuccess.rejectedSpans, 1);
    assert.match(unknown.body.partialSuccess.errorMessage ?? "", /not a run trace of this environment/);
    const bad = await post("/otel/v1/traces", span("nothex"));
    assert.equal(bad.status, 400);
    assert.match(bad.body.error ?? "", /traceId/);
    assert.equal((await post("/otel/v1/traces", span("4bf92f3577b34da6a3ce929d0e0e4736"), "tr_dev_wrong")).status, 401);
  });

  test("unknown runs and spans are 404s, bad cursors 400s", async () => {
    const get = async (path: string) => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
      return { status: response.status, body: await response.json() };
    };
    assert.equal((await get(`/api/v1/runs/${parentId}/spans/0000000000000000`)).status, 404);
    assert.equal((await get("/api/v1/runs/run_nope/trace")).status, 404);
    const bad = await get(`/api/v1/runs/${parentId}/trace?page[after]=abc`);
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /page\[after\]/);
  });
});
