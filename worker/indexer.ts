// Loads a task bundle in a throwaway child process and reads what it declares, so a broken task
// file fails indexing instead of the worker.
import { fork } from "node:child_process";
import type { ProjectConfig } from "../sdk/project-config.ts";
import { executorPath } from "./attempt-process.ts";
import type { TaskManifest } from "./manifest.ts";
import type { FromChild } from "./messages.ts";

export class IndexError extends Error {
  override name = "IndexError";
}

export async function indexBundle(
  bundle: string,
  config: ProjectConfig,
  env: NodeJS.ProcessEnv,
): Promise<{ tasks: TaskManifest[]; queues: Array<{ name: string; concurrencyLimit?: number }> }> {
  const child = fork(executorPath, ["--index", bundle, JSON.stringify(config)], { env, stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
  return new Promise((resolve, reject) => {
    let settled = false;
    child.on("message", (message: FromChild) => {
      if (message.type === "manifest") {
        settled = true;
        resolve({ tasks: message.tasks, queues: message.queues });
      } else if (message.type === "index-error") {
        settled = true;
        reject(new IndexError(`Could not load the task files:\n${message.message}`));
      }
      child.kill();
    });
    child.once("exit", (code) => {
      if (!settled) reject(new IndexError(`Loading the task files ended the process (exit code ${code})`));
    });
  });
}
