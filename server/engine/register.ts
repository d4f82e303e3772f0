// A worker registers the tasks it can run (a "version"): their queues and limits, retry policies
// and durations. Runs that were waiting for such a version are queued.
import type { TransactionSql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";
import { queuesUpsertFromManifest } from "../storage/queues.ts";
import { runsPromotePendingVersion } from "../storage/sweeps.ts";
import { tasksReplaceForVersion, workerVersionsInsert, workerVersionsNextDevVersion } from "../storage/workers.ts";
import { deploymentsLockEnvironment, deploymentsVersionWithContent } from "../storage/deployments.ts";
import { deploymentForRegisteredVersion, pinsRuns } from "./deployments.ts";
import { storedDurationText } from "./durations.ts";
import type { RetryPolicy } from "./retry.ts";
import { storedMaxDurationSeconds, type EngineDeps } from "./trigger.ts";
import { syncDeclarativeSchedules } from "./schedules.ts";

export interface TaskManifest {
  id: string;
  queue?: { name?: string; concurrencyLimit?: number | null };
  retry?: RetryPolicy;
  maxDuration?: number;
  machine?: string;
  ttl?: string | number;
  triggerSource?: "STANDARD" | "SCHEDULED";
  filePath?: string;
  exportName?: string;
  /** schedules.task(): the cron it runs on. */
  schedule?: { cron: string; timezone?: string; window?: string };
}

export interface WorkerManifest {
  version?: string;
  /** Outside dev, whether this version becomes current (default: when nobody deployed it before). */
  promote?: boolean;
  /** A hash of the worker's code: without a version, workers with the same code share one. */
  contentHash?: string;
  sdkVersion?: string;
  tasks: TaskManifest[];
  queues?: Array<{ name: string; concurrencyLimit?: number | null }>;
}

export async function registerWorkerVersion(
  deps: EngineDeps,
  environment: { environmentId: string; environmentType: EnvironmentType; projectId: string },
  manifest: WorkerManifest,
): Promise<{ version: string; promoted: number; current: boolean }> {
  const now = deps.clock.now();
  const result = await deps.db.sql.begin(async (tx: TransactionSql) => {
    const day = now.toISOString().slice(0, 10).replaceAll("-", "");
    await deploymentsLockEnvironment(tx, environment.environmentId);
    // Replicas of a worker started by hand with the same code register the same version, so they
    // serve the same pinned runs.
    // (Not in dev, where the version registered last is the one that runs.)
    const sameCode = manifest.version === undefined && manifest.contentHash && pinsRuns(environment.environmentType) ? await deploymentsVersionWithContent(tx, environment.environmentId, manifest.contentHash) : null;
    const version = manifest.version ?? sameCode ?? (await workerVersionsNextDevVersion(tx, environment.environmentId, day));
    const versionId = await workerVersionsInsert(tx, { environmentId: environment.environmentId, version, sdkVersion: manifest.sdkVersion ?? null }, now);
    for (const queue of manifest.queues ?? []) {
      await queuesUpsertFromManifest(tx, { environmentId: environment.environmentId, name: queue.name, type: "custom", concurrencyLimit: queue.concurrencyLimit ?? null }, now);
    }
    const tasks = [];
    for (const task of manifest.tasks) {
      const queueName = task.queue?.name ?? `task/${task.id}`;
      const declared = manifest.queues?.some((queue) => queue.name === queueName);
      if (!declared) {
        await queuesUpsertFromManifest(
          tx,
          {
            environmentId: environment.environmentId,
            name: queueName,
            type: task.queue?.name ? "custom" : "task",
            concurrencyLimit: task.queue?.concurrencyLimit ?? null,
          },
          now,
        );
      }
      tasks.push({
        slug: task.id,
        queueName,
        retry: task.retry ?? null,
        maxDurationS: storedMaxDurationSeconds(task.maxDuration),
        machine: task.machine ?? null,
        ttl: task.ttl === undefined ? null : storedDurationText(task.ttl),
        triggerSource: task.schedule ? "SCHEDULED" : (task.triggerSource ?? "STANDARD"),
        filePath: task.filePath ?? null,
        exportName: task.exportName ?? null,
      });
    }
    await tasksReplaceForVersion(tx, versionId, environment.environmentId, tasks);
    await syncDeclarativeSchedules(
      tx,
      environment,
      manifest.tasks
        .filter((task) => task.schedule)
        .map((task) => ({ id: task.id, cron: task.schedule!.cron, timezone: task.schedule!.timezone ?? "UTC", window: task.schedule!.window })),
      now,
    );
    const current = await deploymentForRegisteredVersion(tx, environment, version, manifest.promote, manifest.contentHash ?? null, now);
    // Outside dev a version that is not current serves only the runs pinned to it.
    const promoted = current ? await runsPromotePendingVersion(tx, environment.environmentId, now, pinsRuns(environment.environmentType)) : 0;
    return { version, promoted, current };
  });
  if (result.promoted > 0) deps.notifier.queueChanged(environment.environmentId);
  return result;
}
