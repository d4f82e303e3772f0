// What a worker tells the server it can run: built from the task registry after loading the bundle.
import type { ProjectConfig } from "../sdk/project-config.ts";
import type { AnyTaskOptions, Queue, RetryOptions } from "../sdk/task.ts";
import { declaredSchedule } from "../sdk/schedules.ts";

export interface TaskManifest {
  id: string;
  queue?: { name?: string; concurrencyLimit?: number };
  retry?: RetryOptions;
  maxDuration?: number;
  machine?: string;
  ttl?: string | number;
  filePath?: string;
  exportName?: string;
  schedule?: { cron: string; timezone: string; window?: string };
}

export function taskManifest(options: AnyTaskOptions, config: ProjectConfig, location?: { filePath: string; exportName: string }): TaskManifest {
  const queue = options.queue as (Queue & { name?: string }) | undefined;
  const machine = typeof options.machine === "string" ? options.machine : options.machine?.preset;
  return {
    id: options.id,
    queue: queue ? { name: queue.name, concurrencyLimit: queue.concurrencyLimit } : undefined,
    retry: options.retry ?? config.retries?.default,
    maxDuration: options.maxDuration ?? config.maxDuration,
    machine,
    ttl: options.ttl,
    filePath: location?.filePath,
    exportName: location?.exportName,
    schedule: declaredSchedule(options),
  };
}
