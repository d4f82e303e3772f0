// `ratchet dev` (watch the task files, register a new version on every change) and `ratchet worker`
// (the same runtime for staging and production, without the watcher).
import { createHash, randomBytes } from "node:crypto";
import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { apiRequest } from "../sdk/api-client.ts";
import { configure } from "../sdk/config.ts";
import { createRunnerPool } from "./runner.ts";
import { bundleTasks } from "./bundle.ts";
import { deployedVersion } from "./deployed-version.ts";
import { WorkerController, type RunReport, type WorkerVersion } from "./controller.ts";
import { indexBundle } from "./indexer.ts";
import { findTaskFiles, loadProject, type Project } from "./project.ts";

export class WorkerUsageError extends Error {
  override name = "WorkerUsageError";
}

const marks: Record<string, string> = { COMPLETED: "✓", FAILED: "✗", CRASHED: "✗", TIMED_OUT: "✗", SYSTEM_FAILURE: "✗", CANCELED: "⊘", RETRYING: "↻", QUEUED: "↻" };

function reportLine(report: RunReport, apiUrl: string): string {
  const mark = marks[report.status] ?? "·";
  return `  ${mark} ${report.status.padEnd(9)} ${report.taskIdentifier}  ${report.runId}  attempt ${report.attemptNumber}  ${report.durationMs} ms  ${apiUrl}/runs/${report.runId}`;
}

async function buildVersion(project: Project, env: NodeJS.ProcessEnv, deployment?: string): Promise<WorkerVersion & { taskCount: number }> {
  if (deployment) return deployedVersion(project, env, deployment);
  const files = await findTaskFiles(project.dirs);
  if (files.length === 0) throw new WorkerUsageError(`No task files in ${project.dirs.join(", ")}`);
  const bundle = await bundleTasks(project.root, files, join(project.root, ".ratchet", "build"));
  const manifest = await indexBundle(bundle, project.config, env);
  // The same code registers as the same version, so replicas of this worker serve the same pinned runs.
  const contentHash = createHash("sha256").update(await readFile(fileURLToPath(bundle))).digest("hex");
  const registered = await apiRequest<{ version: string }>("POST", "/engine/v1/worker/register", {
    body: { tasks: manifest.tasks, queues: manifest.queues.filter((queue) => queue.name), contentHash },
  });
  return { version: registered.version, bundle, pool: await createRunnerPool(env, { projectRoot: project.root }), taskCount: manifest.tasks.length };
}

export async function workerCommand(mode: "dev" | "worker", args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      concurrency: { type: "string" },
      "api-url": { type: "string" },
      "shutdown-grace": { type: "string" },
      // Run a version `ratchet deploy` stored, serving only the runs pinned to it.
      deployment: { type: "string" },
    },
  });
  const env = process.env;
  const apiUrl = (values["api-url"] ?? env.RATCHET_API_URL ?? env.TRIGGER_API_URL ?? (mode === "dev" ? "http://localhost:3030" : undefined))?.replace(/\/$/, "");
  const key = env.RATCHET_SECRET_KEY ?? env.TRIGGER_SECRET_KEY;
  if (!apiUrl) throw new WorkerUsageError("Set RATCHET_API_URL (or TRIGGER_API_URL) to the Ratchet server's URL.");
  if (!key) throw new WorkerUsageError("Set RATCHET_SECRET_KEY (or TRIGGER_SECRET_KEY). Create one with `npx ratchet keys create --env dev`.");
  configure({ baseURL: apiUrl, accessToken: key });

  const whoami = await apiRequest<{ project: { ref: string }; environment: { id: string; slug: string; type: string } }>("GET", "/api/v1/whoami");
  const project = await loadProject(process.cwd(), values.config);
  const concurrency = Number(values.concurrency ?? project.config.concurrency ?? 10);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new WorkerUsageError("--concurrency must be a positive integer");
  const childEnv = { ...env, RATCHET_API_URL: apiUrl, RATCHET_SECRET_KEY: key };
  const log = (message: string) => console.error(`[ratchet ${mode}] ${message}`);

  const controller = new WorkerController({
    workerId: `${mode}-${randomBytes(6).toString("hex")}`,
    concurrency,
    environment: whoami.environment,
    projectRef: whoami.project.ref,
    waitInProcessMs: project.config.waitInProcessMs,
    onRunReport: (report) => console.log(reportLine(report, apiUrl)),
    log,
  });
  if (mode === "dev" && values.deployment) throw new WorkerUsageError("--deployment is for `ratchet worker`; `ratchet dev` runs the files as they are.");
  const first = await buildVersion(project, childEnv, values.deployment);
  controller.setVersion(first);
  controller.start();
  console.log(`Ratchet ${mode}: ${first.taskCount} tasks registered as version ${first.version} in ${whoami.environment.type} (${whoami.project.ref}); running up to ${concurrency} at once.`);

  const watchers: Array<{ close(): void }> = [];
  if (mode === "dev") {
    let timer: NodeJS.Timeout | null = null;
    let building = Promise.resolve();
    const rebuild = () => {
      building = building.then(async () => {
        try {
          const next = await buildVersion(project, childEnv);
          controller.setVersion(next);
          console.log(`Ratchet dev: files changed; ${next.taskCount} tasks registered as version ${next.version}.`);
        } catch (error) {
          log(`the new code was not registered (the previous version keeps running): ${(error as Error).message}`);
        }
      });
    };
    for (const dir of project.dirs) {
      watchers.push(
        watch(dir, { recursive: true }, () => {
          if (timer) clearTimeout(timer);
          timer = setTimeout(rebuild, 150);
        }),
      );
    }
    console.log(`Watching ${project.dirs.join(", ")} for changes.`);
  }

  const graceMs = Number(values["shutdown-grace"] ?? 30) * 1000;
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      signals += 1;
      if (signals > 1) process.exit(1);
      for (const watcher of watchers) watcher.close();
      log(`stopping: finishing ${controller.inFlight} runs in hand (up to ${graceMs / 1000} s), then handing back the rest`);
      controller.stop(graceMs).then(resolve, (error: unknown) => {
        log(`stop failed: ${(error as Error).message}`);
        resolve();
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return 0;
}
