// ratchet.config.ts (or trigger.config.ts): where the task files are and the project's defaults.
import type { RetryOptions } from "./task.ts";

export interface ProjectConfig {
  /** The project's ref (proj_…); informational: the secret key decides the environment. */
  project?: string;
  /** Folders holding task files, relative to the config file. Default: ["trigger"]. */
  dirs?: string[];
  retries?: { default?: RetryOptions };
  /** Default maxDuration in seconds for tasks that set none. */
  maxDuration?: number;
  /** How many attempts one worker runs at once. Default 10. */
  concurrency?: number;
  /** Waits up to this many ms keep the run's process; longer ones suspend it. Default 5000. */
  waitInProcessMs?: number;
  /** `ratchet deploy`: the project's own Dockerfile (relative to the config file) instead of the generated one. */
  deploy?: { dockerfile?: string };
  /**
   * OpenTelemetry instrumentations (`new UndiciInstrumentation()`, …) enabled in each attempt process
   * on the run-trace TracerProvider, so what they record lands in the run's trace.
   */
  instrumentations?: InstrumentationLike[];
}

/** What Ratchet needs of an `@opentelemetry/instrumentation` instance. */
export interface InstrumentationLike {
  instrumentationName: string;
  setTracerProvider(provider: unknown): void;
  enable(): void;
}

export function defineConfig(config: ProjectConfig): ProjectConfig {
  return config;
}
