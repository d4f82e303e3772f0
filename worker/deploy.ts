// `ratchet deploy`: bundles the project's task files, records the bundle as a deployment of a new
// version (stored server-side, so `ratchet worker --deployment <version>` can run it anywhere the
// project's dependencies are installed), registers its tasks, builds the version's image when a
// Docker daemon answers (BUILDING until it is built, FAILED with the build log's tail), and promotes
// it. `--dry-run` prints what it would do, including the image's Dockerfile. See docs/deployments.md.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { apiRequest } from "../sdk/api-client.ts";
import { configure } from "../sdk/config.ts";
import { bundleTasks } from "./bundle.ts";
import { defaultDeployBaseImage, deploymentBundlePath, deploymentExecutorPath, generatedDockerfile, hasLockfile, imageTag, overlayDockerfile } from "./deploy-image.ts";
import { dockerClient, dockerReachable } from "./docker-client.ts";
import { bundleExecutor } from "./executor-bundle.ts";
import { buildDeployImage, ImageBuildError } from "./image-build.ts";
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
  /** false (`--no-image`): store the bundle only, even when a Docker daemon answers. */
  image?: boolean;
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
  /** The tag of the image to build, or null with the reason when none is built. */
  image: { tag: string | null; reason: string | null };
  promote: boolean;
}

export interface DeployResult extends DeployPlan {
  deployed: boolean;
  current: boolean;
  imageReference: string | null;
}

function defaultVersion(now: Date): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replaceAll("-", "")}.${iso.slice(11, 19).replaceAll(":", "")}`;
}

const baseImageOf = (env: NodeJS.ProcessEnv) => env.RATCHET_DEPLOY_BASE_IMAGE ?? defaultDeployBaseImage;

async function dockerfileFor(project: Project, version: string, env: NodeJS.ProcessEnv): Promise<DeployPlan["dockerfile"]> {
  const own = project.config.deploy?.dockerfile;
  if (own) {
    const path = join(project.root, own);
    return { path, text: await readFile(path, "utf8").catch(() => { throw new DeployError(`No Dockerfile at ${path} (deploy.dockerfile in the config)`); }) };
  }
  return { path: null, text: generatedDockerfile({ baseImage: baseImageOf(env), hasLockfile: hasLockfile(project.root), version }) };
}

/** Build the image when a daemon answers (unless --no-image); else say why only the bundle ships. */
async function imagePlan(options: DeployOptions, env: NodeJS.ProcessEnv, tag: string): Promise<DeployPlan["image"]> {
  if (options.image === false) return { tag: null, reason: "--no-image" };
  const reachable = await dockerReachable(dockerClient(env));
  return reachable.ok ? { tag, reason: null } : { tag: null, reason: `no Docker daemon answers (${reachable.reason})` };
}

export async function deploy(options: DeployOptions = {}): Promise<DeployResult> {
  const env = options.processEnv ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));
  const apiUrl = (options.apiUrl ?? env.RATCHET_API_URL ?? env.TRIGGER_API_URL)?.replace(/\/$/, "");
  const key = options.secretKey ?? env.RATCHET_SECRET_KEY ?? env.TRIGGER_SECRET_KEY;
  if (!apiUrl) throw new DeployError("Set RATCHET_API_URL (or --api-url) to the Ratchet server's URL.");
  if (!key) throw new DeployError("Set RATCHET_SECRET_KEY (or TRIGGER_SECRET_KEY) to a secret key of the environment to deploy to.");
  configure({ baseURL: apiUrl, accessToken: key });
  const whoami = await apiRequest<{ project: { ref: string }; environment: { type: string } }>("GET", "/api/v1/whoami");
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
    dockerfile: await dockerfileFor(project, version, env),
    image: await imagePlan(options, env, imageTag(whoami.project.ref, whoami.environment.type, version)),
    promote: !options.skipPromotion,
  };
  if (options.dryRun) {
    log(`Would deploy version ${version} to ${plan.environment}: ${plan.tasks.length} tasks (${plan.tasks.join(", ")}) from ${plan.files.join(", ")}`);
    log(`Bundle: ${plan.bundleBytes} bytes, sha256 ${plan.contentHash}, stored server-side for \`ratchet worker --deployment ${version}\``);
    log(plan.dockerfile.path ? `Image Dockerfile: ${plan.dockerfile.path}` : "Image Dockerfile (generated):");
    log(plan.dockerfile.text ?? "");
    if (plan.dockerfile.path) log(`and on top of it:\n${overlayDockerfile("<that image>", version)}`);
    log(plan.image.tag ? `Image: ${plan.image.tag}, built by the Docker daemon` : `No image: ${plan.image.reason}; the bundle alone is deployed.`);
    log(plan.promote ? "Then promote it: new runs are pinned to it." : "It would not be promoted (--skip-promotion).");
    return { ...plan, deployed: false, current: false, imageReference: null };
  }

  // The bundle is kept where a worker of this project looks for the version's code.
  const local = join(project.root, deploymentBundlePath(version));
  await mkdir(dirname(local), { recursive: true });
  await writeFile(local, bundle);
  // With an image to build the deployment is BUILDING until the build ends.
  await apiRequest("POST", "/api/v1/deployments", {
    body: { version, bundle: bundle.toString("base64"), contentHash: plan.contentHash, ready: plan.image.tag === null },
  });
  await apiRequest("POST", "/engine/v1/worker/register", {
    body: { version, tasks: manifest.tasks, queues: manifest.queues.filter((queue) => queue.name), promote: false },
  });
  let imageReference: string | null = null;
  if (plan.image.tag) imageReference = await buildImage(project, plan, env, whoami.project.ref, log);
  let current = false;
  if (plan.promote) {
    await apiRequest("POST", `/api/v1/deployments/${encodeURIComponent(version)}/promote`);
    current = true;
  }
  const how = imageReference ? `its image is ${imageReference}; \`ratchet runner\` on that Docker host runs it` : `run it with \`ratchet worker --deployment ${version}\``;
  log(`Deployed version ${version} to ${plan.environment}: ${plan.tasks.length} tasks${current ? "; it is current" : " (not promoted)"}; ${how}.`);
  return { ...plan, deployed: true, current, imageReference };
}

/** Builds the version's image and finishes the deployment: DEPLOYED with the image, or FAILED with the build log's tail. */
async function buildImage(project: Project, plan: DeployPlan, env: NodeJS.ProcessEnv, projectRef: string, log: (line: string) => void): Promise<string> {
  const { version } = plan;
  const finish = (body: Record<string, unknown>) => apiRequest("POST", `/api/v1/deployments/${encodeURIComponent(version)}/finish`, { body });
  log(`Building the image ${plan.image.tag} …`);
  try {
    await bundleExecutor(join(project.root, deploymentExecutorPath(version)));
    const tag = await buildDeployImage({
      docker: dockerClient(env),
      projectRoot: project.root,
      version,
      tag: plan.image.tag!,
      dockerfile: plan.dockerfile.path,
      baseImage: baseImageOf(env),
      labels: { "dev.ratchet.project": projectRef, "dev.ratchet.environment": plan.environment, "dev.ratchet.version": version },
      log: env.RATCHET_DEPLOY_VERBOSE ? log : undefined,
    });
    await finish({ status: "DEPLOYED", imageReference: tag });
    return tag;
  } catch (error) {
    const tail = error instanceof ImageBuildError ? error.logTail : "";
    const message = `${(error as Error).message}${tail ? `\n${tail}` : ""}`.slice(0, 10_000);
    await finish({ status: "FAILED", error: { message } }).catch(() => {});
    throw new DeployError(`Version ${version} was not deployed: ${message}`);
  }
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
