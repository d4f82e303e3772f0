// How one alert reaches one channel: a signed webhook (JSON, HMAC-SHA256), an email (SMTP through
// nodemailer) or a Slack-compatible incoming webhook. Each sender resolves when the receiver has
// accepted the alert and throws otherwise; the dispatcher retries.
import { createHmac } from "node:crypto";
import { sendEmail } from "./mailer.ts";
import type { AlertChannelRow, DeploymentFailure, DueDelivery, QueueBacklog } from "../storage/alerts.ts";

/** The header a webhook receiver verifies: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const signatureHeader = "x-ratchet-signature";

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export interface AlertMessage {
  /** run.failed (one run), run.failed.digest (several, held back by the rate limit), queue.backlog, deployment.failed. */
  type: "run.failed" | "run.failed.digest" | "queue.backlog" | "deployment.failed";
  deliveryId: string;
  subject: string;
  text: string;
  payload: Record<string, unknown>;
}

export function alertMessage(delivery: DueDelivery, publicUrl: string): AlertMessage {
  const where = `${delivery.projectName} (${delivery.projectRef}) / ${delivery.environmentType}`;
  const runUrl = (id: string) => `${publicUrl}/p/${delivery.projectRef}/${delivery.environmentType}/runs/${id}`;
  if (delivery.kind === "deployment_failed" && delivery.details) {
    const failure = delivery.details as DeploymentFailure;
    const deploymentsUrl = `${publicUrl}/p/${delivery.projectRef}/${delivery.environmentType}/deployments`;
    return {
      type: "deployment.failed",
      deliveryId: delivery.id,
      subject: `[Ratchet] deployment ${failure.version} failed in ${where}`,
      text: `Deployment ${failure.version} in ${where} failed at ${failure.failedAt}: ${failure.error.message}\n\nThe current version keeps serving runs.\n${deploymentsUrl}`,
      payload: {
        type: "deployment.failed",
        id: delivery.id,
        project: { ref: delivery.projectRef, name: delivery.projectName },
        environment: { type: delivery.environmentType },
        version: failure.version,
        error: failure.error,
        failedAt: failure.failedAt,
        url: deploymentsUrl,
        createdAt: delivery.createdAt.toISOString(),
      },
    };
  }
  if (delivery.kind === "queue_backlog" && delivery.details) {
    const backlog = delivery.details as QueueBacklog;
    const queuesUrl = `${publicUrl}/p/${delivery.projectRef}/${delivery.environmentType}/queues`;
    return {
      type: "queue.backlog",
      deliveryId: delivery.id,
      subject: `[Ratchet] ${backlog.waiting} runs waiting in queue ${backlog.queue} in ${where}`,
      text: `${backlog.waiting} runs of queue ${backlog.queue} in ${where} are waiting longer than the channel allows; the oldest has been runnable since ${backlog.oldestSince}.\n\nIs a worker running, is the concurrency limit too low?\n${queuesUrl}`,
      payload: {
        type: "queue.backlog",
        id: delivery.id,
        project: { ref: delivery.projectRef, name: delivery.projectName },
        environment: { type: delivery.environmentType },
        queue: backlog.queue,
        waiting: backlog.waiting,
        oldestSince: backlog.oldestSince,
        url: queuesUrl,
        createdAt: delivery.createdAt.toISOString(),
      },
    };
  }
  const runs = delivery.runs.map((run) => ({ ...run, url: runUrl(run.id) }));
  const digest = delivery.kind === "digest";
  const subject = digest
    ? `[Ratchet] ${delivery.runCount} runs of ${delivery.taskIdentifier} failed in ${where}`
    : `[Ratchet] ${delivery.taskIdentifier} ${runs[0]?.status.toLowerCase().replace("_", " ") ?? "failed"} in ${where}`;
  const lines = runs.map((run) => `- ${run.status} ${run.id} at ${run.failedAt}: ${run.error?.message ?? "no error message"}\n  ${run.url}`);
  const more = delivery.runCount > runs.length ? [`…and ${delivery.runCount - runs.length} more.`] : [];
  const text = [
    digest
      ? `${delivery.runCount} runs of ${delivery.taskIdentifier} failed in ${where} while alerts for it were held back (at most one alert per task per window).`
      : `A run of ${delivery.taskIdentifier} failed in ${where}.`,
    "",
    ...lines,
    ...more,
  ].join("\n");
  return {
    type: digest ? "run.failed.digest" : "run.failed",
    deliveryId: delivery.id,
    subject,
    text,
    payload: {
      type: digest ? "run.failed.digest" : "run.failed",
      id: delivery.id,
      project: { ref: delivery.projectRef, name: delivery.projectName },
      environment: { type: delivery.environmentType },
      task: delivery.taskIdentifier,
      count: delivery.runCount,
      runs,
      createdAt: delivery.createdAt.toISOString(),
    },
  };
}

export interface SendContext {
  smtpUrl: string | undefined;
  emailFrom: string;
  now: () => Date;
  /** The webhook channel's signing secret, opened from its sealed form. */
  secretOf: (channel: AlertChannelRow) => string;
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<void> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "user-agent": "Ratchet-Alerts/1", ...headers }, body, signal: AbortSignal.timeout(10_000), redirect: "manual" });
  if (!response.ok) throw new Error(`the receiver answered ${response.status}`);
  await response.body?.cancel();
}

export async function sendAlert(channel: AlertChannelRow, message: AlertMessage, context: SendContext): Promise<void> {
  switch (channel.type) {
    case "webhook": {
      const body = JSON.stringify(message.payload);
      const timestamp = Math.floor(context.now().getTime() / 1000);
      await post(channel.target, {
        [signatureHeader]: signWebhook(context.secretOf(channel), timestamp, body),
        "x-ratchet-event": message.type,
        "x-ratchet-delivery": message.deliveryId,
      }, body);
      return;
    }
    case "slack":
      await post(channel.target, {}, JSON.stringify({ text: `*${message.subject}*\n${message.text}` }));
      return;
    case "email":
      await sendEmail(context, { to: channel.target, subject: message.subject, text: message.text });
      return;
  }
}
