// Named queries for deployments (versions of an environment's tasks) and the current pointer.
import type { Sql, TransactionSql } from "../db/client.ts";

type Queryable = Sql | TransactionSql;

export type DeploymentStatus = "BUILDING" | "DEPLOYED" | "FAILED";

export interface DeploymentRow {
  id: string;
  environmentId: string;
  version: string;
  shortCode: string;
  status: DeploymentStatus;
  imageReference: string | null;
  contentHash: string | null;
  hasBundle: boolean;
  error: { name?: string; message: string } | null;
  createdAt: Date;
  deployedAt: Date | null;
  failedAt: Date | null;
  isCurrent: boolean;
  promotedAt: Date | null;
  /** The task ids the version registered (empty until a worker or the deploy registered them). */
  tasks: string[];
}

const deploymentColumns = `d.id, d.environment_id as "environmentId", d.version, d.short_code as "shortCode", d.status,
  d.image_reference as "imageReference", d.content_hash as "contentHash", d.bundle is not null as "hasBundle", d.error,
  d.created_at as "createdAt", d.deployed_at as "deployedAt", d.failed_at as "failedAt",
  c.deployment_id is not null as "isCurrent", c.promoted_at as "promotedAt",
  coalesce((select array_agg(t.slug order by t.slug) from ratchet.tasks t join ratchet.worker_versions v on v.id = t.worker_version_id
    where v.environment_id = d.environment_id and v.version = d.version), '{}') as tasks`;

const fromDeployments = `ratchet.deployments d
  left join ratchet.current_deployments c on c.environment_id = d.environment_id and c.deployment_id = d.id`;

export async function deploymentsFindByVersion(tx: Queryable, environmentId: string, version: string): Promise<DeploymentRow | null> {
  const [row] = await tx<DeploymentRow[]>`
    select ${tx.unsafe(deploymentColumns)} from ${tx.unsafe(fromDeployments)}
    where d.environment_id = ${environmentId} and d.version = ${version}`;
  return row ?? null;
}

export async function deploymentsFindCurrent(tx: Queryable, environmentId: string): Promise<DeploymentRow | null> {
  const [row] = await tx<DeploymentRow[]>`
    select ${tx.unsafe(deploymentColumns)} from ${tx.unsafe(fromDeployments)}
    where d.environment_id = ${environmentId} and c.deployment_id is not null`;
  return row ?? null;
}

/** Newest first, keyset-paginated on (created_at, id) after the deployment `afterId`. */
export async function deploymentsList(
  sql: Queryable,
  environmentId: string,
  options: { status?: DeploymentStatus; afterId?: string; limit: number; from?: Date; to?: Date },
): Promise<DeploymentRow[]> {
  return sql<DeploymentRow[]>`
    select ${sql.unsafe(deploymentColumns)} from ${sql.unsafe(fromDeployments)}
    where d.environment_id = ${environmentId}
      and (${options.status ?? null}::text is null or d.status = ${options.status ?? null})
      and (${options.from ?? null}::timestamptz is null or d.created_at >= ${options.from ?? null})
      and (${options.to ?? null}::timestamptz is null or d.created_at <= ${options.to ?? null})
      and (${options.afterId ?? null}::uuid is null or (d.created_at, d.id) < (
        select a.created_at, a.id from ratchet.deployments a where a.id = ${options.afterId ?? null} and a.environment_id = ${environmentId}))
    order by d.created_at desc, d.id desc
    limit ${options.limit}`;
}

/** Creates the deployment of a version unless it exists; returns whether it was created. */
export async function deploymentsCreate(
  tx: Queryable,
  deployment: {
    environmentId: string;
    version: string;
    shortCode: string;
    status: DeploymentStatus;
    imageReference: string | null;
    bundle: Uint8Array | null;
    contentHash: string | null;
  },
  now: Date,
): Promise<boolean> {
  const rows = await tx`
    insert into ratchet.deployments (environment_id, version, short_code, status, image_reference, bundle, content_hash, created_at, deployed_at)
    values (${deployment.environmentId}, ${deployment.version}, ${deployment.shortCode}, ${deployment.status}, ${deployment.imageReference},
      ${deployment.bundle === null ? null : Buffer.from(deployment.bundle)}, ${deployment.contentHash}, ${now},
      ${deployment.status === "DEPLOYED" ? now : null})
    on conflict (environment_id, version) do nothing
    returning id`;
  return rows.length > 0;
}

/** A BUILDING deployment becomes DEPLOYED (with its image, when built) or FAILED; false when it was not BUILDING. */
export async function deploymentsFinish(
  tx: Queryable,
  environmentId: string,
  version: string,
  outcome: { status: "DEPLOYED"; imageReference: string | null } | { status: "FAILED"; error: { message: string } },
  now: Date,
): Promise<boolean> {
  const rows =
    outcome.status === "DEPLOYED"
      ? await tx`update ratchet.deployments set status = 'DEPLOYED', deployed_at = ${now},
          image_reference = coalesce(${outcome.imageReference}, image_reference)
        where environment_id = ${environmentId} and version = ${version} and status = 'BUILDING' returning id`
      : await tx`update ratchet.deployments set status = 'FAILED', failed_at = ${now}, error = ${tx.json(outcome.error)}
        where environment_id = ${environmentId} and version = ${version} and status = 'BUILDING' returning id`;
  return rows.length > 0;
}

/** Makes the deployment the environment's current one. */
export async function deploymentsPromote(tx: Queryable, environmentId: string, deploymentId: string, now: Date): Promise<void> {
  await tx`
    insert into ratchet.current_deployments (environment_id, deployment_id, promoted_at)
    values (${environmentId}, ${deploymentId}, ${now})
    on conflict (environment_id) do update set deployment_id = excluded.deployment_id, promoted_at = excluded.promoted_at`;
}

/** The newest DEPLOYED deployment created before `before`: what a rollback goes back to. */
export async function deploymentsFindPreviousDeployed(tx: Queryable, environmentId: string, before: { createdAt: Date; id: string }): Promise<DeploymentRow | null> {
  const [row] = await tx<DeploymentRow[]>`
    select ${tx.unsafe(deploymentColumns)} from ${tx.unsafe(fromDeployments)}
    where d.environment_id = ${environmentId} and d.status = 'DEPLOYED' and (d.created_at, d.id) < (${before.createdAt}, ${before.id}::uuid)
    order by d.created_at desc, d.id desc limit 1`;
  return row ?? null;
}

/** The version of the environment already deployed with this exact code, if any. */
export async function deploymentsVersionWithContent(tx: Queryable, environmentId: string, contentHash: string): Promise<string | null> {
  const [row] = await tx<{ version: string }[]>`
    select version from ratchet.deployments
    where environment_id = ${environmentId} and content_hash = ${contentHash} and status = 'DEPLOYED'
    order by created_at desc, id desc limit 1`;
  return row?.version ?? null;
}

/** Serializes registrations of one environment, so replicas starting with the same code agree on its version. */
export async function deploymentsLockEnvironment(tx: Queryable, environmentId: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`ratchet.deployments:${environmentId}`}, 0))`;
}

export async function deploymentsBundle(sql: Queryable, environmentId: string, version: string): Promise<Buffer | null> {
  const [row] = await sql<{ bundle: Buffer | null }[]>`
    select bundle from ratchet.deployments where environment_id = ${environmentId} and version = ${version}`;
  return row?.bundle ?? null;
}
