// The Docker runner: each attempt runs in its own container (dockerode), with the run's machine
// preset as the container's real limits (--cpus, --memory, no swap). The container runs the same
// executor as the process runner, speaking to the worker over its stdin/stdout; its other output is
// streamed to the worker's log. A container the kernel OOM-kills, or that vanishes (docker kill, a
// daemon restart), ends its attempt CRASHED with the reason, and the retry policy decides. Finished
// containers are removed; on start the runner removes the containers a previous run of it left.
// A version deployed as an image runs in that image (docker-layout.ts); containers run as a
// non-root user, on a network that reaches only the server's API by default (docker-network.ts).
import { noVariables, type VariableSet } from "../environment-variables.ts";
import { hostname } from "node:os";
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import type { RunEvent } from "../../sdk/runtime.ts";
import { dockerClient } from "../docker-client.ts";
import type { ExecuteMessage, FromChild } from "../messages.ts";
import { machinePresets, type AttemptOutcome, type AttemptRunner, type RunnerPool } from "../runner.ts";
import { encodeChannelLine, readChannelLines } from "../stdio-channel.ts";
import { imageLayout, mountedLayout, type ContainerLayout } from "./docker-layout.ts";
import { taskNetwork, withApiUrl } from "./docker-network.ts";
import { DockerCheckpoints, type AttemptHandle } from "./docker-checkpoints.ts";

const defaultImage = "node:24-bookworm-slim";
/** The official Node images' `node` user; any image runs as it (no entry in /etc/passwd needed). */
const defaultUser = "1000:1000";
const labels = { managed: "dev.ratchet.runner", run: "dev.ratchet.run" };

export interface DockerRunnerSettings {
  image: string;
  /** "host" reaches a server on the host's loopback; a user-defined network restricts more. */
  network: string;
  /** Which containers are this runner's, for reconciling on start. */
  runnerId: string;
  projectRoot: string;
  env: string[];
  layout: ContainerLayout;
  user: string;
}

/** Only the run's credentials and the variables named in RATCHET_DOCKER_ENV go into a container. */
function containerEnv(env: NodeJS.ProcessEnv): string[] {
  const named = new Set((env.RATCHET_DOCKER_ENV ?? "").split(",").map((name) => name.trim()).filter(Boolean));
  return Object.entries(env)
    .filter(([name, value]) => value !== undefined && (/^(RATCHET_|TRIGGER_)/.test(name) || named.has(name)))
    .map(([name, value]) => `${name}=${value}`);
}

/**
 * The container's environment: the environment's variables (docs/envvars.md), then the runner's
 * own settings and the run's credentials over them, so a variable never replaces RATCHET_API_URL or the key.
 */
export function withVariables(own: string[], variables: VariableSet): string[] {
  const ownNames = new Set(own.map((entry) => entry.slice(0, entry.indexOf("="))));
  const fromEnvironment = Object.entries(variables.variables)
    .filter(([name]) => !ownNames.has(name) && !/^(RATCHET_|TRIGGER_)/.test(name))
    .map(([name, value]) => `${name}=${value}`);
  return [...fromEnvironment, ...own];
}

class DockerAttempt implements AttemptRunner {
  readonly machine: string;
  readonly #docker: Docker;
  readonly #settings: DockerRunnerSettings;
  #container: Docker.Container | null = null;
  #stdin: NodeJS.WritableStream | null = null;
  #alive = true;

  readonly #env: string[];
  readonly #checkpoints: DockerCheckpoints;

  constructor(docker: Docker, settings: DockerRunnerSettings, machine: string, env: string[], checkpoints: DockerCheckpoints) {
    this.#env = env;
    this.#checkpoints = checkpoints;
    this.#docker = docker;
    this.#settings = settings;
    this.machine = machine;
  }

  get alive(): boolean {
    return this.#alive;
  }

  run(message: ExecuteMessage, onEvents: (events: RunEvent[]) => void): Promise<AttemptOutcome> {
    return this.#run(message, onEvents).catch((error: unknown) => {
      this.#alive = false;
      return { kind: "crashed", code: null, signal: null, retryable: true, reason: `could not run in a container: ${(error as Error).message}` };
    });
  }

  async #run(message: ExecuteMessage, onEvents: (events: RunEvent[]) => void): Promise<AttemptOutcome> {
    const preset = machinePresets[this.machine] ?? machinePresets["small-1x"]!;
    const memory = preset.memoryMb * 1024 * 1024;
    const runId = message.ctx.run.id;
    // Checkpoints (docs/checkpoints.md): a resumed run is restored where it stopped, else replays.
    const handle: AttemptHandle = {
      message,
      onEvents,
      labels: { [labels.managed]: this.#settings.runnerId, [labels.run]: runId },
      bind: (bound, stdin) => ((this.#container = bound), (this.#stdin = stdin)),
      log: (line) => process.stderr.write(`[${runId}] ${line}\n`),
    };
    const restored = await this.#checkpoints.resume(handle);
    if (restored) {
      await this.stop();
      return restored;
    }
    const container = await this.#docker.createContainer({
      Image: this.#settings.image,
      // The heap may use the whole limit: the kernel's OOM kill at the container's limit is what ends it.
      Entrypoint: ["node"],
      Cmd: [`--max-old-space-size=${preset.memoryMb}`, this.#settings.layout.executor, "--stdio"],
      Env: this.#env,
      User: this.#settings.user,
      WorkingDir: this.#settings.layout.workingDir,
      Labels: { [labels.managed]: this.#settings.runnerId, [labels.run]: runId },
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: {
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: Math.round(preset.cpus * 1e9),
        NetworkMode: this.#settings.network,
        SecurityOpt: this.#checkpoints.securityOpt(),
        // None for a version's image; else Ratchet's code and the project, read-only at the same paths.
        Binds: this.#settings.layout.binds,
      },
    });
    this.#container = container;
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    this.#stdin = stream;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    container.modem.demuxStream(stream, stdout, stderr);
    const log = (line: string) => process.stderr.write(`[${runId}] ${line}\n`);
    let tap: ((reply: FromChild) => void) | null = null;
    let checkpointing: Promise<AttemptOutcome> | null = null;
    const result = new Promise<AttemptOutcome | null>((resolve) => {
      readChannelLines<FromChild>(
        stdout,
        (reply) => {
          if (tap) return tap(reply);
          if (reply.type === "events") onEvents(reply.events);
          if (reply.type === "result") resolve(reply.result);
          // The process waits long: the checkpoint code drives the attempt from here on.
          if (reply.type === "checkpoint") resolve((checkpointing = this.#checkpoints.takeOver({ container, stdin: stream, exited, tap: (handler) => (tap = handler) }, handle)));
        },
        () => resolve(null),
        log,
      );
    });
    readChannelLines<never>(stderr, () => {}, () => {}, log);
    // "next-exit": a created container is "not running" already, and the default wait would return at once.
    const exited = container.wait({ condition: "next-exit" }).then(
      (status: { StatusCode: number }) => status.StatusCode,
      () => null,
    );
    await container.start();
    stream.write(encodeChannelLine(this.#checkpoints.prepare(this.#settings.layout.bundle ? { ...message, bundle: this.#settings.layout.bundle } : message)));
    // A checkpoint stops the container: its exit is then the checkpoint code's to judge.
    const first = await Promise.race([result, exited.then(() => checkpointing ?? null)]);
    if (first) {
      await this.stop();
      return first;
    }
    // The container ended before answering: say why, from what Docker saw.
    const code = await exited;
    const state = await container.inspect().then((info) => info.State, () => null);
    this.#alive = false;
    await container.remove({ force: true }).catch(() => {});
    // Whatever took the container, the task's retry policy decides whether it runs again.
    if (state?.OOMKilled) return { kind: "crashed", code, signal: null, oomKilled: true, retryable: true };
    if (!state) return { kind: "crashed", code, signal: null, retryable: true, reason: "vanished with its container (removed, or the Docker daemon restarted)" };
    if (code === 137) return { kind: "crashed", code, signal: "SIGKILL", retryable: true, reason: "was killed with its container (SIGKILL: docker kill, or the daemon stopping it)" };
    return { kind: "crashed", code, signal: null, retryable: true, reason: `exited with code ${code} in its container` };
  }

  cancel(): void {
    if (this.#alive) this.#stdin?.write(encodeChannelLine({ type: "cancel" }));
  }

  async stop(): Promise<void> {
    this.#alive = false;
    const container = this.#container;
    this.#container = null;
    this.#stdin?.end();
    if (container) await container.remove({ force: true }).catch(() => {});
  }
}

let reconciled: Promise<number> | undefined;

/** A container per attempt: nothing is reused, so nothing of one run leaks into the next. */
export class DockerRunnerPool implements RunnerPool {
  readonly #docker: Docker;
  readonly #settings: DockerRunnerSettings;
  readonly #running = new Set<DockerAttempt>();
  readonly #checkpoints: DockerCheckpoints;

  private constructor(docker: Docker, settings: DockerRunnerSettings, checkpoints: DockerCheckpoints) {
    this.#docker = docker;
    this.#settings = settings;
    this.#checkpoints = checkpoints;
  }

  get restoresCheckpoints(): boolean {
    return this.#checkpoints.restores;
  }

  /** `image`/`version`: a deployed version's own image; without them, RATCHET_DOCKER_IMAGE with the project mounted. */
  static async create(env: NodeJS.ProcessEnv, options: { projectRoot: string; image?: string | null; version?: string }): Promise<DockerRunnerPool> {
    const docker = dockerClient(env);
    const layout =
      options.image && options.version ? await imageLayout(docker, options.image, options.version) : mountedLayout(env.RATCHET_DOCKER_IMAGE ?? defaultImage, options.projectRoot);
    const network = await taskNetwork(docker, env);
    const settings: DockerRunnerSettings = {
      image: layout.image,
      network: network.name,
      runnerId: env.RATCHET_RUNNER_ID ?? hostname(),
      projectRoot: options.projectRoot,
      env: withApiUrl(containerEnv(env), network.apiUrl),
      layout,
      user: env.RATCHET_DOCKER_USER || defaultUser,
    };
    const pool = new DockerRunnerPool(docker, settings, await DockerCheckpoints.forProcess(docker, env, settings.user));
    // Once per worker process: a later version's pool must not remove an earlier one's containers.
    reconciled ??= pool.reconcile();
    await reconciled;
    return pool;
  }

  /**
   * Removes this runner's containers left from before (it holds no runs yet): their attempts were
   * lost with the previous worker and the server retries them when their leases expire.
   */
  async reconcile(): Promise<number> {
    const stale = await this.#docker.listContainers({ all: true, filters: { label: [`${labels.managed}=${this.#settings.runnerId}`] } });
    await Promise.all(stale.map((info) => this.#docker.getContainer(info.Id).remove({ force: true }).catch(() => {})));
    return stale.length;
  }

  /** The bundle's URL inside the containers when they run a version's image. */
  get bundleUrl(): string | null {
    return this.#settings.layout.bundle;
  }

  acquire(machine = "small-1x", variables: VariableSet = noVariables): AttemptRunner {
    const attempt = new DockerAttempt(this.#docker, this.#settings, machine in machinePresets ? machine : "small-1x", withVariables(this.#settings.env, variables), this.#checkpoints);
    this.#running.add(attempt);
    return attempt;
  }

  async release(runner: AttemptRunner): Promise<void> {
    this.#running.delete(runner as DockerAttempt);
    await runner.stop();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#running].map((attempt) => attempt.stop()));
    this.#running.clear();
  }
}
