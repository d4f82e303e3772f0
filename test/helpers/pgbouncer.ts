// Debian's PgBouncer (/usr/sbin/pgbouncer) started for real in front of one database, in
// transaction mode: for test/pgbouncer.test.ts and bench/scale-simulation.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "../../server/db/scratch.ts";

export const pgbouncerBinary = "/usr/sbin/pgbouncer";

export const pgbouncerInstalled = () => existsSync(pgbouncerBinary);

export interface Bouncer {
  child: ChildProcess;
  /** The database through PgBouncer (named `ratchet` there). */
  url: string;
  /** PgBouncer's admin console (`SHOW STATS`). */
  adminUrl: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startPgbouncer(
  databaseUrl: string,
  options: { defaultPoolSize?: number; maxClientConn?: number } = {},
): Promise<Bouncer> {
  const target = new URL(databaseUrl);
  const dir = await mkdtemp("/tmp/ratchet-pgbouncer-");
  const port = await freePort();
  const user = decodeURIComponent(target.username);
  await writeFile(
    join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      // No password at all when the server trusts local connections (an empty `password=` is a syntax error).
      `ratchet = host=${target.hostname} port=${target.port} dbname=${target.pathname.slice(1)} user=${user}${target.password ? ` password=${decodeURIComponent(target.password)}` : ""}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = any",
      `admin_users = ${user}`,
      "pool_mode = transaction",
      // Few server connections for many clients: transactions really are handed around.
      `default_pool_size = ${options.defaultPoolSize ?? 6}`,
      `max_client_conn = ${options.maxClientConn ?? 400}`,
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  // PgBouncer refuses to run as root.
  const asRoot = userInfo().uid === 0;
  await chmod(dir, 0o755);
  if (asRoot) await chown(dir, ...(await postgresIds()));
  const command = asRoot ? ["runuser", "-u", "postgres", "--", pgbouncerBinary] : [pgbouncerBinary];
  const child = spawn(command[0]!, [...command.slice(1), join(dir, "pgbouncer.ini")], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/process up/.test(output)) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`pgbouncer exited (${code}):\n${output}`)));
  });
  const credentials = target.password ? `${target.username}:${target.password}` : target.username;
  return {
    child,
    dir,
    url: `postgres://${credentials}@127.0.0.1:${port}/ratchet`,
    adminUrl: `postgres://${credentials}@127.0.0.1:${port}/pgbouncer`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresIds(): Promise<[number, number]> {
  const output = await new Promise<string>((resolve) => {
    const child = spawn("id", ["postgres"]);
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.once("exit", () => resolve(text));
  });
  const uid = /uid=(\d+)/.exec(output)?.[1];
  const gid = /gid=(\d+)/.exec(output)?.[1];
  if (!uid || !gid) throw new Error("no postgres user to run pgbouncer as");
  return [Number(uid), Number(gid)];
}
