// Deployments: versions of an environment's tasks, built (BUILDING), ready (DEPLOYED) or FAILED, and
// the current one, which new runs are pinned to outside dev. See docs/deployments.md.
import type { TransactionSql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";
import { ApiError } from "../errors.ts";
import { randomString } from "../ids.ts";
import {
  deploymentsCreate,
  deploymentsFindByVersion,
  deploymentsFindCurrent,
  deploymentsFindPreviousDeployed,
  deploymentsFinish,
  deploymentsPromote,
  type DeploymentRow,
} from "../storage/deployments.ts";
import { runsPromotePendingVersion } from "../storage/sweeps.ts";
import { alertDeliveriesInsertDeploymentFailed } from "../storage/alerts.ts";
import type { EngineDeps } from "./trigger.ts";

export interface DeploymentEnvironment {
  environmentId: string;
  environmentType: EnvironmentType;
}

/** Whether runs of the environment are pinned to the version they were triggered on. */
export const pinsRuns = (type: EnvironmentType) => type !== "dev";

export const newShortCode = () => randomString(8, "abcdefghijklmnopqrstuvwxyz0123456789");

/**
 * What registering a version does to deployments, inside the registration's transaction: a version
 * nobody deployed (a worker started by hand) becomes a DEPLOYED deployment; it becomes current in dev
 * always, elsewhere when it is new and the worker did not ask otherwise (`promote: false`). A version
 * `ratchet deploy` created stays as it is until finished and promoted. Returns whether it was promoted.
 */
export async function deploymentForRegisteredVersion(
  tx: TransactionSql,
  environment: DeploymentEnvironment,
  version: string,
  promote: boolean | undefined,
  contentHash: string | null,
  now: Date,
): Promise<boolean> {
  const created = await deploymentsCreate(
    tx,
    { environmentId: environment.environmentId, version, shortCode: newShortCode(), status: "DEPLOYED", imageReference: null, bundle: null, contentHash },
    now,
  );
  const wanted = !pinsRuns(environment.environmentType) || (promote ?? created);
  if (!wanted) return false;
  const deployment = (await deploymentsFindByVersion(tx, environment.environmentId, version))!;
  if (deployment.status !== "DEPLOYED") return false;
  if (!deployment.isCurrent) await deploymentsPromote(tx, environment.environmentId, deployment.id, now);
  return true;
}

/** Starts a deployment (`ratchet deploy`): BUILDING until finished, or DEPLOYED at once with a bundle. */
export async function createDeployment(
  deps: EngineDeps,
  environment: DeploymentEnvironment,
  request: { version: string; bundle: Uint8Array | null; contentHash: string | null; imageReference: string | null; ready: boolean },
): Promise<DeploymentRow> {
  const now = deps.clock.now();
  return deps.db.sql.begin(async (tx: TransactionSql) => {
    const created = await deploymentsCreate(
      tx,
      {
        environmentId: environment.environmentId,
        version: request.version,
        shortCode: newShortCode(),
        status: request.ready ? "DEPLOYED" : "BUILDING",
        imageReference: request.imageReference,
        bundle: request.bundle,
        contentHash: request.contentHash,
      },
      now,
    );
    if (!created) throw new ApiError("CONFLICT", `Version ${request.version} is already deployed in this environment; deploy a new version`);
    return (await deploymentsFindByVersion(tx, environment.environmentId, request.version))!;
  });
}

export async function finishDeployment(
  deps: EngineDeps,
  environment: DeploymentEnvironment,
  version: string,
  outcome: { status: "DEPLOYED"; imageReference: string | null } | { status: "FAILED"; error: { message: string } },
): Promise<DeploymentRow> {
  const now = deps.clock.now();
  return deps.db.sql.begin(async (tx: TransactionSql) => {
    const existing = await deploymentsFindByVersion(tx, environment.environmentId, version);
    if (!existing) throw new ApiError("NOT_FOUND", `No deployment of version ${version}`);
    if (!(await deploymentsFinish(tx, environment.environmentId, version, outcome, now))) {
      throw new ApiError("CONFLICT", `Deployment ${version} is ${existing.status}, not BUILDING`);
    }
    if (outcome.status === "FAILED") {
      await alertDeliveriesInsertDeploymentFailed(tx, {
        environmentId: environment.environmentId,
        failure: { version, error: outcome.error, failedAt: now.toISOString() },
        now,
      });
    }
    return (await deploymentsFindByVersion(tx, environment.environmentId, version))!;
  });
}

/**
 * Makes a DEPLOYED version current: runs triggered from now on are pinned to it, runs already pinned
 * stay where they are, and runs that waited for a version (PENDING_VERSION) are queued on it.
 */
export async function promoteDeployment(deps: EngineDeps, environment: DeploymentEnvironment, version: string): Promise<DeploymentRow> {
  const now = deps.clock.now();
  const result = await deps.db.sql.begin(async (tx: TransactionSql) => {
    const deployment = await deploymentsFindByVersion(tx, environment.environmentId, version);
    if (!deployment) throw new ApiError("NOT_FOUND", `No deployment of version ${version}`);
    if (deployment.status !== "DEPLOYED") {
      throw new ApiError("UNPROCESSABLE", `Deployment ${version} is ${deployment.status}; only a DEPLOYED version can be promoted`);
    }
    if (deployment.tasks.length === 0) {
      throw new ApiError("UNPROCESSABLE", `Deployment ${version} has registered no tasks yet; start its worker first`);
    }
    await deploymentsPromote(tx, environment.environmentId, deployment.id, now);
    const queued = await runsPromotePendingVersion(tx, environment.environmentId, now, pinsRuns(environment.environmentType));
    return { deployment: { ...deployment, isCurrent: true, promotedAt: now }, queued };
  });
  if (result.queued > 0) deps.notifier.queueChanged(environment.environmentId);
  return result.deployment;
}

/** Promotes the DEPLOYED version before the current one. */
export async function rollbackDeployment(deps: EngineDeps, environment: DeploymentEnvironment): Promise<DeploymentRow> {
  const current = await deploymentsFindCurrent(deps.db.sql, environment.environmentId);
  if (!current) throw new ApiError("NOT_FOUND", "No deployment is current in this environment");
  const previous = await deploymentsFindPreviousDeployed(deps.db.sql, environment.environmentId, current);
  if (!previous) throw new ApiError("NOT_FOUND", `No DEPLOYED version before ${current.version} to roll back to`);
  return promoteDeployment(deps, environment, previous.version);
}
