// The realtime routes (/realtime/v1/…): secret keys or public access tokens, like the API.
import { listenStartWaitMs, settleWithin } from "../../db/settle-within.ts";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { requireSecretKey } from "../../auth/authenticate.ts";
import { StreamNotifier } from "../../engine/stream-notifier.ts";
import { realtimeRunRoutes } from "./runs.ts";
import { realtimeStreamRoutes } from "./streams.ts";

export async function realtimeRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  app.addHook("preHandler", requireSecretKey(context.db, context.clock, context.apiKeys));
  await app.register(async (scope) => realtimeRunRoutes(scope, context));
  const streams = new StreamNotifier(context.db.sql, context.db.listener);
  // Readers poll meanwhile when Postgres is down; the LISTEN must not hold up the start (settle-within.ts).
  app.addHook("onReady", () => settleWithin(streams.start(), listenStartWaitMs));
  app.addHook("onClose", () => streams.stop());
  await app.register(async (scope) => realtimeStreamRoutes(scope, context, streams));
}
