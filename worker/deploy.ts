// `ratchet deploy`: bundles the project's task files, records the bundle as a deployment of a new
// version (stored server-side, so `ratchet worker --deployment <version>` can run it anywhere the
// project's dependencies are installed), registers its tasks, and promotes it. `--dry-run` prints
// what it would do, including the Dockerfile of the image it would build. See docs/deployments.md.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { apiRequest } from "../sdk/api-client.ts";
import { configure } from "../sdk/config.ts";
import { bundleTasks } from "./bundle.ts";
import { defaultDeployBaseImage, deploymentBundlePath, generatedDockerfile, hasLockfile } from "./deploy-image.ts";
import { indexBundle } from "./indexer.ts";
import { findTaskFiles, loadProject, type Project } from "./project.ts";

export class DeployError extends Error {
  override name = "DeployError";
}

export interface DeployOptions {
  /** The environment the key must belong to (dev, staging, prod, preview): a guard against the wrong key. */
  env?: string;
  dryRun?: boolean;
  apiUrl?: string;
  secretKey?: string;
  cwd?: string;
  config?: string;
  /** Default: YYYYMMDD.HHMMSS (UTC) of now. */
  version?: string;
  skipPromotion?: boolean;
  log?: (line: string) => void;
  processEnv?: NodeJS.ProcessEnv;
}

export interface DeployPlan {
  version: string;
  environment: string;
  tasks: string[];
  files: string[];
  bundleBytes: number;
  contentHash: string;
  dockerfile: { path: string | null; text: string | null };
  promote: boolean;
}

export interface DeployResult extends DeployPlan {
  deployed: boolean;
  current: boolean;
}

function defaultVersion(now: Date): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replaceAll("-", "")}.${iso.slice(11, 19).replaceAll(":", "")}`;
}

async function dockerfileFor(project: Project, version: string): Promise<DeployPlan["dockerfile"]> {
  const own = project.config.deploy?.dockerfile;
  if (own) {
    const path = join(project.root, own);
    return { path, text: await readFile(path, "utf8").catch(() => { throw new DeployError(`No Dockerfile at ${path} (deploy.dockerfile in the config)`); }) };
  }
  return { path: null, text: generatedDockerfile({ baseImage: process.env.RATCHET_DEPLOY_BASE_IMAGE ?? defaultDeployBaseImage, hasLockfile: hasLockfile(project.root), version }) };
}

export async function deploy(options: DeployOptions = {}): Promise<DeployResult> {
  const env = options.processEnv ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));
  const apiUrl = (options.apiUrl ?? env.RATCHET_API_URL ?? env.TRIGGER_API_URL)?.replace(/\/$/, "");
  const key = options.secretKey ?? env.RATCHET_SECRET_KEY ?? env.TRIGGER_SECRET_KEY;
  if (!apiUrl) throw new DeployError("Set RATCHET_API_URL (or --api-url) to the Ratchet server's URL.");
  if (!key) throw new DeployError("Set RATCHET_SECRET_KEY (or TRIGGER_SECRET_KEY) to a secret key of the environment to deploy to.");
  configure({ baseURL: apiUrl, accessToken: key });
  const whoami = await apiRequest<{ environment: { type: string } }>("GET", "/api/v1/whoami");
  if (options.env && options.env !== whoami.environment.type) {
    throw new DeployError(`--env ${options.env}, but the secret key is for ${whoami.environment.type}: use a key of ${options.env}.`);
  }

  const project = await loadProject(options.cwd ?? process.cwd(), options.config);
  const files = await findTaskFiles(project.dirs);
  if (files.length === 0) throw new DeployError(`No task files in ${project.dirs.join(", ")}`);
  const version = options.version ?? defaultVersion(new Date());
  const bundleUrl = await bundleTasks(project.root, files, join(project.root, ".ratchet", "build"));
  const bundle = await readFile(fileURLToPath(bundleUrl));
  const manifest = await indexBundle(bundleUrl, project.config, { ...env, RATCHET_API_URL: apiUrl, RATCHET_SECRET_KEY: key });
  const plan: DeployPlan = {
    version,
    environment: whoami.environment.type,
    tasks: manifest.tasks.map((task) => task.id),
    files: files.map((file) => relative(project.root, file)),
    bundleBytes: bundle.length,
    contentHash: createHash("sha256").update(bundle).digest("hex"),
    dockerfile: await dockerfileFor(project, version),
    promote: !options.skipPromotion,
  };
  if (options.dryRun) {
    log(`Would deploy version ${version} to ${plan.environment}: ${plan.tasks.length} tasks (${plan.tasks.join(", ")}) from ${plan.files.join(", ")}`);
    log(`Bundle: ${plan.bundleBytes} bytes, sha256 ${plan.contentHash}, stored server-side for \`ratchet worker --deployment ${version}\``);
    log(plan.dockerfile.path ? `Image Dockerfile: ${plan.dockerfile.path}` : "Image Dockerfile (generated):");
    log(plan.dockerfile.text ?? "");
    log(plan.promote ? "Then promote it: new runs are pinned to it." : "It would not be promoted (--skip-promotion).");
    return { ...plan, deployed: false, current: false };
  }

  // The bundle is kept where a worker of this project looks for the version's code.
  const local = join(project.root, deploymentBundlePath(version));
  await mkdir(dirname(local), { recursive: true });
  await writeFile(local, bundle);
  await apiRequest("POST", "/api/v1/deployments", {
    body: { version, bundle: bundle.toString("base64"), contentHash: plan.contentHash, ready: true },
  });
  await apiRequest("POST", "/engine/v1/worker/register", {
    body: { version, tasks: manifest.tasks, queues: manifest.queues.filter((queue) => queue.name), promote: false },
  });
  let current = false;
  if (plan.promote) {
    await apiRequest("POST", `/api/v1/deployments/${encodeURIComponent(version)}/promote`);
    current = true;
  }
  log(`Deployed version ${version} to ${plan.environment}: ${plan.tasks.length} tasks${current ? "; it is current" : " (not promoted)"}. Run it with \`ratchet worker --deployment ${version}\`.`);
  return { ...plan, deployed: true, current };
}

/**
 * The code of a deployed version for a worker: the project's copy when it has one (the deploying
 * machine, an image built by deploy), else the bundle stored on the server, saved into the project so
 * its dependencies resolve from the project's node_modules. Returns the file's path.
 */
export async function fetchDeploymentBundle(projectRoot: string, version: string): Promise<string> {
  const local = join(projectRoot, deploymentBundlePath(version));
  const existing = await readFile(local).catch(() => null);
  if (existing) return local;
  const deployment = await apiRequest<{ status: string; hasBundle: boolean }>("GET", `/api/v1/deployments/${encodeURIComponent(version)}`);
  if (deployment.status !== "DEPLOYED" || !deployment.hasBundle) {
    throw new DeployError(`Deployment ${version} is ${deployment.status}${deployment.hasBundle ? "" : " and has no stored bundle"}: nothing to run.`);
  }
  const { baseURL, accessToken } = (await import("../sdk/config.ts")).resolvedConfig();
  const response = await fetch(`${baseURL}/api/v1/deployments/${encodeURIComponent(version)}/bundle`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!response.ok) throw new DeployError(`Could not fetch the bundle of ${version}: ${response.status}`);
  await mkdir(dirname(local), { recursive: true });
  await writeFile(local, Buffer.from(await response.arrayBuffer()));
  return local;
}
