// `ratchet dev` / `ratchet worker` / `ratchet runner` as a child process, observed through its output.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { childEnv, projectRoot } from "./server-process.ts";

export interface Worker {
  child: ChildProcess;
  output(): string;
  /** Resolves when the worker's output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<number | null>;
  /** SIGKILL to the worker and its child processes (it runs in its own process group). */
  kill(): Promise<void>;
}

export function startWorker(
  cwd: string,
  env: Record<string, string>,
  mode: "dev" | "worker" | "runner" = "dev",
  graceSeconds = "5",
  extraArgs: string[] = [],
): Worker {
  const child = spawn(process.execPath, [join(projectRoot, "bin/ratchet.js"), mode, "--shutdown-grace", graceSeconds, ...extraArgs], {
    cwd,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(output)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    waitFor(pattern, timeoutMs = 60_000) {
      if (pattern.test(output)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker output never matched ${pattern}:\n${output}`)), timeoutMs);
        waiters.push({ pattern, resolve: () => (clearTimeout(timer), resolve()) });
        void exited.then(() => reject(new Error(`the worker exited before ${pattern}:\n${output}`)));
      });
    },
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    },
  };
}
