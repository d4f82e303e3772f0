// Realtime streams (Trigger.dev's v1 stream protocol): a task pipes NDJSON chunks to
// POST /realtime/v1/streams/{run}/{target}/{key} (resumable: X-Resume-From-Chunk, and HEAD tells
// the last chunk stored), appends single chunks to …/append, and readers follow
// GET /realtime/v1/streams/{run}/{key} as server-sent events, resumable with Last-Event-ID.
import { createInterface } from "node:readline";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { authorizeRunRead } from "../../api/public-access.ts";
import type { StreamNotifier } from "../../engine/stream-notifier.ts";
import { runIdOrNotFound } from "../../engine/run-actions.ts";
import { ApiError } from "../../errors.ts";
import { runsFindById, type RunRow } from "../../storage/runs.ts";
import {
  runStreamsComplete,
  runStreamsEnsure,
  streamChunksAfter,
  streamChunksAppend,
  streamChunksInsert,
  streamLastSeq,
} from "../../storage/stream-chunks.ts";

const streamKey = z.string().min(1).max(256).regex(/^[A-Za-z0-9_\-.:]+$/, "stream keys use letters, digits and - _ . :");
const writeParams = z.object({ runId: z.string().min(1).max(64), target: z.string().min(1).max(64), key: streamKey });
const readParams = z.object({ runId: z.string().min(1).max(64), key: streamKey });

/** A chunk is one line of NDJSON; larger lines are refused. */
export const chunkMaxBytes = 1024 * 1024;
/** Readers with no Timeout-Seconds end an idle, unfinished stream after this long (the SDK reconnects). */
const defaultReadTimeoutSeconds = 60;

async function findRun(context: AppContext, environmentId: string, publicId: string): Promise<RunRow> {
  const run = await runsFindById(context.db.sql, environmentId, runIdOrNotFound(publicId));
  if (!run) throw new ApiError("NOT_FOUND", `No run ${publicId}`);
  return run;
}

/** "self", "parent", "root" or a run id, as the SDK names the run a stream is written to. */
async function targetRun(context: AppContext, environmentId: string, runId: string, target: string): Promise<RunRow> {
  const run = await findRun(context, environmentId, runId);
  if (target === "self") return run;
  const relatedId = target === "parent" ? run.parentRunId : target === "root" ? (run.rootRunId ?? run.parentRunId) : null;
  if (target === "parent" || target === "root") {
    return relatedId ? ((await runsFindById(context.db.sql, environmentId, relatedId)) ?? run) : run;
  }
  return findRun(context, environmentId, target);
}

function sseEvent(seq: string, data: string): string {
  return `id: ${seq}\n${data.split(/\r?\n/).map((line) => `data: ${line}`).join("\n")}\n\n`;
}

export async function realtimeStreamRoutes(app: FastifyInstance, context: AppContext, notifier: StreamNotifier): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = context.db;
  // Bodies are read here as they arrive (a pipe may stream for minutes), not parsed up front.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request: FastifyRequest, payload: IncomingMessage, done: (error: Error | null, body?: unknown) => void) => done(null, payload));

  routes.put("/realtime/v1/streams/:runId/:target/:key", { schema: { params: writeParams } }, async (request) => {
    const run = await targetRun(context, request.environment.environmentId, request.params.runId, request.params.target);
    await runStreamsEnsure(sql, run.id, run.environmentId, request.params.key, context.clock.now());
    return { version: "v1" };
  });

  routes.head("/realtime/v1/streams/:runId/:target/:key", { schema: { params: writeParams } }, async (request, reply) => {
    const run = await targetRun(context, request.environment.environmentId, request.params.runId, request.params.target);
    return reply.header("x-last-chunk-index", String(await streamLastSeq(sql, run.id, request.params.key))).send();
  });

  routes.post(
    "/realtime/v1/streams/:runId/:target/:key",
    { schema: { params: writeParams, headers: z.object({ "x-resume-from-chunk": z.coerce.number().int().min(0).optional() }).loose() } },
    async (request) => {
      const run = await targetRun(context, request.environment.environmentId, request.params.runId, request.params.target);
      const key = request.params.key;
      await runStreamsEnsure(sql, run.id, run.environmentId, key, context.clock.now());
      let next = request.headers["x-resume-from-chunk"] ?? 0;
      let batch: string[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const chunks = batch;
        batch = [];
        await streamChunksInsert(sql, run.id, key, next, chunks, context.clock.now());
        next += chunks.length;
        notifier.chunksAdded(run.id, key);
      };
      const body = request.body as IncomingMessage;
      const lines = createInterface({ input: body, crlfDelay: Infinity });
      let lastFlush = Date.now();
      for await (const line of lines) {
        if (line.trim() === "") continue;
        if (Buffer.byteLength(line) > chunkMaxBytes) throw new ApiError("PAYLOAD_TOO_LARGE", `a chunk is at most ${chunkMaxBytes} bytes`);
        batch.push(line);
        // Small chunks go in batches, but none waits long: readers see them within ~20 ms.
        if (batch.length >= 500 || Date.now() - lastFlush >= 20) {
          await flush();
          lastFlush = Date.now();
        }
      }
      await flush();
      if (body.complete) {
        await runStreamsComplete(sql, run.id, key, context.clock.now());
        notifier.chunksAdded(run.id, key);
      }
      return { ok: true };
    },
  );

  routes.post("/realtime/v1/streams/:runId/:target/:key/append", { schema: { params: writeParams } }, async (request) => {
    const run = await targetRun(context, request.environment.environmentId, request.params.runId, request.params.target);
    const key = request.params.key;
    let text = "";
    for await (const piece of request.body as IncomingMessage) {
      text += String(piece);
      if (Buffer.byteLength(text) > chunkMaxBytes) throw new ApiError("PAYLOAD_TOO_LARGE", `a chunk is at most ${chunkMaxBytes} bytes`);
    }
    await runStreamsEnsure(sql, run.id, run.environmentId, key, context.clock.now());
    await streamChunksAppend(sql, run.id, key, text, context.clock.now());
    notifier.chunksAdded(run.id, key);
    return { ok: true };
  });

  routes.get(
    "/realtime/v1/streams/:runId/:key",
    {
      config: { publicAccess: true },
      // A HEAD here would hold the connection like the event stream does; the writer's HEAD is above.
      exposeHeadRoute: false,
      schema: {
        params: readParams,
        headers: z
          .object({
            "last-event-id": z.coerce.number().int().min(-1).optional(),
            "x-trigger-stream-start": z.enum(["latest", "beginning"]).optional(),
            "timeout-seconds": z.coerce.number().min(1).max(3600).optional(),
          })
          .loose(),
      },
    },
    async (request, reply) => {
      const run = await findRun(context, request.environment.environmentId, request.params.runId);
      authorizeRunRead(request, run);
      const key = request.params.key;
      let after = request.headers["last-event-id"] ?? (request.headers["x-trigger-stream-start"] === "latest" ? await streamLastSeq(sql, run.id, key) : -1);
      const idleMs = (request.headers["timeout-seconds"] ?? defaultReadTimeoutSeconds) * 1000;
      const abort = new AbortController();
      reply.raw.once("close", () => abort.abort());
      const signal = AbortSignal.any([abort.signal, context.closing]);
      reply.hijack();
      reply.raw.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-stream-version": "v1",
        ...corsHeaders(reply.getHeaders()),
      });
      let idleSince = Date.now();
      try {
        while (!signal.aborted) {
          const read = await streamChunksAfter(sql, run.id, key, after, 1000);
          if (read.chunks.length > 0) {
            const text = read.chunks.map((chunk) => sseEvent(chunk.seq, chunk.data)).join("");
            after = Number(read.chunks.at(-1)!.seq);
            idleSince = Date.now();
            if (!reply.raw.write(text)) await new Promise((resolve) => reply.raw.once("drain", resolve));
            continue;
          }
          if (read.ended || Date.now() - idleSince >= idleMs) break;
          await notifier.wait(run.id, key, Math.min(1000, idleMs), signal);
        }
      } finally {
        reply.raw.end();
      }
    },
  );
}

/** A hijacked reply bypasses the CORS hook's headers unless they are copied over. */
function corsHeaders(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith("access-control-")).map(([name, value]) => [name, String(value)]));
}
