// What a Docker runner's container holds and where: either a version's own image (built by
// `ratchet deploy`: the bundle and the executor are inside, under the image's working directory, and
// nothing is mounted), or a plain Node image with Ratchet's code and the project mounted read-only
// at their host paths (a worker of code that was never deployed as an image).
import { posix } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type Docker from "dockerode";
import { executorPath } from "../attempt-process.ts";
import { deploymentBundlePath, deploymentExecutorPath } from "../deploy-image.ts";

const ratchetRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

export interface ContainerLayout {
  image: string;
  /** The executor's path in the container. */
  executor: string;
  workingDir: string;
  binds: string[];
  /** The bundle's URL in the container when it is not the worker's own path (a version's image). */
  bundle: string | null;
}

export function mountedLayout(image: string, projectRoot: string): ContainerLayout {
  return {
    image,
    executor: executorPath,
    workingDir: projectRoot,
    binds: [...new Set([ratchetRoot, projectRoot])].map((path) => `${path}:${path}:ro`),
    bundle: null,
  };
}

/** The layout of a version's image; pulls it when this daemon does not have it (a registry the deploy pushed to). */
export async function imageLayout(docker: Docker, image: string, version: string): Promise<ContainerLayout> {
  let info = await docker.getImage(image).inspect().catch(() => null);
  if (!info) {
    await new Promise<void>((resolve, reject) =>
      docker.pull(image, (error: Error | null, stream: NodeJS.ReadableStream) => {
        if (error) return reject(new Error(`The image ${image} of version ${version} is not on this Docker host and could not be pulled: ${error.message}`));
        docker.modem.followProgress(stream, (failure: Error | null) => (failure ? reject(failure) : resolve()));
      }),
    );
    info = await docker.getImage(image).inspect();
  }
  const workingDir = info.Config.WorkingDir || "/";
  return {
    image,
    executor: posix.join(workingDir, deploymentExecutorPath(version)),
    workingDir,
    binds: [],
    bundle: pathToFileURL(posix.join(workingDir, deploymentBundlePath(version))).href,
  };
}
