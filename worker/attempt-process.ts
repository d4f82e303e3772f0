// One child process that runs attempts (worker/executor.ts), seen from the worker.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RunEvent } from "../sdk/runtime.ts";
import type { ExecuteMessage, FromChild } from "./messages.ts";
import { noVariables, type VariableSet } from "./environment-variables.ts";
import type { AttemptOutcome } from "./runner.ts";

/** Ratchet's own settings for the attempt: an environment variable never replaces them. */
const protectedNames = ["RATCHET_API_URL", "RATCHET_SECRET_KEY", "TRIGGER_API_URL", "TRIGGER_SECRET_KEY", "TRIGGER_ACCESS_TOKEN"];

// The compiled worker (dist/) forks the compiled executor.
export const executorPath = fileURLToPath(new URL(import.meta.url.endsWith(".js") ? "./executor.js" : "./executor.ts", import.meta.url));

export type { AttemptOutcome } from "./runner.ts";

/** Heap limits of Trigger.dev's machine presets: a run that outgrows its machine ends CRASHED. */
export const machineMemoryMb: Record<string, number> = {
  micro: 256,
  "small-1x": 512,
  "small-2x": 1024,
  "medium-1x": 2048,
  "medium-2x": 4096,
  "large-1x": 8192,
  "large-2x": 16384,
};

export const defaultMachine = "small-1x";

export class AttemptProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #alive = true;

  readonly machine: string;
  readonly variablesVersion: string;

  constructor(env: NodeJS.ProcessEnv, machine: string, variablesVersion = noVariables.version) {
    this.machine = machine;
    this.variablesVersion = variablesVersion;
    const heapMb = machineMemoryMb[machine] ?? machineMemoryMb[defaultMachine]!;
    this.child = fork(executorPath, [], { env, stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [`--max-old-space-size=${heapMb}`] });
    // Sending to a process that just died (a Ctrl-C that reached it while it was still starting)
    // fails with EPIPE: the exit that follows reports the attempt crashed, so the error needs no more.
    this.child.on("error", () => {});
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.#alive = false;
        resolve({ code, signal });
      }),
    );
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Runs one attempt; resolves with its outcome, or "crashed" if the process dies first. */
  run(message: ExecuteMessage, onEvents: (events: RunEvent[]) => void): Promise<AttemptOutcome> {
    return new Promise((resolve) => {
      if (!this.#alive) {
        void this.exited.then(({ code, signal }) => resolve({ kind: "crashed", code, signal }));
        return;
      }
      // Listeners are removed when the attempt ends: a process runs many attempts in its life.
      const onMessage = (reply: FromChild) => {
        if (reply.type === "events") onEvents(reply.events);
        if (reply.type === "result") {
          done();
          resolve(reply.result);
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        done();
        resolve({ kind: "crashed", code, signal });
      };
      const done = () => {
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
      };
      this.child.on("message", onMessage);
      this.child.once("exit", onExit);
      this.child.send(message);
    });
  }

  cancel(): void {
    if (this.#alive) this.child.send({ type: "cancel" });
  }

  async stop(): Promise<void> {
    if (!this.#alive) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

/**
 * The attempt's process environment: the worker's own, then the environment's variables from the
 * server, then `local` (`ratchet dev`'s .env files), and Ratchet's connection settings over all.
 */
export function attemptEnv(base: NodeJS.ProcessEnv, variables: Record<string, string>, local: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...base, ...variables, ...local };
  for (const name of protectedNames) {
    if (base[name] === undefined) delete env[name];
    else env[name] = base[name];
  }
  return env;
}

/** Warm processes for one bundle, kept per machine size and per version of the variables. */
export class AttemptPool {
  readonly #idle = new Map<string, AttemptProcess[]>();
  readonly #all = new Set<AttemptProcess>();
  readonly #env: NodeJS.ProcessEnv;
  readonly #local: Record<string, string>;
  #variablesVersion = noVariables.version;

  constructor(env: NodeJS.ProcessEnv, local: Record<string, string> = {}) {
    this.#env = env;
    this.#local = local;
  }

  acquire(machine: string = defaultMachine, variables: VariableSet = noVariables): AttemptProcess {
    const size = machine in machineMemoryMb ? machine : defaultMachine;
    if (variables.version !== this.#variablesVersion) {
      // Warm processes hold the old variables in process.env (and in whatever read it at import).
      this.#variablesVersion = variables.version;
      const stale = [...this.#idle.values()].flat();
      this.#idle.clear();
      for (const process of stale) void process.stop();
    }
    const idle = this.#idle.get(size) ?? [];
    while (idle.length > 0) {
      const process = idle.pop()!;
      if (process.alive) return process;
    }
    const process = new AttemptProcess(attemptEnv(this.#env, variables.variables, this.#local), size, variables.version);
    this.#all.add(process);
    void process.exited.then(() => this.#all.delete(process));
    return process;
  }

  /** Back to the pool, or stopped when its state can no longer be trusted (canceled, timed out). */
  async release(process: AttemptProcess, recycle = false): Promise<void> {
    if (recycle || !process.alive || process.variablesVersion !== this.#variablesVersion) {
      await process.stop();
      return;
    }
    const idle = this.#idle.get(process.machine) ?? [];
    idle.push(process);
    this.#idle.set(process.machine, idle);
  }

  async close(): Promise<void> {
    this.#idle.clear();
    await Promise.all([...this.#all].map((process) => process.stop()));
  }
}
