// A task project: its config file (ratchet.config.ts, or trigger.config.ts for projects coming from
// Trigger.dev) and the task files in the folders it names.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { ProjectConfig } from "../sdk/project-config.ts";
import { bundleModule } from "./bundle.ts";

export interface Project {
  root: string;
  configPath: string | null;
  config: ProjectConfig;
  dirs: string[];
}

const configNames = ["ratchet.config.ts", "ratchet.config.mts", "ratchet.config.js", "ratchet.config.mjs", "trigger.config.ts", "trigger.config.mjs", "trigger.config.js"];

export class ProjectError extends Error {
  override name = "ProjectError";
}

export async function loadProject(cwd: string, configFile?: string): Promise<Project> {
  const configPath = configFile ? resolve(cwd, configFile) : (configNames.map((name) => join(cwd, name)).find((path) => existsSync(path)) ?? null);
  if (configFile && (!configPath || !existsSync(configPath))) throw new ProjectError(`No config file at ${configFile}`);
  const root = configPath ? dirname(configPath) : resolve(cwd);
  let config: ProjectConfig = {};
  if (configPath) {
    const bundled = await bundleModule(configPath, join(root, ".ratchet", "build"), "config");
    const module = (await import(bundled)) as { default?: ProjectConfig; config?: ProjectConfig };
    config = module.default ?? module.config ?? {};
  }
  const dirs = (config.dirs ?? ["trigger"]).map((dir) => resolve(root, dir));
  const missing = dirs.filter((dir) => !existsSync(dir));
  if (missing.length === dirs.length) {
    throw new ProjectError(`No task folder found (looked for ${dirs.join(", ")}). Set "dirs" in ${configPath ?? "ratchet.config.ts"}.`);
  }
  return { root, configPath, config, dirs: dirs.filter((dir) => existsSync(dir)) };
}

const taskFile = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs)$/;
const skipped = /(\.d\.ts|\.(test|spec)\.[a-z]+)$/;

export async function findTaskFiles(dirs: string[]): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (taskFile.test(entry.name) && !skipped.test(entry.name)) files.push(path);
    }
  };
  for (const dir of dirs) await walk(dir);
  return files.sort();
}
