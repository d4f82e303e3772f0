// A worker's version from a deployment (`ratchet worker --deployment <version>`): the stored bundle,
// indexed here and registered under the deployment's version without promoting it. With the Docker
// runner its attempts run in the deployment's image when it has one.
import { pathToFileURL } from "node:url";
import { apiRequest } from "../sdk/api-client.ts";
import { createRunnerPool, runnerKind } from "./runner.ts";
import type { WorkerVersion } from "./controller.ts";
import { fetchDeploymentBundle } from "./deploy.ts";
import { indexBundle } from "./indexer.ts";
import type { Project } from "./project.ts";

export async function deployedVersion(project: Project, env: NodeJS.ProcessEnv, version: string): Promise<WorkerVersion & { taskCount: number }> {
  const bundle = pathToFileURL(await fetchDeploymentBundle(project.root, version)).href;
  const manifest = await indexBundle(bundle, project.config, env);
  // Registering a deployed version again only refreshes its tasks: promotion is the deploy's call.
  const registered = await apiRequest<{ version: string }>("POST", "/engine/v1/worker/register", {
    body: { version, tasks: manifest.tasks, queues: manifest.queues.filter((queue) => queue.name), promote: false },
  });
  const image =
    runnerKind(env) === "docker"
      ? (await apiRequest<{ imageReference?: string | null }>("GET", `/api/v1/deployments/${encodeURIComponent(version)}`)).imageReference
      : null;
  const pool = await createRunnerPool(env, { projectRoot: project.root, image, version });
  return { version: registered.version, bundle, pool, taskCount: manifest.tasks.length };
}
