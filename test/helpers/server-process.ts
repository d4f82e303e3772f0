// Ratchet as users run it: a real child process on real ports, observed through HTTP and its output.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
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

// Every server a test starts, so that a test that fails or times out never leaves one running: a
// live child keeps the test file's process (and with it the whole suite) from ever finishing.
const live = new Set<{ child: ChildProcess; dataDir: string }>();

/** Kills what is still running on `dataDir`: the servers this file started there, then their Postgres. */
function killEverythingOn(dataDir: string): void {
  for (const entry of live) {
    if (entry.dataDir !== dataDir) continue;
    entry.child.kill("SIGKILL");
    live.delete(entry);
  }
  let cluster = join(dataDir, "postgres");
  try {
    cluster = readFileSync(join(dataDir, "postgres-location"), "utf8").trim() || cluster;
  } catch {
    // the cluster is in the data directory
  }
  try {
    const pid = Number.parseInt(readFileSync(join(cluster, "postmaster.pid"), "utf8").split("\n")[0]!, 10);
    // SIGQUIT: Postgres's immediate shutdown, which also ends its backends.
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, "SIGQUIT");
  } catch {
    // no lock file, or that Postgres is gone already
  }
}

process.on("exit", () => {
  for (const { dataDir } of [...live]) killEverythingOn(dataDir);
});

/** Removes a data directory after stopping whatever a failed test left running on it. */
export async function removeDataDir(dataDir: string): Promise<void> {
  killEverythingOn(dataDir);
  await rm(dataDir, { recursive: true, force: true });
}

/**
 * The exit of a server expected to stop by itself (a refused start, a signal sent): fails with what
 * it printed, and kills it, when it is still running after `timeoutMs`.
 */
export async function exitOf(server: ServerProcess, timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_done, fail) => {
    timer = setTimeout(() => {
      server.child.kill("SIGKILL");
      fail(new Error(`the server was still running after ${timeoutMs} ms:\n${server.output()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([server.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
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
  const entry = { child, dataDir: options.dataDir };
  live.add(entry);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => {
      live.delete(entry);
      done({ code, signal });
    }),
  );
  return { child, url: `http://127.0.0.1:${port}`, port, pgPort, dataDir: options.dataDir, output: () => output, exited };
}

/** Resolves once GET /readyz answers 200 and the server printed its banner; rejects if the process exits first or the time runs out. */
export async function waitUntilReady(server: ServerProcess, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  let exited = false;
  void server.exited.then(() => (exited = true));
  while (Date.now() - started < timeoutMs) {
    if (exited) throw new Error(`the server exited before it was ready:\n${server.output()}`);
    try {
      const response = await fetch(`${server.url}/readyz`);
      await response.arrayBuffer();
      // The banner too: a 200 from some other process that took the port would prove nothing.
      if (response.status === 200 && server.output().includes("Ratchet is running at")) return Date.now() - started;
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
