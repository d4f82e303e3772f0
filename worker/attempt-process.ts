// One child process that runs attempts (worker/executor.ts), seen from the worker.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RunEvent } from "../sdk/runtime.ts";
import type { ExecuteMessage, FromChild } from "./messages.ts";
import type { AttemptOutcome } from "./runner.ts";

export const executorPath = fileURLToPath(new URL("./executor.ts", import.meta.url));

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

  constructor(env: NodeJS.ProcessEnv, machine: string) {
    this.machine = machine;
    const heapMb = machineMemoryMb[machine] ?? machineMemoryMb[defaultMachine]!;
    this.child = fork(executorPath, [], { env, stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [`--max-old-space-size=${heapMb}`] });
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

/** Warm processes for one bundle, kept per machine size. */
export class AttemptPool {
  readonly #idle = new Map<string, AttemptProcess[]>();
  readonly #all = new Set<AttemptProcess>();
  readonly #env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv) {
    this.#env = env;
  }

  acquire(machine: string = defaultMachine): AttemptProcess {
    const size = machine in machineMemoryMb ? machine : defaultMachine;
    const idle = this.#idle.get(size) ?? [];
    while (idle.length > 0) {
      const process = idle.pop()!;
      if (process.alive) return process;
    }
    const process = new AttemptProcess(this.#env, size);
    this.#all.add(process);
    void process.exited.then(() => this.#all.delete(process));
    return process;
  }

  /** Back to the pool, or stopped when its state can no longer be trusted (canceled, timed out). */
  async release(process: AttemptProcess, recycle = false): Promise<void> {
    if (recycle || !process.alive) {
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
