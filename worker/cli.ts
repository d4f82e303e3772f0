// `ratchet dev` (watch the task files, register a new version on every change) and `ratchet worker`
// (the same runtime for staging and production, without the watcher).
import { createHash, randomBytes } from "node:crypto";
import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveServerUrl } from "../server/cli/server-url.ts";
import { onStopSignals } from "../server/stop-signals.ts";
import { ApiError, apiRequest } from "../sdk/api-client.ts";
import { configure } from "../sdk/config.ts";
import { createRunnerPool, maxContainers, runnerKind } from "./runner.ts";
import { bundleTasks, describeBuildFailure } from "./bundle.ts";
import { deployedVersion } from "./deployed-version.ts";
import { WorkerController, type RunReport, type WorkerVersion } from "./controller.ts";
import { indexBundle, summarizeStack } from "./indexer.ts";
import { findTaskFiles, loadProject, ProjectError, type Project } from "./project.ts";
import { loadDotenvFiles } from "./dotenv.ts";
import { checkKey } from "./check-key.ts";
import { WorkerUsageError } from "./worker-usage-error.ts";

export { WorkerUsageError };

export interface WorkerOptions {
  config?: string;
  concurrency?: string;
  apiUrl?: string;
  shutdownGrace?: string;
  env?: string;
  /** Run a version `ratchet deploy` stored, serving only the runs pinned to it. */
  deployment?: string;
}

const marks: Record<string, string> = { COMPLETED: "✓", FAILED: "✗", CRASHED: "✗", TIMED_OUT: "✗", SYSTEM_FAILURE: "✗", CANCELED: "⊘", RETRYING: "↻", QUEUED: "↻", WAITING: "…" };

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

async function buildVersion(project: Project, env: NodeJS.ProcessEnv, mode: "dev" | "worker", deployment?: string): Promise<WorkerVersion & { taskCount: number }> {
  if (deployment) return deployedVersion(project, env, deployment);
  const files = await findTaskFiles(project.dirs);
  if (files.length === 0) throw new ProjectError(`There are no task files in ${project.dirs.map((dir) => relative(process.cwd(), dir) || ".").join(", ")}: add one (see \`npx ratchet init\`).`);
  let bundle: string;
  try {
    bundle = await bundleTasks(project.root, files, join(project.root, ".ratchet", "build"));
  } catch (error) {
    throw new ProjectError(`A task file does not compile: ${describeBuildFailure(error, project.root)}. Fix it and save again.`);
  }
  const manifest = await indexBundle(bundle, project.config, env);
  // The same code registers as the same version, so replicas of this worker serve the same pinned runs.
  const contentHash = createHash("sha256").update(await readFile(fileURLToPath(bundle))).digest("hex");
  let registered: { version: string };
  try {
    registered = await apiRequest<{ version: string }>("POST", "/engine/v1/worker/register", {
      body: { tasks: manifest.tasks, queues: manifest.queues.filter((queue) => queue.name), contentHash },
      maxAttempts: 2,
    });
  } catch (error) {
    if (error instanceof ApiError && error.status < 500) throw new ProjectError(`The server refused the tasks: ${error.message}. Fix the task definitions and save again.`);
    throw error;
  }
  // `ratchet dev` reads the project's .env and .env.local again with every build, as `trigger dev` does.
  const local = mode === "dev" ? await loadDotenvFiles(project.root) : {};
  const attemptEnv = project.configBundle && project.config.instrumentations?.length ? { ...env, RATCHET_CONFIG_BUNDLE: project.configBundle } : env;
  return { version: registered.version, bundle, pool: await createRunnerPool(attemptEnv, { projectRoot: project.root, local }), taskCount: manifest.tasks.length };
}

export async function workerCommand(mode: "dev" | "worker", options: WorkerOptions): Promise<number> {
  const env = process.env;
  // Until runs can be in hand, a stop signal simply ends the command.
  let onStop: (count: number) => void = () => process.exit(0);
  onStopSignals((count) => onStop(count));
  const server = await resolveServerUrl(options.apiUrl, { fallback: mode === "dev" });
  if (!server) throw new WorkerUsageError("ratchet worker needs the server's URL: pass --api-url or set RATCHET_API_URL (or TRIGGER_API_URL).");
  const apiUrl = server.url;
  const keyName = env.RATCHET_SECRET_KEY ? "RATCHET_SECRET_KEY" : "TRIGGER_SECRET_KEY";
  const key = env.RATCHET_SECRET_KEY || env.TRIGGER_SECRET_KEY;
  if (!key) {
    throw new WorkerUsageError(
      `Set RATCHET_SECRET_KEY (or TRIGGER_SECRET_KEY) to a secret key of the server at ${apiUrl}: create one on its dashboard's API keys page, or with \`npx ratchet keys create --env dev\`.`,
    );
  }
  configure({ baseURL: apiUrl, accessToken: key });

  const whoami = await checkKey(apiUrl, server.source, keyName);
  const environmentType = whoami.environment.type;
  if (options.env !== undefined && options.env !== environmentType) {
    throw new WorkerUsageError(`${keyName} is a key of the ${environmentType} environment, not ${options.env}: use a ${options.env} key, or drop --env.`);
  }
  if (mode === "dev" && environmentType !== "dev" && options.env !== environmentType) {
    throw new WorkerUsageError(
      `${keyName} is a key of the ${environmentType} environment: ratchet dev runs against dev. Use a dev key, or pass --env ${environmentType} if you mean to run this folder's code there.`,
    );
  }
  const project = await loadProject(process.cwd(), options.config);
  const asked = Number(options.concurrency ?? project.config.concurrency ?? 10);
  if (!Number.isInteger(asked) || asked < 1) throw new WorkerUsageError("--concurrency must be a positive whole number, such as --concurrency 10.");
  // The Docker runner's per-host cap bounds how many containers this worker runs at once.
  const cap = runnerKind(env) === "docker" ? maxContainers(env) : null;
  const concurrency = cap === null ? asked : Math.min(asked, cap);
  const graceSeconds = Number(options.shutdownGrace ?? 30);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new WorkerUsageError("--shutdown-grace must be a number of seconds, such as --shutdown-grace 30.");
  const childEnv = { ...env, RATCHET_API_URL: apiUrl, RATCHET_SECRET_KEY: key };
  const log = (message: string) => console.error(`[ratchet ${mode}] ${message}`);
  const runLink = (runId: string) => `${apiUrl}/p/${whoami.project.ref}/${environmentType}/runs/${runId}`;

  const controller = new WorkerController({
    workerId: `${mode}-${randomBytes(6).toString("hex")}`,
    concurrency,
    environment: whoami.environment,
    projectRef: whoami.project.ref,
    waitInProcessMs: project.config.waitInProcessMs,
    onRunStart: (run) => console.log(`${clock()}  ▸ STARTED   ${run.taskIdentifier}  ${run.runId}  attempt ${run.attemptNumber}`),
    onRunReport: (report: RunReport) => {
      console.log(
        `${clock()}  ${marks[report.status] ?? "·"} ${report.status.padEnd(9)} ${report.taskIdentifier}  ${report.runId}  attempt ${report.attemptNumber}  ${duration(report.durationMs)}  ${runLink(report.runId)}`,
      );
      // Where it failed, in the task file (the stack is source-mapped): the whole stack is on the run's page.
      if (report.error) console.log(`            ${summarizeStack(report.error.stackTrace ?? `Error: ${report.error.message}`)}`);
    },
    log,
  });
  if (mode === "dev" && options.deployment) throw new WorkerUsageError("--deployment is for `ratchet worker`; `ratchet dev` runs the files as they are.");
  const first = await buildVersion(project, childEnv, mode, options.deployment);
  controller.setVersion(first);
  controller.start();
  console.log(`Ratchet ${mode}: ${first.taskCount} tasks registered as version ${first.version} in ${environmentType} (${whoami.project.ref}); running up to ${concurrency} at once.`);
  console.log(`Runs: ${apiUrl}/p/${whoami.project.ref}/${environmentType}/runs`);

  const watchers: Array<{ close(): void }> = [];
  if (mode === "dev") {
    let timer: NodeJS.Timeout | null = null;
    let building = Promise.resolve();
    const rebuild = () => {
      building = building.then(async () => {
        try {
          const next = await buildVersion(project, childEnv, mode);
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
    console.log(`Watching ${project.dirs.map((dir) => relative(process.cwd(), dir) || ".").join(", ")} for changes. Ctrl-C stops (a second Ctrl-C stops at once).`);
  }

  const graceMs = graceSeconds * 1000;
  await new Promise<void>((resolve) => {
    onStop = (count) => {
      if (count > 1) {
        log("second signal: stopping now");
        process.exit(1);
      }
      for (const watcher of watchers) watcher.close();
      log(`stopping: finishing ${controller.inFlight} runs in hand (up to ${graceMs / 1000} s), then handing back the rest`);
      controller.stop(graceMs).then(resolve, (error: unknown) => {
        log(`stop failed: ${(error as Error).message}`);
        resolve();
      });
    };
  });
  return 0;
}
