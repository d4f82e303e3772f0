// What GET /api/v1/query/schema says about each ratchet_api view beyond its columns and types
// (which come from the database). Column names follow Trigger.dev's query schema where it has one.
import type { queryableViews } from "./sql-guard.ts";

interface ViewDescription {
  description: string;
  timeColumn?: string;
  columns: Record<string, string>;
}

export const viewDescriptions: Record<(typeof queryableViews)[number], ViewDescription> = {
  runs: {
    description: "Task runs: one row per run, with its timing, outcome and tags",
    timeColumn: "triggered_at",
    columns: {
      run_id: "The run's id, as the API shows it (run_…)",
      environment: "The environment's slug",
      project: "The project's reference (proj_…)",
      status: "Run status, as Trigger.dev's friendly names (Queued, Executing, Completed, Failed, …)",
      is_finished: "Whether the run reached a final status",
      attempt_count: "Attempts started so far",
      triggered_at: "When the run was triggered",
      executed_at: "When its first attempt started",
      completed_at: "When it reached a final status",
      execution_duration: "Milliseconds from executed_at to completed_at",
      total_duration: "Milliseconds from triggered_at to completed_at",
      queued_duration: "Milliseconds from queued_at to executed_at",
      task_version: "The worker version that ran it",
      max_duration: "Maximum compute duration in seconds",
    },
  },
  attempts: {
    description: "Attempts: one row per attempt of a run",
    timeColumn: "created_at",
    columns: { duration: "Milliseconds from started_at to completed_at" },
  },
  events: {
    description: "Run events: logs and spans a run's attempts recorded",
    timeColumn: "time",
    columns: { kind: "log or span", duration_ms: "A span's duration" },
  },
  batches: { description: "Batches of runs triggered together", timeColumn: "created_at", columns: {} },
  waitpoints: { description: "Waitpoints: tokens, delays and child-run waits", timeColumn: "created_at", columns: {} },
  schedules: { description: "Cron schedules", timeColumn: "created_at", columns: {} },
  queues: { description: "Queues and their concurrency settings", timeColumn: "created_at", columns: {} },
  tasks: { description: "Tasks, one row per task of each deployed worker version", timeColumn: "created_at", columns: {} },
};
