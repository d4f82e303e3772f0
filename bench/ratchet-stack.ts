// Ratchet for the scenarios that need more than compare.ts's single environment: the HTTP server in
// this process on a fresh database, any number of environments (one project each), and a
// `ratchet worker` child process per environment, since a worker serves the environment of its key.
import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import postgres from "postgres";
import { buildApp } from "../server/app.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { loadConfig } from "../server/config.ts";
import { connect, type Db } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import type { PacedStart } from "./scenarios/steady-rate.ts";
import { addProjectEnvironment, type SeededEnvironment } from "./seed.ts";
import { waitUntil } from "./wait.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

export interface RatchetWorker {
  pid: number;
  stop(): Promise<void>;
}

export interface RatchetStack {
  db: Db;
  /** A separate small pool for the benchmark's own reads, so they never queue behind the server's. */
  probe: postgres.Sql;
  apiUrl: string;
  /** The default project's prod environment, then one new project per further environment. */
  environments: SeededEnvironment[];
  startWorker(environment: SeededEnvironment, concurrency: number): Promise<RatchetWorker>;
  /** POSTs to the server's API with the environment's key; returns the JSON answer. */
  api(environment: SeededEnvironment, path: string, body: unknown): Promise<unknown>;
  trigger(environment: SeededEnvironment, task: string, payload: unknown): Promise<void>;
  /** HTTP requests the server answered since it started, by route (method and URL pattern). */
  requestCounts(): Map<string, number>;
  /** Pauses or resumes a task's queue (resuming wakes the environment's worker). */
  setQueuePaused(environment: SeededEnvironment, task: string, paused: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startRatchetStack(url: string, environmentCount: number): Promise<RatchetStack> {
  const db = connect({ url, poolSize: 10 });
  const probe = postgres(url, { max: 2, onnotice: () => {} });
  const workers: RatchetWorker[] = [];
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  const close = async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await app?.close();
    await db.close();
    await probe.end({ timeout: 5 });
  };
  try {
    await migrate(db.sql);
    const project = await tenancyBootstrap(db.sql);
    if (!project) throw new Error("a fresh database already had a project");
    await db.sql`update ratchet.environments set concurrency_limit = 1000`;
    const [first] = await db.sql<{ id: string }[]>`select id from ratchet.environments where project_id = ${project.id} and type = 'prod'`;
    const environments: SeededEnvironment[] = [{ id: first!.id, key: (await issueSecretKey(db.sql, { environment: "prod", projectRef: project.ref })).key, projectRef: project.ref }];
    for (let i = 1; i < environmentCount; i += 1) environments.push(await addProjectEnvironment(db.sql, `bench-${i}`));

    app = await buildApp({
      config: loadConfig({ DATABASE_URL: url, RATCHET_LOG_LEVEL: "silent" }),
      db,
      logger: pino({ level: "silent" }),
      sweeper: true,
    });
    const requests = new Map<string, number>();
    app.addHook("onResponse", async (request) => {
      const route = `${request.method} ${request.routeOptions.url ?? "?"}`;
      requests.set(route, (requests.get(route) ?? 0) + 1);
    });
    const apiUrl = await app.listen({ port: 0, host: "127.0.0.1" });
    const api = (environment: SeededEnvironment, path: string, body: unknown) => postJson(apiUrl, environment.key, path, body);

    return {
      db,
      probe,
      apiUrl,
      environments,
      async startWorker(environment, concurrency) {
        const worker = await spawnWorker(apiUrl, environment.key, concurrency);
        workers.push(worker);
        return worker;
      },
      api,
      requestCounts: () => new Map(requests),
      async trigger(environment, task, payload) {
        await api(environment, `/api/v1/tasks/${task}/trigger`, { payload });
      },
      async setQueuePaused(environment, task, paused) {
        await api(environment, `/api/v1/queues/${task}/pause`, { type: "task", action: paused ? "pause" : "resume" });
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

// Requests go over a bounded pool of kept-alive connections, as an SDK's would: a burst beyond it
// waits its turn here (and its latency counts that wait) instead of opening thousands of sockets.
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function postJson(apiUrl: string, key: string, path: string, body: unknown): Promise<unknown> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${apiUrl}${path}`,
      { method: "POST", agent, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((response.statusCode ?? 500) >= 300) reject(new Error(`POST ${path}: ${response.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end(payload);
  });
}

// The worker runs as an installed package runs it: compiled to JavaScript (dist/), built once per
// benchmark from the current sources. From the TypeScript sources (RATCHET_BENCH_WORKER=source, what
// `bin/ratchet.js` does in a checkout) every run process also loads Node's type stripper, about
// 30 MB more each.
let built: Promise<string> | null = null;
function workerEntry(): Promise<string> {
  if (process.env.RATCHET_BENCH_WORKER === "source") return Promise.resolve(join(root, "bin/ratchet.js"));
  built ??= new Promise((resolve, reject) => {
    const build = spawn(process.execPath, [join(root, "scripts/build.js")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    build.once("error", reject);
    build.once("exit", (code) => (code === 0 ? resolve(join(root, "dist/server/cli/main.js")) : reject(new Error(`npm run build exited with ${code}`))));
  });
  return built;
}

/** `ratchet worker --concurrency <n>` for the environment of `key`, once it has registered its tasks. */
async function spawnWorker(apiUrl: string, key: string, concurrency: number): Promise<RatchetWorker> {
  const env: NodeJS.ProcessEnv = { ...process.env, RATCHET_API_URL: apiUrl, RATCHET_SECRET_KEY: key };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, [await workerEntry(), "worker", "--concurrency", String(concurrency)], {
    cwd: join(root, "bench/project"),
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const onData = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  let gone = false;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (gone) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const state = await waitUntil("the Ratchet worker starting", async () => (gone ? "exited" : /tasks registered as version/.test(output)), (ok) => ok !== false, 60_000);
    if (state === "exited") throw new Error(`the Ratchet worker exited:\n${output}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: child.pid!, stop };
}

/** A payload or output as stored: the value itself, JSON text of it, or a serializer's envelope around it. */
export function unwrapPacket(value: unknown): unknown {
  if (typeof value === "string") {
    try {
      return unwrapPacket(JSON.parse(value));
    } catch {
      return value;
    }
  }
  if (value && typeof value === "object" && "json" in value) return unwrapPacket((value as { json: unknown }).json);
  return value;
}

export function unwrapNumber(value: unknown): number {
  const unwrapped = unwrapPacket(value);
  if (typeof unwrapped !== "number") throw new Error(`expected a number, got ${JSON.stringify(value)}`);
  return unwrapped;
}

/** Completed runs of a task in one environment (through the (environment, status) index). */
export async function completedRuns(probe: postgres.Sql, environmentId: string, task: string): Promise<number> {
  const [row] = await probe<{ n: string }[]>`
    select count(*) as n from ratchet.runs where environment_id = ${environmentId} and status = 'COMPLETED' and task_identifier = ${task}`;
  return Number(row!.n);
}

/**
 * Waits for `count` runs of the `paced` task in an environment to complete, then reads when each was
 * sent (its payload) and when its body started (its output).
 */
export async function pacedStarts(probe: postgres.Sql, environmentId: string, count: number, timeoutMs = 10 * 60_000): Promise<PacedStart[]> {
  await waitUntil("paced runs", () => completedRuns(probe, environmentId, "paced"), (n) => n >= count, timeoutMs);
  const rows = await probe<{ payload: string; output: string }[]>`
    select payload::text as payload, output::text as output from ratchet.runs
    where environment_id = ${environmentId} and status = 'COMPLETED' and task_identifier = 'paced'`;
  return rows.map((row) => ({ sent: (unwrapPacket(row.payload) as { t: number }).t, started: unwrapNumber(row.output) }));
}
