// Named queries for alert channels, the failures a trigger records for them, and the deliveries the
// dispatcher makes (the outbox and its history). See sql/0014_team_operations.sql.
import type { Sql, TransactionSql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";

type Queryable = Sql | TransactionSql;

export type AlertChannelType = "webhook" | "email" | "slack";

export interface AlertChannelRow {
  id: string;
  environmentId: string;
  type: AlertChannelType;
  name: string;
  target: string;
  secretSealed: Buffer | null;
  secretKeyId: string | null;
  taskIdentifiers: string[] | null;
  backlogMinutes: number | null;
  enabled: boolean;
  createdAt: Date;
}

const channelColumns = (sql: Queryable) => sql`
  id, environment_id as "environmentId", type, name, target, secret_sealed as "secretSealed",
  secret_key_id as "secretKeyId", task_identifiers as "taskIdentifiers", backlog_minutes as "backlogMinutes", enabled, created_at as "createdAt"`;

export async function alertChannelsInsert(
  sql: Queryable,
  channel: {
    id: string;
    environmentId: string;
    type: AlertChannelType;
    name: string;
    target: string;
    secret: { keyId: string; sealed: Buffer } | null;
    taskIdentifiers: string[] | null;
    backlogMinutes: number | null;
    now: Date;
  },
): Promise<AlertChannelRow> {
  const [row] = await sql<AlertChannelRow[]>`
    insert into ratchet.alert_channels (id, environment_id, type, name, target, secret_sealed, secret_key_id, task_identifiers, backlog_minutes, created_at)
    values (${channel.id}, ${channel.environmentId}, ${channel.type}, ${channel.name}, ${channel.target}, ${channel.secret?.sealed ?? null},
      ${channel.secret?.keyId ?? null}, ${channel.taskIdentifiers}, ${channel.backlogMinutes}, ${channel.now})
    returning ${channelColumns(sql)}`;
  return row!;
}

export async function alertChannelsList(sql: Queryable, environmentId: string): Promise<AlertChannelRow[]> {
  return sql<AlertChannelRow[]>`
    select ${channelColumns(sql)} from ratchet.alert_channels where environment_id = ${environmentId} order by created_at, id`;
}

export async function alertChannelsFind(sql: Queryable, environmentId: string, id: string): Promise<AlertChannelRow | null> {
  const [row] = await sql<AlertChannelRow[]>`
    select ${channelColumns(sql)} from ratchet.alert_channels where environment_id = ${environmentId} and id = ${id}`;
  return row ?? null;
}

export async function alertChannelsDelete(sql: Queryable, environmentId: string, id: string): Promise<boolean> {
  const rows = await sql`delete from ratchet.alert_channels where environment_id = ${environmentId} and id = ${id} returning id`;
  return rows.length > 0;
}

export interface RunFailureRow {
  environmentId: string;
  runId: string;
  taskIdentifier: string;
  status: string;
  error: { message?: string; name?: string } | null;
  failedAt: Date;
}

/** Takes recorded failures off the table (they become deliveries in the same transaction). */
export async function alertFailuresTake(tx: TransactionSql, limit: number): Promise<RunFailureRow[]> {
  return tx<RunFailureRow[]>`
    delete from ratchet.alert_run_failures where id in (
      select id from ratchet.alert_run_failures order by id limit ${limit} for update skip locked)
    returning environment_id as "environmentId", run_id as "runId", task_identifier as "taskIdentifier", status, error, failed_at as "failedAt"`;
}

export async function alertChannelsEnabledFor(tx: TransactionSql, environmentIds: string[]): Promise<AlertChannelRow[]> {
  return tx<AlertChannelRow[]>`
    select ${channelColumns(tx)} from ratchet.alert_channels where environment_id = any(${environmentIds}::uuid[]) and enabled`;
}

/** Serializes the digest decision of one channel and task across dispatchers. */
export async function alertLockChannelTask(tx: TransactionSql, channelId: string, taskIdentifier: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`alerts:${channelId}:${taskIdentifier}`}, 0))`;
}

export async function alertDeliveriesLatest(tx: TransactionSql, channelId: string, taskIdentifier: string): Promise<{ id: string; createdAt: Date } | null> {
  const [row] = await tx<{ id: string; createdAt: Date }[]>`
    select id, created_at as "createdAt" from ratchet.alert_deliveries
    where channel_id = ${channelId} and task_identifier = ${taskIdentifier} and kind in ('run_failed', 'digest')
    order by created_at desc limit 1`;
  return row ?? null;
}

/** A digest not yet sent (nor being sent), which more failures can join. */
export async function alertDeliveriesOpenDigest(tx: TransactionSql, channelId: string, taskIdentifier: string): Promise<string | null> {
  const [row] = await tx<{ id: string }[]>`
    select id from ratchet.alert_deliveries
    where channel_id = ${channelId} and task_identifier = ${taskIdentifier} and kind = 'digest' and status = 'pending' and attempts = 0
    order by created_at desc limit 1 for update`;
  return row?.id ?? null;
}

export interface AlertRunSummary {
  id: string;
  status: string;
  error: { message?: string; name?: string } | null;
  failedAt: string;
}

export async function alertDeliveriesInsert(
  tx: TransactionSql,
  delivery: { channelId: string; environmentId: string; taskIdentifier: string; kind: "run_failed" | "digest"; run: AlertRunSummary; nextAttemptAt: Date; now: Date },
): Promise<void> {
  await tx`
    insert into ratchet.alert_deliveries (channel_id, environment_id, task_identifier, kind, runs, run_count, next_attempt_at, created_at)
    values (${delivery.channelId}, ${delivery.environmentId}, ${delivery.taskIdentifier}, ${delivery.kind},
      ${tx.json([delivery.run] as never)}, 1, ${delivery.nextAttemptAt}, ${delivery.now})`;
}

/** Adds a run to a digest; a digest lists at most `keep` runs but counts them all. */
export async function alertDeliveriesAppendRun(tx: TransactionSql, id: string, run: AlertRunSummary, keep: number): Promise<void> {
  await tx`
    update ratchet.alert_deliveries set run_count = run_count + 1,
      runs = case when jsonb_array_length(runs) < ${keep} then runs || ${tx.json([run] as never)} else runs end
    where id = ${id}`;
}

export interface QueueBacklog {
  queue: string;
  waiting: number;
  oldestSince: string;
}

export interface DueDelivery {
  id: string;
  kind: "run_failed" | "digest" | "queue_backlog" | "deployment_failed";
  details: QueueBacklog | DeploymentFailure | null;
  taskIdentifier: string;
  runs: AlertRunSummary[];
  runCount: number;
  attempts: number;
  createdAt: Date;
  channel: AlertChannelRow;
  projectRef: string;
  projectName: string;
  environmentType: EnvironmentType;
}

/**
 * Claims deliveries that are due: each is pushed `leaseSeconds` ahead and its attempt counted before
 * it is sent, so a dispatcher that dies mid-send leaves it to be retried, and no two send it at once.
 */
export async function alertDeliveriesClaimDue(sql: Sql, now: Date, leaseSeconds: number, limit: number): Promise<DueDelivery[]> {
  const rows = await sql<Array<Omit<DueDelivery, "channel"> & { channelId: string }>>`
    update ratchet.alert_deliveries d set attempts = d.attempts + 1, next_attempt_at = ${now}::timestamptz + make_interval(secs => ${leaseSeconds})
    where d.id in (
      select id from ratchet.alert_deliveries where status = 'pending' and next_attempt_at <= ${now}
      order by next_attempt_at limit ${limit} for update skip locked)
    returning d.id, d.kind, d.details, d.task_identifier as "taskIdentifier", d.runs, d.run_count as "runCount", d.attempts,
      d.created_at as "createdAt", d.channel_id as "channelId",
      (select p.ref from ratchet.environments e join ratchet.projects p on p.id = e.project_id where e.id = d.environment_id) as "projectRef",
      (select p.name from ratchet.environments e join ratchet.projects p on p.id = e.project_id where e.id = d.environment_id) as "projectName",
      (select e.type from ratchet.environments e where e.id = d.environment_id) as "environmentType"`;
  if (rows.length === 0) return [];
  const channels = await sql<AlertChannelRow[]>`
    select ${channelColumns(sql)} from ratchet.alert_channels where id = any(${rows.map((row) => row.channelId)}::uuid[])`;
  const byId = new Map(channels.map((channel) => [channel.id, channel]));
  return rows.flatMap(({ channelId, ...row }) => {
    const channel = byId.get(channelId);
    return channel ? [{ ...row, channel }] : [];
  });
}

/** Enabled channels that watch queue backlogs, with how long a run may wait. */
export async function alertChannelsWatchingBacklogs(sql: Queryable): Promise<AlertChannelRow[]> {
  return sql<AlertChannelRow[]>`
    select ${channelColumns(sql)} from ratchet.alert_channels where enabled and backlog_minutes is not null`;
}

/** Queues of an environment (not paused) holding runs that have been runnable since before `cutoff`. */
export async function queuesBacklogged(sql: Queryable, environmentId: string, cutoff: Date): Promise<QueueBacklog[]> {
  const rows = await sql<Array<{ queue: string; waiting: number; oldestSince: Date }>>`
    select q.name as queue, count(*)::int as waiting, min(e.available_at) as "oldestSince"
    from ratchet.queue_entries e join ratchet.queues q on q.id = e.queue_id
    where e.environment_id = ${environmentId} and e.available_at < ${cutoff} and not q.paused
    group by q.name order by q.name`;
  return rows.map((row) => ({ ...row, oldestSince: row.oldestSince.toISOString() }));
}

export async function alertDeliveriesInsertBacklog(
  tx: TransactionSql,
  delivery: { channelId: string; environmentId: string; backlog: QueueBacklog; now: Date },
): Promise<void> {
  await tx`
    insert into ratchet.alert_deliveries (channel_id, environment_id, task_identifier, kind, details, run_count, next_attempt_at, created_at)
    values (${delivery.channelId}, ${delivery.environmentId}, ${delivery.backlog.queue}, 'queue_backlog',
      ${tx.json(delivery.backlog as never)}, ${delivery.backlog.waiting}, ${delivery.now}, ${delivery.now})`;
}

/** What a deployment_failed delivery carries. */
export interface DeploymentFailure {
  version: string;
  error: { message: string };
  failedAt: string;
}

/** One delivery per enabled channel of the environment; in the transaction that failed the deployment. */
export async function alertDeliveriesInsertDeploymentFailed(
  tx: TransactionSql,
  delivery: { environmentId: string; failure: DeploymentFailure; now: Date },
): Promise<number> {
  const rows = await tx`
    insert into ratchet.alert_deliveries (channel_id, environment_id, task_identifier, kind, details, next_attempt_at, created_at)
    select c.id, c.environment_id, ${delivery.failure.version}, 'deployment_failed', ${tx.json(delivery.failure as never)}, ${delivery.now}, ${delivery.now}
    from ratchet.alert_channels c
    where c.environment_id = ${delivery.environmentId} and c.enabled
    returning id`;
  return rows.length;
}

export async function alertDeliveriesLatestBacklog(tx: TransactionSql, channelId: string, queue: string): Promise<Date | null> {
  const [row] = await tx<{ createdAt: Date }[]>`
    select created_at as "createdAt" from ratchet.alert_deliveries
    where channel_id = ${channelId} and task_identifier = ${queue} and kind = 'queue_backlog' order by created_at desc limit 1`;
  return row?.createdAt ?? null;
}

export async function alertDeliveriesSettle(
  sql: Sql,
  id: string,
  result: { status: "delivered"; now: Date } | { status: "pending"; nextAttemptAt: Date; error: string } | { status: "failed"; error: string },
): Promise<void> {
  if (result.status === "delivered") {
    await sql`update ratchet.alert_deliveries set status = 'delivered', delivered_at = ${result.now}, last_error = null where id = ${id}`;
  } else if (result.status === "pending") {
    await sql`update ratchet.alert_deliveries set next_attempt_at = ${result.nextAttemptAt}, last_error = ${result.error} where id = ${id}`;
  } else {
    await sql`update ratchet.alert_deliveries set status = 'failed', last_error = ${result.error} where id = ${id}`;
  }
}

export interface DeliveryListRow {
  id: string;
  channelId: string;
  channelName: string;
  channelType: AlertChannelType;
  kind: string;
  taskIdentifier: string;
  runCount: number;
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  nextAttemptAt: Date;
}

export async function alertDeliveriesList(sql: Queryable, environmentId: string, limit: number): Promise<DeliveryListRow[]> {
  return sql<DeliveryListRow[]>`
    select d.id, d.channel_id as "channelId", c.name as "channelName", c.type as "channelType", d.kind,
      d.task_identifier as "taskIdentifier", d.run_count as "runCount", d.status, d.attempts, d.last_error as "lastError",
      d.created_at as "createdAt", d.delivered_at as "deliveredAt", d.next_attempt_at as "nextAttemptAt"
    from ratchet.alert_deliveries d join ratchet.alert_channels c on c.id = d.channel_id
    where d.environment_id = ${environmentId} order by d.created_at desc, d.id limit ${limit}`;
}
