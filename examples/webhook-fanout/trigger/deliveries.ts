// Webhook fan-out: one incoming event is delivered to every subscriber. Each delivery is its own run,
// so a slow or failing subscriber never holds up the others; the `deliveries` queue keys
// concurrency by subscriber, so no subscriber gets more than two requests at once however many
// events arrive.
import { AbortTaskRunError, idempotencyKeys, logger, queue, task } from "ratchet/sdk";

export interface Subscriber {
  id: string;
  url: string;
}

export interface WebhookEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

export const deliveries = queue({ name: "deliveries", concurrencyLimit: 2 });

export const deliverWebhook = task({
  id: "deliver-webhook",
  queue: deliveries,
  retry: { maxAttempts: 5, minTimeoutInMs: 200, maxTimeoutInMs: 5_000, factor: 2, randomize: false },
  run: async (payload: { subscriber: Subscriber; event: WebhookEvent }, { ctx, signal }) => {
    const response = await fetch(payload.subscriber.url, {
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": payload.event.id, "webhook-attempt": String(ctx.attempt.number) },
      body: JSON.stringify(payload.event),
      signal,
    });
    logger.info("delivered", { subscriber: payload.subscriber.id, status: response.status });
    // A 4xx other than 429 will not get better by retrying.
    if (response.status >= 400 && response.status < 500 && response.status !== 429) {
      throw new AbortTaskRunError(`${payload.subscriber.id} refused the webhook with ${response.status}`);
    }
    if (!response.ok) throw new Error(`${payload.subscriber.id} answered ${response.status}`);
    return { subscriber: payload.subscriber.id, status: response.status };
  },
});

export const fanOut = task({
  id: "fan-out-webhook",
  run: async (payload: { event: WebhookEvent; subscribers: Subscriber[] }) => {
    const items = [];
    for (const subscriber of payload.subscribers) {
      // Global scope: the key is the same whichever run triggers it, so replaying this fan-out (or
      // receiving the same event twice) never delivers it to a subscriber again.
      const idempotencyKey = await idempotencyKeys.create([payload.event.id, subscriber.id], { scope: "global" });
      items.push({
        payload: { subscriber, event: payload.event },
        options: { concurrencyKey: subscriber.id, idempotencyKey, tags: [`event:${payload.event.id}`] },
      });
    }
    const batch = await deliverWebhook.batchTrigger(items);
    logger.info("fanned out", { batchId: batch.batchId, deliveries: batch.runCount });
    return { batchId: batch.batchId, deliveries: batch.runCount };
  },
});
