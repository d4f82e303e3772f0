// A real OpenTelemetry API inside tasks: the attempt process installs a TracerProvider whose spans
// become the run's span events (the same channel as logger.trace), parented on the attempt's span,
// so `trace.getTracer(…).startActiveSpan(…)` and instrumentations land in the run's trace.
import { context, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { hrTimeToMilliseconds } from "@opentelemetry/core";
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { currentRuntime } from "./runtime.ts";

/** Hands each finished span of the run's trace to the running attempt as a span event. */
class RunEventSpanProcessor implements SpanProcessor {
  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const runtime = currentRuntime();
    const traceId = runtime?.ctx.trace?.traceId;
    if (!runtime || span.spanContext().traceId !== traceId) return;
    const failed = span.status.code === SpanStatusCode.ERROR;
    runtime.emit({
      kind: "span",
      level: failed ? "error" : "info",
      message: span.name,
      attributes: { ...span.attributes, ...(failed && span.status.message ? { "exception.message": span.status.message } : {}), "otel.scope.name": span.instrumentationScope.name },
      time: new Date(hrTimeToMilliseconds(span.startTime)).toISOString(),
      seq: runtime.nextSeq(),
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      durationMs: Math.max(0, hrTimeToMilliseconds(span.duration)),
    });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

let installed = false;

/** Once per process: the context manager (so active spans follow async code) and the provider. */
export function installTracing(): void {
  if (installed) return;
  installed = true;
  const manager = new AsyncLocalStorageContextManager();
  manager.enable();
  context.setGlobalContextManager(manager);
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new RunEventSpanProcessor()] }));
}

/** The project's instrumentations (ratchet.config.ts), on the run-trace provider; once per process. */
export function enableInstrumentations(instrumentations: Array<{ setTracerProvider(provider: unknown): void; enable(): void }>): void {
  installTracing();
  for (const instrumentation of instrumentations) {
    instrumentation.setTracerProvider(trace.getTracerProvider());
    instrumentation.enable();
  }
}

/** The context an attempt runs in: its span (made by the server) is the parent of the task's spans. */
export function attemptContext(attempt: { traceId: string; spanId: string } | undefined): Context {
  if (!attempt) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: attempt.traceId, spanId: attempt.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
}

/** Runs `work` inside the attempt's trace context. */
export function withinAttempt<T>(attempt: { traceId: string; spanId: string } | undefined, work: () => T): T {
  return context.with(attemptContext(attempt), work);
}
