// What of a container a restore needs to recreate it: the same image, command, environment and
// mounts. The writable layer is not carried (state on disk that must survive lives in mounts).
import { join } from "node:path";
import type Docker from "dockerode";

export function containerConfigOf(inspect: Docker.ContainerInspectInfo): Record<string, unknown> {
  const { Config: c, HostConfig: h } = inspect;
  return {
    Cmd: c.Cmd,
    Entrypoint: c.Entrypoint,
    Env: c.Env,
    WorkingDir: c.WorkingDir,
    User: c.User,
    Labels: c.Labels,
    // The same stdio: CRIU hands the restored process the new container's pipes in their place.
    OpenStdin: c.OpenStdin,
    StdinOnce: c.StdinOnce,
    AttachStdin: c.AttachStdin,
    AttachStdout: c.AttachStdout,
    AttachStderr: c.AttachStderr,
    Tty: c.Tty,
    HostConfig: {
      Binds: h.Binds,
      SecurityOpt: h.SecurityOpt,
      Mounts: h.Mounts,
      NetworkMode: h.NetworkMode,
      Memory: h.Memory,
      MemorySwap: h.MemorySwap,
      NanoCpus: h.NanoCpus,
    },
  };
}

/** Where dockerd keeps a container's checkpoints (what `docker start --checkpoint` reads). */
export function checkpointDirectory(dockerRoot: string, containerId: string, name: string): string {
  return join(dockerRoot, "containers", containerId, "checkpoints", name);
}
