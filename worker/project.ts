// A task project: its config file (ratchet.config.ts, or trigger.config.ts for projects coming from
// Trigger.dev) and the task files in the folders it names.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import type { ProjectConfig } from "../sdk/project-config.ts";
import { bundleModule, describeBuildFailure } from "./bundle.ts";

export interface Project {
  root: string;
  configPath: string | null;
  config: ProjectConfig;
  /** The config file bundled: attempt processes import it for what cannot cross IPC (instrumentations). */
  configBundle: string | null;
  dirs: string[];
}

const configNames = ["ratchet.config.ts", "ratchet.config.mts", "ratchet.config.js", "ratchet.config.mjs", "trigger.config.ts", "trigger.config.mjs", "trigger.config.js"];

export class ProjectError extends Error {
  override name = "ProjectError";
}

const aFunction = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function");

// What ratchet.config.ts may hold, checked before it is used: a mistake names the field and the fix.
const configSchema = z
  .object({
    project: z.string().optional(),
    dirs: z.array(z.string().min(1), { error: 'must be a list of folders, such as dirs: ["trigger"]' }).min(1).optional(),
    retries: z.object({ default: z.record(z.string(), z.unknown()).optional() }).optional(),
    maxDuration: z.number().positive().optional(),
    concurrency: z.number().int().positive().optional(),
    waitInProcessMs: z.number().int().min(0).optional(),
    instrumentations: z
      .array(z.object({ instrumentationName: z.string(), setTracerProvider: aFunction, enable: aFunction }).loose(), {
        error: "must be a list of OpenTelemetry instrumentations, such as instrumentations: [new UndiciInstrumentation()]",
      })
      .optional(),
  })
  .loose();

export async function loadProject(cwd: string, configFile?: string): Promise<Project> {
  const configPath = configFile ? resolve(cwd, configFile) : (configNames.map((name) => join(cwd, name)).find((path) => existsSync(path)) ?? null);
  if (configFile && (!configPath || !existsSync(configPath))) throw new ProjectError(`There is no config file at ${configFile}: check the path given to --config.`);
  const root = configPath ? dirname(configPath) : resolve(cwd);
  const configName = configPath ? basename(configPath) : "ratchet.config.ts";
  let config: ProjectConfig = {};
  let configBundle: string | null = null;
  if (configPath) {
    let loaded: unknown;
    try {
      const bundled = (configBundle = await bundleModule(configPath, join(root, ".ratchet", "build"), "config"));
      const module = (await import(bundled)) as { default?: unknown; config?: unknown };
      loaded = module.default ?? module.config ?? {};
    } catch (error) {
      throw new ProjectError(`${configName} could not be loaded: ${describeBuildFailure(error, root)}. Fix it and run again.`);
    }
    const parsed = configSchema.safeParse(loaded);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join(".") || "the export";
      throw new ProjectError(`"${field}" in ${configName} ${issue.message.startsWith("must") ? issue.message : `is invalid: ${issue.message}`}.`);
    }
    config = parsed.data as ProjectConfig;
  }
  const dirs = (config.dirs ?? ["trigger"]).map((dir) => resolve(root, dir));
  const missing = dirs.filter((dir) => !existsSync(dir));
  if (missing.length === dirs.length) {
    throw new ProjectError(`No task folder found (looked for ${dirs.join(", ")}): create it, or set "dirs" in ${configName}.`);
  }
  return { root, configPath, config, configBundle, dirs: dirs.filter((dir) => existsSync(dir)) };
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
