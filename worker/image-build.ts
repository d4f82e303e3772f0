// Builds a version's image on a Docker daemon (dockerode's buildImage with a tar context): the
// generated Dockerfile with a context of just what it copies, or the project's own Dockerfile with
// the project folder as its context (without node_modules and .git) followed by a small build that
// adds the bundle and executor on top. A failed build throws with the tail of its log.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { Readable } from "node:stream";
import type Docker from "dockerode";
import { create as createTar } from "tar";
import { deploymentBundlePath, deploymentExecutorPath, generatedDockerfile, hasLockfile, overlayDockerfile } from "./deploy-image.ts";

export class ImageBuildError extends Error {
  override name = "ImageBuildError";
  /** The last lines the build printed. */
  readonly logTail: string;
  constructor(message: string, logTail: string) {
    super(message);
    this.logTail = logTail;
  }
}

export interface ImageBuildOptions {
  docker: Docker;
  projectRoot: string;
  version: string;
  tag: string;
  /** The project's own Dockerfile (absolute), else the generated one is built. */
  dockerfile: string | null;
  baseImage: string;
  labels: Record<string, string>;
  log?: (line: string) => void;
}

const skipped = new Set(["node_modules", ".git"]);

/** Runs one build; resolves with its log, rejects with ImageBuildError and the log's tail. */
async function runBuild(docker: Docker, context: NodeJS.ReadableStream, options: Docker.ImageBuildOptions, log: (line: string) => void): Promise<string> {
  const stream = await docker.buildImage(context, options);
  const lines: string[] = [];
  let failure: string | null = null;
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve()),
      (event: { stream?: string; error?: string; errorDetail?: { message?: string } }) => {
        if (event.stream) {
          for (const line of event.stream.split("\n")) {
            if (!line.trim()) continue;
            lines.push(line);
            log(line);
          }
        }
        if (event.error) {
          failure = event.errorDetail?.message ?? event.error;
          lines.push(failure);
        }
      },
    );
  }).catch((error: unknown) => {
    failure ??= (error as Error).message;
  });
  const tail = lines.slice(-20).join("\n").slice(-4000);
  if (failure) throw new ImageBuildError(`The image build failed: ${failure}`, tail);
  return lines.join("\n");
}

/** A folder as a tar stream, the build context dockerode sends. */
function tarStream(cwd: string, filter?: (path: string) => boolean): NodeJS.ReadableStream {
  const pack = createTar({ cwd, portable: true, filter }, ["."]);
  return Readable.from(pack as AsyncIterable<Buffer>);
}

/** A context folder holding copies of the given project files (paths relative to the project). */
async function contextOf(projectRoot: string, files: string[], dockerfile: string): Promise<{ dir: string; tar: NodeJS.ReadableStream }> {
  const dir = await mkdtemp(join(tmpdir(), "ratchet-image-"));
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(projectRoot, file), join(dir, file));
  }
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  return { dir, tar: tarStream(dir) };
}

/** Builds the version's image and returns its tag. */
export async function buildDeployImage(options: ImageBuildOptions): Promise<string> {
  const { docker, projectRoot, version, tag } = options;
  const log = options.log ?? (() => {});
  const ratchetFiles = [deploymentBundlePath(version), deploymentExecutorPath(version)];
  if (!options.dockerfile) {
    const lockfile = hasLockfile(projectRoot);
    const text = generatedDockerfile({ baseImage: options.baseImage, hasLockfile: lockfile, version });
    const context = await contextOf(projectRoot, ["package.json", ...(lockfile ? ["package-lock.json"] : []), ...ratchetFiles], text);
    try {
      await runBuild(docker, context.tar, { t: tag, labels: options.labels, buildargs: { BASE_IMAGE: options.baseImage } }, log);
    } finally {
      await rm(context.dir, { recursive: true, force: true });
    }
    return tag;
  }
  // The project's own Dockerfile, with the project folder as its context.
  const baseTag = `${tag}-base`;
  const projectContext = tarStream(projectRoot, (path) => !path.split("/").some((part) => skipped.has(part)));
  await runBuild(docker, projectContext, { t: baseTag, dockerfile: relative(projectRoot, options.dockerfile), buildargs: { BASE_IMAGE: options.baseImage } }, log);
  const overlay = await contextOf(projectRoot, ratchetFiles, overlayDockerfile(baseTag, version));
  try {
    await runBuild(docker, overlay.tar, { t: tag, labels: options.labels }, log);
  } finally {
    await rm(overlay.dir, { recursive: true, force: true });
    // Only the name goes: the layers stay as the final image's parent.
    await docker.getImage(baseTag).remove().catch(() => {});
  }
  return tag;
}
