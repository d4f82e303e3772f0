// Loads a task bundle in a throwaway child process and reads what it declares, so a broken task
// file fails indexing instead of the worker.
import { fork } from "node:child_process";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { ProjectConfig } from "../sdk/project-config.ts";
import { executorPath } from "./attempt-process.ts";
import type { TaskManifest } from "./manifest.ts";
import type { FromChild } from "./messages.ts";

// Ratchet's own files (the worker and the SDK beside it), left out of the frames shown to a user.
const workerDir = dirname(fileURLToPath(import.meta.url));
const ratchetDirs = [`${workerDir}/`, `${dirname(workerDir)}/sdk/`];

export class IndexError extends Error {
  override name = "IndexError";
}

/** "Error: message (at trigger/file.ts:3:7)": the first line of a stack and its first frame in the project. */
export function summarizeStack(stack: string, cwd = process.cwd()): string {
  const [first = stack, ...frames] = stack.split("\n");
  for (const frame of frames) {
    const location = /\(?((?:file:\/\/)?\/[^()]+?):(\d+):(\d+)\)?\s*$/.exec(frame.trim());
    if (!location) continue;
    const path = location[1]!.replace(/^file:\/\//, "");
    if (path.includes("/node_modules/") || path.includes("/.ratchet/build/") || ratchetDirs.some((dir) => path.startsWith(dir))) continue;
    return `${first} (at ${relative(cwd, path)}:${location[2]}:${location[3]})`;
  }
  return first;
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
        reject(new IndexError(`A task file failed to load: ${summarizeStack(message.message)}. Fix it and save again.`));
      }
      child.kill();
    });
    child.once("exit", (code) => {
      if (!settled) reject(new IndexError(`Loading the task files ended the process (exit code ${code})`));
    });
  });
}
