// logger.debug/log/info/warn/error and logger.trace spans. Inside a run they become the run's
// events (stored by the server, shown on the dashboard); outside a run they go to the console.
import { randomBytes } from "node:crypto";
import { currentRuntime, type RunEvent } from "./runtime.ts";

type Level = RunEvent["level"];
type Attributes = Record<string, unknown>;

function emit(level: Level, message: string, attributes?: Attributes): void {
  const runtime = currentRuntime();
  if (!runtime) {
    const line = attributes ? `${message} ${JSON.stringify(attributes)}` : message;
    if (level === "error") console.error(line);
    else if (level === "warn") console.warn(line);
    else console.log(line);
    return;
  }
  runtime.emit({
    kind: "log",
    level,
    message: String(message),
    attributes,
    time: new Date().toISOString(),
    seq: runtime.nextSeq(),
    parentSpanId: runtime.currentSpanId,
  });
}

async function trace<T>(name: string, fn: (span: { id: string }) => Promise<T> | T, attributes?: Attributes): Promise<T> {
  const runtime = currentRuntime();
  const id = randomBytes(8).toString("hex");
  const started = performance.now();
  const startTime = new Date().toISOString();
  const seq = runtime?.nextSeq() ?? 0;
  const parent = runtime?.currentSpanId;
  if (runtime) runtime.currentSpanId = id;
  let failed: unknown;
  try {
    return await fn({ id });
  } catch (error) {
    failed = error;
    throw error;
  } finally {
    if (runtime) {
      runtime.currentSpanId = parent;
      runtime.emit({
        kind: "span",
        level: failed ? "error" : "info",
        message: name,
        attributes: failed ? { ...attributes, error: (failed as Error)?.message ?? String(failed) } : attributes,
        time: startTime,
        seq,
        spanId: id,
        parentSpanId: parent,
        durationMs: performance.now() - started,
      });
    }
  }
}

export const logger = {
  trace,
  debug: (message: string, attributes?: Attributes) => emit("debug", message, attributes),
  log: (message: string, attributes?: Attributes) => emit("log", message, attributes),
  info: (message: string, attributes?: Attributes) => emit("info", message, attributes),
  warn: (message: string, attributes?: Attributes) => emit("warn", message, attributes),
  error: (message: string, attributes?: Attributes) => emit("error", message, attributes),
};
