// The dashboard's live streams (Server-Sent Events): a "changed" event tells an open page to fetch
// itself again (htmx, views/static/live.js). Postgres notifications are only hints: they wake the
// stream, wake-ups are coalesced, and `look` decides whether this page really changed. Looks never
// overlap; one asked for during a look runs once more after it, so no change is missed.
import type { FastifyReply, FastifyRequest } from "fastify";

export interface LiveStreamOptions {
  /** Subscribes `wake` to the notifications that may concern the page; returns the unsubscribers. */
  subscribe: (wake: () => void) => Array<() => void>;
  /** The "changed" event's data when the page changed, null when it did not. */
  look: () => Promise<unknown>;
  /** Wake-ups within this window make one look (bounds the looks per second, however chatty). */
  coalesceMs: number;
  /** A look this often regardless, for a notification that was lost (a LISTEN reconnect). */
  pollMs?: number;
  /** The server closing: streams end at once so shutdown is not held up. */
  closing: AbortSignal;
  /** Names the stream in the log when a look fails. */
  name: string;
}

const keepAliveMs = 15_000;

export function openLiveStream(request: FastifyRequest, reply: FastifyReply, options: LiveStreamOptions): void {
  reply.hijack();
  reply.raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
  reply.raw.write(": connected\n\n");
  let closed = false;
  let reading = false;
  let again = false;
  const look = async () => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const data = await options.look();
        if (data !== null && !closed) reply.raw.write(`event: changed\ndata: ${JSON.stringify(data)}\n\n`);
      } while (again && !closed);
    } catch (error) {
      request.log.warn({ err: error }, `${options.name} live update failed`);
    } finally {
      reading = false;
    }
  };
  let pending: NodeJS.Timeout | null = null;
  const wake = () => {
    pending ??= setTimeout(() => {
      pending = null;
      void look();
    }, options.coalesceMs);
  };
  const unsubscribe = options.subscribe(wake);
  const keepAlive = setInterval(() => reply.raw.write(": keep-alive\n\n"), keepAliveMs);
  const poll = options.pollMs ? setInterval(wake, options.pollMs) : null;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const stop of unsubscribe) stop();
    clearInterval(keepAlive);
    if (poll) clearInterval(poll);
    if (pending) clearTimeout(pending);
    // Every open page adds a listener to the server's closing signal: a closed one takes its own away.
    options.closing.removeEventListener("abort", close);
    reply.raw.end();
  };
  request.raw.socket.once("close", close);
  options.closing.addEventListener("abort", close, { once: true });
}
