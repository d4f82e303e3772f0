// The OTLP/HTTP receiver: POST /otel/v1/traces and /otel/v1/logs (JSON or protobuf, gzip or not), for workers and for users'
// other services. Authenticated by the environment's secret key; a span lands only in a trace of a
// run tree of that environment, so no key can write into another tenant's trace. See docs/otlp.md.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Readable } from "node:stream";
import { createGunzip, type Gunzip } from "node:zlib";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { AppContext } from "../app-context.ts";
import { requireSecretKey } from "../auth/authenticate.ts";
import { fromPublicId } from "../ids.ts";
import { otlpItemsPerRequest, otlpLogs, otlpLogsSchema, otlpSpans, otlpTracesSchema, type OtlpItem } from "../observability/otlp.ts";
import { decodeOtlpProtobuf, encodeOtlpAnswer, protobufContentType } from "../observability/otlp-protobuf.ts";
import { rootRunIdForTrace } from "../observability/span-ids.ts";
import { eventsInsert, type NewEvent } from "../storage/events.ts";
import { tracesFindRoot } from "../storage/traces.ts";
import { ApiError } from "../errors.ts";
import { storableJson, storableText } from "../api/input-safety.ts";
import { eventLimits } from "./engine/events.ts";

const dayMs = 86_400_000;

/** Places items on runs of the environment; what cannot be placed (or is out of bounds) is rejected. */
async function place(context: AppContext, environmentId: string, items: OtlpItem[]): Promise<{ rows: NewEvent[]; rejected: number; reasons: Set<string> }> {
  const now = context.clock.now().getTime();
  const earliest = now - context.config.eventsRetentionDays * dayMs;
  const latest = now + eventLimits.futureSkewMs;
  const roots = new Map<string, Promise<string | null>>();
  const rootOf = (runId: string) => {
    let found = roots.get(runId);
    if (!found) roots.set(runId, (found = tracesFindRoot(context.db.sql, environmentId, runId)));
    return found;
  };
  const rows: NewEvent[] = [];
  const reasons = new Set<string>();
  let rejected = 0;
  for (const item of items) {
    const root = rootRunIdForTrace(item.traceId);
    // The trace must be a run tree of this environment: its root run is the caller's and is a root.
    if (root === null || (await rootOf(root)) !== root) {
      rejected += 1;
      reasons.add(`trace ${item.traceId} is not a run trace of this environment`);
      continue;
    }
    let runId = root;
    const named = item.runId === null ? null : fromPublicId("run", item.runId);
    if (named !== null && (await rootOf(named)) === root) runId = named;
    const message = storableText(item.message);
    const attributes = storableJson(item.attributes) as Record<string, unknown>;
    if (Buffer.byteLength(message) > eventLimits.messageBytes || Buffer.byteLength(JSON.stringify(attributes)) > eventLimits.attributesBytes) {
      rejected += 1;
      reasons.add("a name, body or attributes over 64 KiB");
      continue;
    }
    if (item.time.getTime() < earliest || item.time.getTime() > latest || Number.isNaN(item.time.getTime())) {
      rejected += 1;
      reasons.add(`a time outside what Ratchet keeps (the last ${context.config.eventsRetentionDays} days)`);
      continue;
    }
    rows.push({
      environmentId,
      runId,
      attemptNumber: item.attemptNumber,
      seq: item.seq,
      time: item.time,
      kind: item.kind,
      level: item.level,
      message,
      attributes,
      spanId: item.spanId,
      parentSpanId: item.parentSpanId,
      durationMs: item.durationMs,
      traceId: item.traceId,
    });
  }
  return { rows, rejected, reasons };
}

function tooMany(count: number, what: string): void {
  if (count > otlpItemsPerRequest) throw new ApiError("PAYLOAD_TOO_LARGE", `body carries ${count} ${what}; the limit is ${otlpItemsPerRequest} per request`);
}

/** An exporter that sent protobuf reads its answer in protobuf. */
function answerIn(request: FastifyRequest, reply: FastifyReply, kind: "traces" | "logs", answer: { partialSuccess: Record<string, unknown> }): unknown {
  if (!String(request.headers["content-type"] ?? "").startsWith(protobufContentType)) return answer;
  return reply.type(protobufContentType).send(encodeOtlpAnswer(kind, answer));
}

/**
 * `Content-Encoding: gzip` (what OTLP exporters send with `compression: "gzip"`) is inflated before
 * parsing. The body limit then applies to the inflated bytes, so a small bomb cannot blow up.
 */
function inflateGzip(request: FastifyRequest, payload: Readable & { receivedEncodedLength?: number }): Readable {
  const encoding = String(request.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (encoding === "identity" || encoding === "") return payload;
  if (encoding !== "gzip") throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `content-encoding: ${encoding} is not supported; send gzip or no encoding`);
  const inflated = createGunzip() as Gunzip & { receivedEncodedLength: number };
  inflated.receivedEncodedLength = 0;
  payload.on("data", (chunk: Buffer) => (inflated.receivedEncodedLength += chunk.length));
  payload.on("error", (error) => inflated.destroy(error));
  inflated.on("error", (error: Error & { statusCode?: number }) => {
    error.message = `body: not gzip (${error.message})`;
    error.statusCode = 400;
  });
  return payload.pipe(inflated);
}

export async function otelRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  app.addHook("preHandler", requireSecretKey(context.db, context.clock, context.apiKeys));
  app.addHook("preParsing", async (request, _reply, payload) => inflateGzip(request, payload));
  // Protobuf bodies become the JSON mapping's objects here, so the same schema validates both encodings.
  app.addContentTypeParser(protobufContentType, { parseAs: "buffer" }, (request, body, done) => {
    const kind = request.url.startsWith("/otel/v1/logs") ? "logs" : "traces";
    try {
      done(null, decodeOtlpProtobuf(kind, body as Buffer));
    } catch (error) {
      done(new ApiError("VALIDATION_FAILED", `body: not an OTLP ${kind} export request in protobuf (${(error as Error).message})`), undefined);
    }
  });
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post("/otel/v1/traces", { schema: { body: otlpTracesSchema }, config: { textCheckedByRoute: ["resourceSpans"] } }, async (request, reply) => {
    const items = otlpSpans(request.body);
    tooMany(items.length, "spans");
    const { rows, rejected, reasons } = await place(context, request.environment.environmentId, items);
    await eventsInsert(context.db.sql, rows);
    if (rows.length > 0) context.notifier.eventsAdded(request.environment.environmentId);
    // OTLP's partial success: 200 with what was refused, so exporters do not retry data that cannot land.
    const answer = rejected === 0 ? { partialSuccess: {} } : { partialSuccess: { rejectedSpans: rejected, errorMessage: [...reasons].join("; ") } };
    return answerIn(request, reply, "traces", answer);
  });

  routes.post("/otel/v1/logs", { schema: { body: otlpLogsSchema }, config: { textCheckedByRoute: ["resourceLogs"] } }, async (request, reply) => {
    const { items, withoutTrace } = otlpLogs(request.body, context.clock.now());
    tooMany(items.length + withoutTrace, "log records");
    const { rows, rejected, reasons } = await place(context, request.environment.environmentId, items);
    if (withoutTrace > 0) reasons.add("log records without a trace id");
    await eventsInsert(context.db.sql, rows);
    if (rows.length > 0) context.notifier.eventsAdded(request.environment.environmentId);
    const refused = rejected + withoutTrace;
    const answer = refused === 0 ? { partialSuccess: {} } : { partialSuccess: { rejectedLogRecords: refused, errorMessage: [...reasons].join("; ") } };
    return answerIn(request, reply, "logs", answer);
  });
}
