// The image `ratchet deploy` builds for a version: the generated Dockerfile (Node base image, the
// project's production dependencies, the task bundle), or the project's own when the config names one.
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The base image of generated deploy images; overridable so CI can use a locally built one. */
export const defaultDeployBaseImage = "node:24-bookworm-slim";

/** Where a deployed version's bundle lives in a project (and in its image). */
export const deploymentBundlePath = (version: string) => `.ratchet/deployments/${version}.mjs`;

export function generatedDockerfile(options: { baseImage: string; hasLockfile: boolean; version: string }): string {
  return [
    `ARG BASE_IMAGE=${options.baseImage}`,
    "FROM ${BASE_IMAGE}",
    "WORKDIR /app",
    "ENV NODE_ENV=production",
    "COPY package.json" + (options.hasLockfile ? " package-lock.json" : "") + " ./",
    options.hasLockfile ? "RUN npm ci --omit=dev --no-audit --no-fund" : "RUN npm install --omit=dev --no-audit --no-fund",
    `COPY ${deploymentBundlePath(options.version)} ${deploymentBundlePath(options.version)}`,
    "USER node",
    // The image is a worker of its version: it serves the runs pinned to it.
    `ENTRYPOINT ["npx", "ratchet", "worker", "--deployment", ${JSON.stringify(options.version)}]`,
    "",
  ].join("\n");
}

export function imageTag(projectRef: string, environment: string, version: string): string {
  return `ratchet-deploy/${projectRef}-${environment}:${version.replace(/[^A-Za-z0-9_.-]/g, "-")}`;
}

export function hasLockfile(root: string): boolean {
  return existsSync(join(root, "package-lock.json"));
}
