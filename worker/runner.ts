// The runner contract: what executes a worker's attempts. The worker (controller.ts) dequeues over
// the protocol and hands each attempt to a process of its runner's pool; the runner decides where
// that process lives. RATCHET_RUNNER picks one: `process` (child processes, the default) or `docker`
// (a container per attempt, with the machine preset as real limits). See docs/worker.md.
import type { RunEvent } from "../sdk/runtime.ts";
import type { ChildResult, ExecuteMessage } from "./messages.ts";
import type { VariableSet } from "./environment-variables.ts";

/** How an attempt ended as the runner saw it. */
export type AttemptOutcome =
  | ChildResult
  | {
      kind: "crashed";
      code: number | null;
      signal: NodeJS.Signals | null;
      /** The kernel killed it for exceeding its memory limit (the container's). */
      oomKilled?: boolean;
      /** Why, when the runner knows better than the exit code (a container that vanished). */
      reason?: string;
      /** The crash follows the task's retry policy (a container that died), instead of ending the run. */
      retryable?: boolean;
    };

/** One place that runs attempts: a child process, or a container. */
export interface AttemptRunner {
  readonly machine: string;
  readonly alive: boolean;
  /** Runs one attempt; resolves with its outcome, or "crashed" if the process dies first. */
  run(message: ExecuteMessage, onEvents: (events: RunEvent[]) => void): Promise<AttemptOutcome>;
  cancel(): void;
  stop(): Promise<void>;
}

/** The runners of one version's bundle. */
export interface RunnerPool {
  /** Its runners restore checkpointed runs (the Docker runner with CRIU, docs/checkpoints.md). */
  readonly restoresCheckpoints?: boolean;
  /** A runner for the machine size, whose environment carries `variables` (the environment's, see docs/envvars.md). */
  acquire(machine?: string, variables?: VariableSet): AttemptRunner;
  /** Back to the pool, or stopped when its state can no longer be trusted. */
  release(runner: AttemptRunner, recycle?: boolean): Promise<void>;
  close(): Promise<void>;
}

export type RunnerKind = "process" | "docker";

export function runnerKind(env: NodeJS.ProcessEnv): RunnerKind {
  const kind = env.RATCHET_RUNNER ?? "process";
  if (kind !== "process" && kind !== "docker") throw new Error(`RATCHET_RUNNER must be "process" or "docker", not "${kind}"`);
  return kind;
}

/** Trigger.dev's machine presets: vCPUs and memory (MB). */
export const machinePresets: Record<string, { cpus: number; memoryMb: number }> = {
  micro: { cpus: 0.25, memoryMb: 256 },
  "small-1x": { cpus: 0.5, memoryMb: 512 },
  "small-2x": { cpus: 1, memoryMb: 1024 },
  "medium-1x": { cpus: 1, memoryMb: 2048 },
  "medium-2x": { cpus: 2, memoryMb: 4096 },
  "large-1x": { cpus: 4, memoryMb: 8192 },
  "large-2x": { cpus: 8, memoryMb: 16384 },
};

/** The pool for a version's bundle, of the runner the environment names. */
/** The per-host cap on a Docker runner's containers (RATCHET_RUNNER_MAX_CONTAINERS), or null. */
export function maxContainers(env: NodeJS.ProcessEnv, flag?: string): number | null {
  const value = flag ?? env.RATCHET_RUNNER_MAX_CONTAINERS;
  if (value === undefined || value === "") return null;
  const cap = Number(value);
  if (!Number.isInteger(cap) || cap < 1) throw new Error(`The container cap (--max-containers / RATCHET_RUNNER_MAX_CONTAINERS) must be a positive whole number, not "${value}"`);
  return cap;
}

/**
 * The pool for a version's bundle, of the runner the environment names. `image` (with `version`):
 * the deployment's own image, which the Docker runner then runs instead of mounting the project.
 */
export async function createRunnerPool(
  env: NodeJS.ProcessEnv,
  options: { projectRoot: string; local?: Record<string, string>; image?: string | null; version?: string },
): Promise<RunnerPool> {
  if (runnerKind(env) === "docker") {
    const { DockerRunnerPool } = await import("./runners/docker.ts");
    return DockerRunnerPool.create(env, options);
  }
  const { processRunnerPool } = await import("./runners/process.ts");
  return processRunnerPool(env, options.local);
}
