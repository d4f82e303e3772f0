// `ratchet runner`: a process beside a (possibly remote) Docker daemon that runs deployed versions.
// It needs no project folder: it lists the environment's DEPLOYED versions that have an image,
// serves the runs pinned to each of them through the worker protocol (one dequeue names them all),
// and runs every attempt in a container of its version's image, at most --max-containers at once.
// New deployments are picked up as they appear; old versions stay served for their waiting runs.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { resolveServerUrl } from "../server/cli/server-url.ts";
import { onStopSignals } from "../server/stop-signals.ts";
import { apiRequest } from "../sdk/api-client.ts";
import { configure } from "../sdk/config.ts";
import { checkKey } from "./check-key.ts";
import { WorkerUsageError } from "./worker-usage-error.ts";
import { WorkerController, type WorkerVersion } from "./controller.ts";
import { dockerClient, dockerReachable } from "./docker-client.ts";
import { maxContainers } from "./runner.ts";
import { DockerRunnerPool } from "./runners/docker.ts";

export interface RunnerOptions {
  apiUrl?: string;
  dockerHost?: string;
  maxContainers?: string;
  env?: string;
  shutdownGrace?: string;
  refreshSeconds?: string;
}

interface DeploymentItem {
  version: string;
  status: string;
  imageReference?: string | null;
  isCurrent?: boolean;
}

export const defaultMaxContainers = 10;

/** Every DEPLOYED version of the environment with an image, current first. */
async function deployedImages(): Promise<DeploymentItem[]> {
  const found: DeploymentItem[] = [];
  let after: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ status: "DEPLOYED", "page[size]": "100", ...(after ? { "page[after]": after } : {}) });
    const page = await apiRequest<{ data: DeploymentItem[]; pagination: { next?: string } }>("GET", `/api/v1/deployments?${query}`);
    found.push(...page.data.filter((item) => item.imageReference));
    if (!page.pagination.next) break;
    after = page.pagination.next;
  }
  return found.sort((a, b) => Number(b.isCurrent ?? false) - Number(a.isCurrent ?? false));
}

export async function runnerCommand(options: RunnerOptions): Promise<number> {
  let onStop: (count: number) => void = () => process.exit(0);
  onStopSignals((count) => onStop(count));
  // The flag wins over the environment; docker-modem reads DOCKER_HOST itself.
  if (options.dockerHost) process.env.DOCKER_HOST = options.dockerHost;
  const env = process.env;
  const server = await resolveServerUrl(options.apiUrl, { fallback: false });
  if (!server) throw new WorkerUsageError("ratchet runner needs the server's URL: pass --api-url or set RATCHET_API_URL (or TRIGGER_API_URL).");
  const key = env.RATCHET_SECRET_KEY || env.TRIGGER_SECRET_KEY;
  if (!key) throw new WorkerUsageError("Set RATCHET_SECRET_KEY (or TRIGGER_SECRET_KEY) to a secret key of the environment whose deployments this runner runs.");
  configure({ baseURL: server.url, accessToken: key });
  const whoami = await checkKey(server.url, server.source, env.RATCHET_SECRET_KEY ? "RATCHET_SECRET_KEY" : "TRIGGER_SECRET_KEY");
  if (options.env !== undefined && options.env !== whoami.environment.type) {
    throw new WorkerUsageError(`The key is of the ${whoami.environment.type} environment, not ${options.env}: use a ${options.env} key, or drop --env.`);
  }
  let cap: number;
  try {
    cap = maxContainers(env, options.maxContainers) ?? defaultMaxContainers;
  } catch (error) {
    throw new WorkerUsageError(`${(error as Error).message}.`);
  }
  const graceSeconds = Number(options.shutdownGrace ?? 30);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new WorkerUsageError("--shutdown-grace must be a number of seconds, such as --shutdown-grace 30.");
  const refreshMs = Number(options.refreshSeconds ?? 5) * 1000;
  if (!Number.isFinite(refreshMs) || refreshMs <= 0) throw new WorkerUsageError("--refresh must be a number of seconds, such as --refresh 5.");
  const dockerHost = env.DOCKER_HOST ?? `unix://${env.DOCKER_SOCKET ?? "/var/run/docker.sock"}`;
  const reachable = await dockerReachable(dockerClient(env));
  if (!reachable.ok) throw new WorkerUsageError(`No Docker daemon answers at ${dockerHost} (${reachable.reason}): pass --docker-host or set DOCKER_HOST.`);

  const containerEnv = { ...env, RATCHET_API_URL: server.url, RATCHET_SECRET_KEY: key, RATCHET_RUNNER_ID: env.RATCHET_RUNNER_ID ?? hostname() };
  const log = (message: string) => console.error(`[ratchet runner] ${message}`);
  const controller = new WorkerController({
    workerId: `runner-${randomBytes(6).toString("hex")}`,
    concurrency: cap,
    environment: whoami.environment,
    projectRef: whoami.project.ref,
    onRunStart: (run) => console.log(`${new Date().toISOString()}  STARTED   ${run.taskIdentifier}  ${run.runId}  attempt ${run.attemptNumber}`),
    onRunReport: (report) => console.log(`${new Date().toISOString()}  ${report.status.padEnd(9)} ${report.taskIdentifier}  ${report.runId}  attempt ${report.attemptNumber}  ${report.durationMs} ms`),
    log,
  });

  const served = new Map<string, WorkerVersion>();
  const failing = new Set<string>();
  const refresh = async () => {
    for (const deployment of await deployedImages()) {
      if (served.has(deployment.version)) continue;
      try {
        const pool = await DockerRunnerPool.create(containerEnv, { projectRoot: "/", image: deployment.imageReference, version: deployment.version });
        const version: WorkerVersion = { version: deployment.version, bundle: pool.bundleUrl ?? "", pool };
        served.set(deployment.version, version);
        failing.delete(deployment.version);
        controller.addVersion(version);
        console.log(`Ratchet runner: serving version ${deployment.version} (${deployment.imageReference})${deployment.isCurrent ? ", the current one" : ""}.`);
      } catch (error) {
        // Said once per version; tried again at every refresh.
        if (!failing.has(deployment.version)) log(`cannot serve version ${deployment.version} yet: ${(error as Error).message}`);
        failing.add(deployment.version);
      }
    }
  };
  await refresh();
  controller.start();
  console.log(`Ratchet runner: ${served.size} deployed versions of ${whoami.environment.type} (${whoami.project.ref}) on ${dockerHost}, up to ${cap} containers at once.`);
  let refreshing = Promise.resolve();
  const timer = setInterval(() => {
    refreshing = refreshing.then(refresh).catch((error: unknown) => log(`could not list deployments: ${(error as Error).message}`));
  }, refreshMs);

  await new Promise<void>((resolve) => {
    onStop = (count) => {
      if (count > 1) process.exit(1);
      clearInterval(timer);
      log(`stopping: finishing ${controller.inFlight} runs in hand (up to ${graceSeconds} s), then handing back the rest`);
      void refreshing.then(() => controller.stop(graceSeconds * 1000)).then(resolve, (error: unknown) => {
        log(`stop failed: ${(error as Error).message}`);
        resolve();
      });
    };
  });
  return 0;
}
