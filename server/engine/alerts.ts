// Alerts: channels per environment, and the dispatcher that delivers them. Queue backlogs are
// found by a grouped read of the hot queue table, at most once a minute per server. Failed runs are recorded
// by a trigger in the same transaction as their status (sql/0014), so no path that ends a run can
// forget to alert. The dispatcher, a loop in every server process (safe under SKIP LOCKED), turns
// those records into deliveries — the first failure of a task at once, the rest of a storm into one
// digest per window — and sends them with retries and exponential backoff, never in a request.
//
// Why an outbox and not runs of built-in system tasks: system runs would need a hidden environment
// and an in-process worker, and would count against queues and show in run lists; the outbox table
// gives the same durability, retries and history (the dashboard's Alerts page) with one table.
import { randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import {
  alertChannelsEnabledFor,
  alertChannelsInsert,
  alertDeliveriesAppendRun,
  alertDeliveriesClaimDue,
  alertDeliveriesInsert,
  alertDeliveriesLatest,
  alertDeliveriesOpenDigest,
  alertDeliveriesSettle,
  alertChannelsWatchingBacklogs,
  alertDeliveriesInsertBacklog,
  alertDeliveriesLatestBacklog,
  queuesBacklogged,
  alertFailuresTake,
  alertLockChannelTask,
  type AlertChannelRow,
  type AlertChannelType,
} from "../storage/alerts.ts";
import type { Clock } from "../clock.ts";
import { toPublicId } from "../ids.ts";
import { alertMessage, sendAlert } from "./alert-senders.ts";
import { openValue, sealValue, type Keyring } from "./envvars-crypto.ts";

export interface AlertSettings {
  /** After an alert for a task, further failures of it wait this long and go out as one digest. */
  digestWindowMs: number;
  /** A digest lists this many runs (and counts all of them). */
  digestRunsListed: number;
  maxAttempts: number;
  /** First retry after this long, doubling, capped at `maxBackoffMs`. */
  firstBackoffMs: number;
  maxBackoffMs: number;
  /** A claimed delivery is retried after this long if its dispatcher never reports back. */
  sendLeaseSeconds: number;
  pollIntervalMs: number;
  batchSize: number;
  /** How often queues are checked for backlogs (a grouped read of the hot queue table). */
  backlogCheckIntervalMs: number;
  /** While a backlog lasts, a channel hears of it again after this long. */
  backlogRepeatMs: number;
}

export const defaultAlertSettings: AlertSettings = {
  digestWindowMs: 5 * 60_000,
  digestRunsListed: 20,
  maxAttempts: 8,
  firstBackoffMs: 10_000,
  maxBackoffMs: 30 * 60_000,
  sendLeaseSeconds: 120,
  pollIntervalMs: 1_000,
  batchSize: 100,
  backlogCheckIntervalMs: 60_000,
  backlogRepeatMs: 60 * 60_000,
};

export interface AlertDeps {
  db: Db;
  clock: Clock;
  keyring: Keyring;
  publicUrl: string;
  smtpUrl: string | undefined;
  emailFrom: string;
}

const secretName = "alert-webhook-secret";

export interface ChannelInput {
  type: AlertChannelType;
  name?: string;
  /** webhook / slack: the URL; email: one or more addresses. */
  url?: string;
  emails?: string[];
  tasks?: string[];
  /** webhook: the signing secret; generated when not given. */
  secret?: string;
  /** Also alert when a queue's runs have waited this many minutes. */
  backlogMinutes?: number;
}

/** Creates a channel; a webhook's signing secret is returned here once and stored sealed. */
export async function createAlertChannel(deps: AlertDeps, environmentId: string, input: ChannelInput): Promise<{ channel: AlertChannelRow; secret: string | null }> {
  const id = randomUUID();
  let target: string;
  if (input.type === "email") {
    if (!input.emails || input.emails.length === 0) throw new ApiError("VALIDATION_FAILED", "emails: at least one address is required for an email channel");
    target = input.emails.join(", ");
  } else {
    if (!input.url) throw new ApiError("VALIDATION_FAILED", `url: required for a ${input.type} channel`);
    target = input.url;
  }
  const secret = input.type === "webhook" ? (input.secret ?? `whsec_${randomBytes(24).toString("base64url")}`) : null;
  const channel = await alertChannelsInsert(deps.db.sql, {
    id,
    environmentId,
    type: input.type,
    name: input.name ?? "",
    target,
    secret: secret === null ? null : sealValue(deps.keyring, id, secretName, secret),
    taskIdentifiers: input.tasks && input.tasks.length > 0 ? input.tasks : null,
    backlogMinutes: input.backlogMinutes ?? null,
    now: deps.clock.now(),
  });
  return { channel, secret };
}

export function channelObject(channel: AlertChannelRow) {
  return {
    id: channel.id,
    type: channel.type,
    name: channel.name,
    ...(channel.type === "email" ? { emails: channel.target.split(", ") } : { url: channel.target }),
    tasks: channel.taskIdentifiers ?? [],
    backlogMinutes: channel.backlogMinutes ?? undefined,
    enabled: channel.enabled,
    createdAt: channel.createdAt.toISOString(),
  };
}

function backoffMs(settings: AlertSettings, attempts: number): number {
  return Math.min(settings.maxBackoffMs, settings.firstBackoffMs * 2 ** (attempts - 1));
}

/** Turns recorded failures into deliveries. Returns how many failures it took. */
export async function fanOutFailures(deps: AlertDeps, settings: AlertSettings): Promise<number> {
  return deps.db.sql.begin(async (tx) => {
    const failures = await alertFailuresTake(tx, settings.batchSize);
    if (failures.length === 0) return 0;
    const now = deps.clock.now();
    const channels = await alertChannelsEnabledFor(tx, [...new Set(failures.map((failure) => failure.environmentId))]);
    for (const failure of failures) {
      const run = {
        id: toPublicId("run", failure.runId),
        status: failure.status,
        error: failure.error ? { message: failure.error.message, name: failure.error.name } : null,
        failedAt: failure.failedAt.toISOString(),
      };
      for (const channel of channels) {
        if (channel.environmentId !== failure.environmentId) continue;
        if (channel.taskIdentifiers && !channel.taskIdentifiers.includes(failure.taskIdentifier)) continue;
        await alertLockChannelTask(tx, channel.id, failure.taskIdentifier);
        const latest = await alertDeliveriesLatest(tx, channel.id, failure.taskIdentifier);
        const base = { channelId: channel.id, environmentId: failure.environmentId, taskIdentifier: failure.taskIdentifier, run, now };
        if (!latest || now.getTime() - latest.createdAt.getTime() >= settings.digestWindowMs) {
          await alertDeliveriesInsert(tx, { ...base, kind: "run_failed", nextAttemptAt: now });
          continue;
        }
        const digest = await alertDeliveriesOpenDigest(tx, channel.id, failure.taskIdentifier);
        if (digest) await alertDeliveriesAppendRun(tx, digest, run, settings.digestRunsListed);
        else await alertDeliveriesInsert(tx, { ...base, kind: "digest", nextAttemptAt: new Date(latest.createdAt.getTime() + settings.digestWindowMs) });
      }
    }
    return failures.length;
  });
}

/** Records a delivery for every queue with runs waiting longer than a channel allows. Returns how many. */
export async function checkBacklogs(deps: AlertDeps, settings: AlertSettings): Promise<number> {
  const now = deps.clock.now();
  let recorded = 0;
  for (const channel of await alertChannelsWatchingBacklogs(deps.db.sql)) {
    const cutoff = new Date(now.getTime() - channel.backlogMinutes! * 60_000);
    for (const backlog of await queuesBacklogged(deps.db.sql, channel.environmentId, cutoff)) {
      recorded += await deps.db.sql.begin(async (tx) => {
        await alertLockChannelTask(tx, channel.id, backlog.queue);
        const latest = await alertDeliveriesLatestBacklog(tx, channel.id, backlog.queue);
        if (latest && now.getTime() - latest.getTime() < settings.backlogRepeatMs) return 0;
        await alertDeliveriesInsertBacklog(tx, { channelId: channel.id, environmentId: channel.environmentId, backlog, now });
        return 1;
      });
    }
  }
  return recorded;
}

/** Sends what is due. Returns how many deliveries it attempted. */
export async function deliverDue(deps: AlertDeps, settings: AlertSettings, log?: Logger): Promise<number> {
  const now = deps.clock.now();
  const due = await alertDeliveriesClaimDue(deps.db.sql, now, settings.sendLeaseSeconds, settings.batchSize);
  await Promise.all(
    due.map(async (delivery) => {
      try {
        await sendAlert(delivery.channel, alertMessage(delivery, deps.publicUrl), {
          smtpUrl: deps.smtpUrl,
          emailFrom: deps.emailFrom,
          now: () => deps.clock.now(),
          secretOf: (channel) => openValue(deps.keyring, channel.id, secretName, { keyId: channel.secretKeyId!, sealed: channel.secretSealed! }),
        });
        await alertDeliveriesSettle(deps.db.sql, delivery.id, { status: "delivered", now: deps.clock.now() });
      } catch (error) {
        const message = (error as Error).message.slice(0, 1000);
        log?.warn({ delivery: delivery.id, channel: delivery.channel.id, attempt: delivery.attempts, err: message }, "alert delivery failed");
        await alertDeliveriesSettle(
          deps.db.sql,
          delivery.id,
          delivery.attempts >= settings.maxAttempts
            ? { status: "failed", error: message }
            : { status: "pending", error: message, nextAttemptAt: new Date(deps.clock.now().getTime() + backoffMs(settings, delivery.attempts)) },
        );
      }
    }),
  );
  return due.length;
}

export class AlertDispatcher {
  readonly #deps: AlertDeps;
  readonly #settings: AlertSettings;
  /** Set once the app's logger exists. */
  log: Logger | undefined;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #backlogCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: AlertDeps, settings: Partial<AlertSettings> = {}, log?: Logger) {
    this.#deps = deps;
    this.#settings = { ...defaultAlertSettings, ...settings };
    this.log = log;
  }

  /** One pass: record failures as deliveries, then send what is due (tests call this with their clock). */
  async runOnce(): Promise<{ failures: number; attempted: number }> {
    const failures = await fanOutFailures(this.#deps, this.#settings);
    const now = this.#deps.clock.now().getTime();
    if (now - this.#backlogCheckedAt >= this.#settings.backlogCheckIntervalMs) {
      this.#backlogCheckedAt = now;
      await checkBacklogs(this.#deps, this.#settings);
    }
    const attempted = await deliverDue(this.#deps, this.#settings, this.log);
    return { failures, attempted };
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.runOnce()
        .then(() => undefined, (error: unknown) => this.log?.error({ err: error }, "alert dispatch failed"))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#settings.pollIntervalMs);
        });
    };
    this.#timer = setTimeout(tick, this.#settings.pollIntervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
