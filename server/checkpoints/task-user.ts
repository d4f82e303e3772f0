// Whether CRIU on this host can dump a task running as a given user. CRIU reads every dumped
// process's rlimits with prlimit(2), and the kernel lets it read those of a process of another uid
// only with CAP_SYS_RESOURCE. Some hosts (sandboxed VMs) drop that capability from the bounding set
// of every process, root's included: there CRIU dumps tasks running as root only, and a non-root
// task's dump fails with "Can't get rlimit 0: Operation not permitted" (Docker: "criu failed: type
// NOTIFY"). Knowing it at start lets the runner replay such tasks at once, saying why, instead of
// freezing each one for a dump that cannot succeed.
import { readFileSync } from "node:fs";

const capSysResource = 24n;

/** Whether a `/proc/<pid>/status` says the process's capability bounding set lacks CAP_SYS_RESOURCE. */
export function boundingSetLacksSysResource(status: string): boolean {
  const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!bounding) return false;
  return (BigInt(`0x${bounding}`) & (1n << capSysResource)) === 0n;
}

/** A Docker `User` value (`uid[:gid]` or a name) that is not root. */
export function isNonRootUser(user: string): boolean {
  const name = user.split(":")[0]!.trim();
  return name !== "" && name !== "0" && name !== "root";
}

/**
 * The status of the Docker daemon's process, whose capabilities runc and CRIU inherit; null when it
 * cannot be seen from here (a runner in a container, another pid file): then the dump is simply tried.
 */
function daemonStatus(pidFile = "/var/run/docker.pid"): string | null {
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "dockerd") return null;
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
}

/** Why CRIU cannot dump a task running as `user` on this host, or null when nothing says it cannot. */
export function criuCannotDumpUser(user: string, status: () => string | null = daemonStatus): string | null {
  if (!isNonRootUser(user)) return null;
  const daemon = status();
  if (!daemon || !boundingSetLacksSysResource(daemon)) return null;
  return `CRIU cannot dump a task running as user ${user} on this host: the Docker daemon's capability bounding set lacks CAP_SYS_RESOURCE, which reading the rlimits of another uid's process needs (run tasks as root with RATCHET_DOCKER_USER=0:0 to checkpoint here)`;
}
