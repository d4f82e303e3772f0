// Whether this host can checkpoint containers: CRIU 4+ that passes `criu check`, and a Docker
// daemon started with --experimental. Callers fall back to replay suspension and record the reason.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type Docker from "dockerode";

const run = promisify(execFile);

export type CriuAvailability = { ok: true; version: string } | { ok: false; reason: string };

export async function criuAvailable(docker: Docker): Promise<CriuAvailability> {
  let version: string;
  try {
    const { stdout } = await run("criu", ["--version"]);
    version = /Version:\s*(\S+)/.exec(stdout)?.[1] ?? "unknown";
  } catch {
    return { ok: false, reason: "criu is not installed on the runner host" };
  }
  if (Number.parseInt(version, 10) < 4) return { ok: false, reason: `criu ${version} is too old (4.x is needed on current kernels)` };
  try {
    await run("criu", ["check"]);
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split("\n").at(-1) ?? "";
    return { ok: false, reason: `criu check fails on this kernel${detail ? `: ${detail}` : ""}` };
  }
  try {
    const info = (await docker.info()) as { ExperimentalBuild?: boolean };
    if (!info.ExperimentalBuild) return { ok: false, reason: "the Docker daemon runs without --experimental (docker checkpoint is off)" };
  } catch (error) {
    return { ok: false, reason: `the Docker daemon does not answer: ${(error as Error).message}` };
  }
  return { ok: true, version };
}
