// Docker and Compose as the self-host suite drives them: the real CLIs, as a user types them.
import { spawn } from "node:child_process";

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; rejects when it exits non-zero, with its output. */
export async function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean } = {}): Promise<CommandResult> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((done) => {
    child.once("error", (error) => {
      stderr += error.message;
      done(null);
    });
    child.once("exit", (exitCode) => done(exitCode));
  });
  if (code !== 0 && !options.allowFailure) {
    throw new Error(`${command} ${args.join(" ")} exited with ${code}:\n${stdout}\n${stderr}`);
  }
  return { code, stdout, stderr };
}

/** Why Docker cannot be used here, or null when a daemon answers. */
export async function dockerUnavailable(): Promise<string | null> {
  const info = await run("docker", ["info", "--format", "{{.ServerVersion}}"], { allowFailure: true });
  if (info.code === null) return "the docker CLI is not installed (on Debian as root: bash docker/ci-setup.sh)";
  if (info.code !== 0) return `no Docker daemon answers (${info.stderr.trim().split("\n")[0]}); on Debian as root: bash docker/ci-setup.sh`;
  if ((await composeCommand()) === null) return "neither `docker compose` nor `docker-compose` is installed";
  return null;
}

/** `docker compose` (the v2 plugin) when installed, else the standalone `docker-compose`. */
export async function composeCommand(): Promise<string[] | null> {
  if ((await run("docker", ["compose", "version"], { allowFailure: true })).code === 0) return ["docker", "compose"];
  if ((await run("docker-compose", ["version"], { allowFailure: true })).code === 0) return ["docker-compose"];
  return null;
}

/** Health of a container as its HEALTHCHECK reports it: starting, healthy, unhealthy, or none. */
export async function containerHealth(containerId: string): Promise<string> {
  const { stdout } = await run("docker", ["inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", containerId]);
  return stdout.trim();
}
