// Ratchet as users run it: a real child process on real ports, observed through HTTP and its output.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../server/db/scratch.ts";

export const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  pgPort: number;
  dataDir: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function tempDataDir(): Promise<string> {
  return join(tmpdir(), `ratchet-test-${randomBytes(6).toString("hex")}`);
}

export async function removeDataDir(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
}

export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RATCHET_LOG_LEVEL: "info", ...extra };
  delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT;
  if (extra.DATABASE_URL) env.DATABASE_URL = extra.DATABASE_URL;
  return env;
}

export async function spawnServer(options: {
  dataDir: string;
  port?: number;
  pgPort?: number;
  env?: Record<string, string>;
  viaNpm?: boolean;
}): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const pgPort = options.pgPort ?? (await freePort());
  const env = childEnv({
    PORT: String(port),
    RATCHET_DATA_DIR: options.dataDir,
    RATCHET_EMBEDDED_PG_PORT: String(pgPort),
    ...options.env,
  });
  const child = options.viaNpm
    ? spawn("npm", ["start", "--silent"], { cwd: projectRoot, env, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, ["server/main.ts"], { cwd: projectRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  return { child, url: `http://127.0.0.1:${port}`, port, pgPort, dataDir: options.dataDir, output: () => output, exited };
}

/** Resolves once GET /readyz answers 200; rejects if the process exits first or the time runs out. */
export async function waitUntilReady(server: ServerProcess, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  let exited = false;
  void server.exited.then(() => (exited = true));
  while (Date.now() - started < timeoutMs) {
    if (exited) throw new Error(`the server exited before it was ready:\n${server.output()}`);
    try {
      const response = await fetch(`${server.url}/readyz`);
      if (response.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`not ready after ${timeoutMs} ms:\n${server.output()}`);
}

export async function postgresPid(dataDir: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await readFile(join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0]!, 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Runs `ratchet …` as a user would and collects its output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  cwd: string = projectRoot,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(projectRoot, "bin/ratchet.js"), ...args], { cwd, env: childEnv(env) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once("exit", (exitCode) => done(exitCode)));
  return { code, stdout, stderr };
}
