// The image `ratchet deploy` builds for a version: the generated Dockerfile (Node base image, the
// project's production dependencies, the task bundle and the attempt executor), or the project's
// own Dockerfile with the bundle and executor added on top. The Docker runner starts each attempt
// of the version in a container of it (worker/runners/docker.ts).
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The base image of generated deploy images; overridable so CI can use a locally built one. */
export const defaultDeployBaseImage = "node:24-bookworm-slim";

/** Where a deployed version's bundle lives in a project (and in its image, under the image's working directory). */
export const deploymentBundlePath = (version: string) => `.ratchet/deployments/${version}.mjs`;

/** The self-contained attempt executor beside it (worker/executor-bundle.ts). */
export const deploymentExecutorPath = (version: string) => `.ratchet/deployments/${version}.executor.mjs`;

/** The two files the runner needs in an image, copied relative to its working directory. */
const copyRatchetFiles = (version: string) => `COPY ${deploymentBundlePath(version)} ${deploymentExecutorPath(version)} .ratchet/deployments/`;

export function generatedDockerfile(options: { baseImage: string; hasLockfile: boolean; version: string }): string {
  return [
    `ARG BASE_IMAGE=${options.baseImage}`,
    "FROM ${BASE_IMAGE}",
    "WORKDIR /app",
    "ENV NODE_ENV=production",
    "COPY package.json" + (options.hasLockfile ? " package-lock.json" : "") + " ./",
    options.hasLockfile ? "RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force" : "RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force",
    copyRatchetFiles(options.version),
    "USER node",
    // A container of the image runs one attempt, driven by the runner over stdin and stdout.
    `ENTRYPOINT ["node", ${JSON.stringify(deploymentExecutorPath(options.version))}, "--stdio"]`,
    "",
  ].join("\n");
}

/** What goes on top of the project's own image (deploy.dockerfile): its working directory receives the files. */
export function overlayDockerfile(baseImage: string, version: string): string {
  return [`FROM ${baseImage}`, copyRatchetFiles(version), ""].join("\n");
}

export function imageTag(projectRef: string, environment: string, version: string): string {
  return `ratchet-deploy/${projectRef}-${environment}:${version.replace(/[^A-Za-z0-9_.-]/g, "-")}`.toLowerCase();
}

export function hasLockfile(root: string): boolean {
  return existsSync(join(root, "package-lock.json"));
}
