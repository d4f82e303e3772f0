// The process runner: attempts run in warm child processes of the worker (worker/attempt-process.ts),
// one per machine size, with the preset's memory as the V8 heap limit.
import { AttemptPool } from "../attempt-process.ts";
import type { RunnerPool } from "../runner.ts";

export function processRunnerPool(env: NodeJS.ProcessEnv, local: Record<string, string> = {}): RunnerPool {
  return new AttemptPool(env, local);
}
