// One child process that runs attempts (worker/executor.ts), seen from the worker.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RunEvent } from "../sdk/runtime.ts";
import type { ChildResult, ExecuteMessage, FromChild } from "./messages.ts";

export const executorPath = fileURLToPath(new URL("./executor.ts", import.meta.url));

export type AttemptOutcome = ChildResult | { kind: "crashed"; code: number | null; signal: NodeJS.Signals | null };

export class AttemptProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #alive = true;

  constructor(env: NodeJS.ProcessEnv) {
    this.child = fork(executorPath, [], { env, stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
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
      const onMessage = (reply: FromChild) => {
        if (reply.type === "events") onEvents(reply.events);
        if (reply.type === "result") {
          this.child.off("message", onMessage);
          resolve(reply.result);
        }
      };
      this.child.on("message", onMessage);
      void this.exited.then(({ code, signal }) => {
        this.child.off("message", onMessage);
        resolve({ kind: "crashed", code, signal });
      });
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

/** Warm processes for one bundle, up to `size` at once. */
export class AttemptPool {
  readonly #idle: AttemptProcess[] = [];
  readonly #all = new Set<AttemptProcess>();
  readonly #env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv) {
    this.#env = env;
  }

  acquire(): AttemptProcess {
    while (this.#idle.length > 0) {
      const process = this.#idle.pop()!;
      if (process.alive) return process;
    }
    const process = new AttemptProcess(this.#env);
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
    this.#idle.push(process);
  }

  async close(): Promise<void> {
    this.#idle.length = 0;
    await Promise.all([...this.#all].map((process) => process.stop()));
  }
}
