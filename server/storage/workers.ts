// Named queries for worker versions and the tasks they declare.
import type { Sql, TransactionSql } from "../db/client.ts";
import type { RetryPolicy } from "../engine/retry.ts";

type Queryable = Sql | TransactionSql;

/** SQL for the version of an environment's current deployment (null when none was promoted). */
export function currentVersionOf(environmentIdSql: string): string {
  return `select d.version from ratchet.current_deployments c join ratchet.deployments d on d.id = c.deployment_id
    where c.environment_id = ${environmentIdSql}`;
}

export interface TaskRow {
  slug: string;
  queueName: string;
  retry: RetryPolicy | null;
  maxDurationS: number | null;
  machine: string | null;
  ttl: string | null;
  triggerSource: "STANDARD" | "SCHEDULED";
  version: string;
}

export async function workerVersionsNextDevVersion(tx: Queryable, environmentId: string, today: string): Promise<string> {
  const [row] = await tx<{ count: number }[]>`
    select count(*)::int as count from ratchet.worker_versions
    where environment_id = ${environmentId} and version like ${`${today}.%`}`;
  return `${today}.${(row?.count ?? 0) + 1}`;
}

export async function workerVersionsInsert(
  tx: Queryable,
  version: { environmentId: string; version: string; sdkVersion: string | null },
  now: Date,
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    insert into ratchet.worker_versions (environment_id, version, sdk_version, created_at)
    values (${version.environmentId}, ${version.version}, ${version.sdkVersion}, ${now})
    on conflict (environment_id, version) do update set sdk_version = excluded.sdk_version
    returning id`;
  return row!.id;
}

export async function tasksReplaceForVersion(
  tx: Queryable,
  workerVersionId: string,
  environmentId: string,
  tasks: Array<{ slug: string; queueName: string; retry: RetryPolicy | null; maxDurationS: number | null; machine: string | null; ttl: string | null; triggerSource: "STANDARD" | "SCHEDULED"; filePath: string | null; exportName: string | null }>,
): Promise<void> {
  await tx`delete from ratchet.tasks where worker_version_id = ${workerVersionId}`;
  for (const task of tasks) {
    await tx`
      insert into ratchet.tasks (worker_version_id, environment_id, slug, queue_name, retry, max_duration_s, machine, ttl, trigger_source, file_path, export_name)
      values (${workerVersionId}, ${environmentId}, ${task.slug}, ${task.queueName}, ${task.retry === null ? null : tx.json(task.retry)},
        ${task.maxDurationS}, ${task.machine}, ${task.ttl}, ${task.triggerSource}, ${task.filePath}, ${task.exportName})`;
  }
}

/**
 * The task as the version a new run gets declares it, and the id of the queue a run of it goes to, in
 * one query: the requested queue, else the task's own. The version is `version` when given, else with
 * `currentOnly` the environment's current deployment (none promoted: no task), else the newest
 * registered one.
 */
export async function tasksFindCurrentWithQueue(
  tx: Queryable,
  environmentId: string,
  slug: string,
  version: string | null,
  requestedQueue: string | null,
  currentOnly = false,
): Promise<{ task: TaskRow; queueId: string | null } | null> {
  const [row] = await tx<Array<TaskRow & { queueId: string | null }>>`
    select t.*, q.id as "queueId"
    from (
      select t.slug, t.queue_name as "queueName", t.retry, t.max_duration_s as "maxDurationS", t.machine, t.ttl,
        t.trigger_source as "triggerSource", v.version
      from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
      where t.environment_id = ${environmentId} and t.slug = ${slug}
        and v.version = coalesce(${version}::text,
          case when ${currentOnly} then coalesce((${tx.unsafe(currentVersionOf("t.environment_id"))}), '') else v.version end)
      order by v.created_at desc, v.id desc limit 1
    ) t
    left join ratchet.queues q on q.environment_id = ${environmentId} and q.name = coalesce(${requestedQueue}::text, t."queueName")`;
  if (!row) return null;
  const { queueId, ...task } = row;
  return { task, queueId };
}

export async function tasksListCurrent(sql: Sql, environmentId: string): Promise<TaskRow[]> {
  return sql<TaskRow[]>`
    select distinct on (t.slug) t.slug, t.queue_name as "queueName", t.retry, t.max_duration_s as "maxDurationS",
      t.machine, t.ttl, t.trigger_source as "triggerSource", v.version
    from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
    where t.environment_id = ${environmentId}
    order by t.slug, v.created_at desc, v.id desc`;
}
