// Checkpoints wired into the Docker runner, for real: a worker (RATCHET_RUNNER=docker) runs a task
// that holds state in memory and in an open file, makes a side effect, then waits. The runner dumps
// its container with CRIU into one Postgres large object and the run is WAITING with no container;
// when the wait ends the checkpoint is restored into a new container and the same process goes on.
// Also: the restore by a restarted runner and after a server restart, a token completed through the
// API and one completed by a person on the dashboard (in Chromium), and the fallback to replay past
// the runner's cap and with RATCHET_CHECKPOINTS=off, noted on the run page. Needs dockerd --experimental and CRIU 4
// (`bash docker/ci-setup.sh` as root); without them the suite says why and skips.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import type { FastifyInstance } from "fastify";
import type { Browser, Page } from "playwright-core";
import { pino } from "pino";
import { buildApp } from "../../server/app.ts";
import { criuAvailable } from "../../server/checkpoints/criu.ts";
import { criuCannotDumpUser } from "../../server/checkpoints/task-user.ts";
import { freePort } from "../../server/db/scratch.ts";
import { fromPublicId } from "../../server/ids.ts";
import { restrictedNetworkName, taskNetwork } from "../../worker/runners/docker-network.ts";
import { createTestApp, type TestApp } from "../helpers/app.ts";
import { launchChromium, signUpFirstAdmin } from "../helpers/chromium.ts";
import { dockerUnavailable, run } from "../helpers/docker.ts";
import { httpApiOk } from "../helpers/http-api.ts";
import { projectRoot } from "../helpers/server-process.ts";
import { startWorker, type Worker } from "../helpers/worker-process.ts";

const dockerMissing = await dockerUnavailable();
const criu = dockerMissing ? null : await criuAvailable(new Docker());
const skip = dockerMissing ?? (criu && !criu.ok ? criu.reason : null);
if (skip) console.log(`Checkpointing runner suite skipped: ${skip}`);
const hostLacksSysResource = criuCannotDumpUser("1000:1000") !== null;

const tasksSource = `import { openSync, readSync } from "node:fs";
import { task, wait } from "ratchet/sdk";

const sideEffects = process.env.SIDE_EFFECT_URL;

export const remembers = task({
  id: "remembers",
  retry: { maxAttempts: 1 },
  run: async (payload: { seconds?: number; token?: boolean }) => {
    // State made before the wait: in memory, and the position of an open file.
    const random = Math.random().toString(36).slice(2);
    let counter = 0;
    const ticking = setInterval(() => (counter += 1), 20);
    const fd = openSync("/etc/os-release", "r");
    const head = Buffer.alloc(12);
    readSync(fd, head);
    await fetch(sideEffects + "/side-effect?random=" + random);
    const counterBefore = counter;
    let tokenOutput: unknown = null;
    if (payload.token) {
      const token = await wait.createToken({ timeout: "10m" });
      await fetch(sideEffects + "/token?id=" + token.id + "&random=" + random);
      tokenOutput = (await wait.forToken(token)).unwrap();
    } else {
      await wait.for({ seconds: payload.seconds ?? 5 });
    }
    const resumedAt = Date.now();
    const next = Buffer.alloc(12);
    readSync(fd, next);
    clearInterval(ticking);
    return { random, counterBefore, counterAfter: counter, file: head.toString() + next.toString(), tokenOutput, resumedAt };
  },
});
`;

describe("the Docker runner checkpoints long waits", { skip: skip ?? false }, () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let dir: string;
  let worker: Worker;
  let sideEffects: Server;
  let restarted: FastifyInstance | null = null;
  let chromium: Browser | null = null;
  let page: Page | null = null;
  const hits: Array<{ path: string; random: string; id?: string; from?: string }> = [];
  const runnerId = `ratchet-test-${randomBytes(4).toString("hex")}`;
  let gateway = "";
  let relayPort = 0;
  const api = httpApiOk(() => url, () => key);
  const sql = () => t.database.db.sql;

  const waitFor = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const finished = (id: string) =>
    waitFor(`run ${id} to finish`, async () => {
      const found = await api("GET", `/api/v3/runs/${id}`);
      return ["COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE"].includes(found.status) ? found : undefined;
    });
  const runUuid = (id: string) => fromPublicId("run", id)!;
  const checkpointsOf = async (id: string) => (await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.checkpoints where run_id = ${runUuid(id)}`)[0]!.n;
  const largeObjects = async () => (await sql()<{ n: number }[]>`select count(*)::int as n from pg_largeobject_metadata`)[0]!.n;
  const containersOf = async (id: string) => (await run("docker", ["ps", "-aq", "--filter", `label=dev.ratchet.run=${id}`])).stdout.trim().split("\n").filter(Boolean);
  const attemptOf = async (id: string) =>
    (await sql()<{ checkpoints: number; fallback: string | null }[]>`
      select checkpoints, checkpoint_fallback as fallback from ratchet.attempts where run_id = ${runUuid(id)} order by number desc limit 1`)[0]!;
  /** The run suspended with a checkpoint: WAITING, its container gone, one large object. */
  const checkpointed = (id: string) =>
    waitFor(`run ${id} to be checkpointed`, async () => {
      const found = await api("GET", `/api/v3/runs/${id}`);
      return found.status === "WAITING" && (await checkpointsOf(id)) === 1 ? true : undefined;
    });
  const startRunner = async (env: Record<string, string> = {}) => {
    worker = startWorker(dir, {
      RATCHET_API_URL: url,
      RATCHET_SECRET_KEY: key,
      // The default tasks network (ratchet-tasks, internal): the API through the runner's relay, on a
      // fixed port so that a container restored by a restarted runner finds it again.
      RATCHET_DOCKER_RELAY_PORT: String(relayPort),
      // CRIU needs CAP_SYS_RESOURCE to read the rlimits of a process of another uid (prlimit), and root
      // on a host whose capability bounding set lacks it (this machine) can dump only root's tasks:
      // see docs/checkpoints.md. Elsewhere the default non-root user dumps as well.
      ...(hostLacksSysResource ? { RATCHET_DOCKER_USER: "0:0" } : {}),
      RATCHET_RUNNER: "docker",
      RATCHET_RUNNER_ID: runnerId,
      RATCHET_DOCKER_IMAGE: "node:24-bookworm-slim",
      RATCHET_DOCKER_ENV: "SIDE_EFFECT_URL",
      SIDE_EFFECT_URL: `http://${gateway}:${(sideEffects.address() as AddressInfo).port}`,
      DATABASE_URL: t.database.url,
      RATCHET_CHECKPOINT_THRESHOLD_MS: "1000",
      ...env,
    });
    await worker.waitFor(/tasks registered as version/, 120_000);
  };
  const tokenOf = (random?: string) =>
    waitFor("the task to announce its token", async () => hits.find((hit) => hit.path === "/token" && (!random || hit.random === random))?.id);

  before(async () => {
    sideEffects = createServer((request, response) => {
      const parsed = new URL(request.url!, "http://localhost");
      hits.push({ path: parsed.pathname, random: parsed.searchParams.get("random")!, id: parsed.searchParams.get("id") ?? undefined, from: request.socket.remoteAddress });
      response.end("ok");
    });
    // The host as the tasks network sees it: its gateway, where the side effects are reported.
    const network = await taskNetwork(new Docker(), {});
    const info = (await new Docker().getNetwork(network.name).inspect()) as Docker.NetworkInspectInfo;
    gateway = info.IPAM!.Config!.find((config) => config.Gateway && !config.Gateway.includes(":"))!.Gateway!;
    await new Promise<void>((resolve) => sideEffects.listen(0, gateway, resolve));
    relayPort = await freePort();
    t = await createTestApp({ sweeper: true });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    dir = join(projectRoot, ".ratchet", "test-projects", randomBytes(6).toString("hex"));
    await mkdir(join(dir, "trigger"), { recursive: true });
    await cp(join(projectRoot, "test/fixtures/project/ratchet.config.ts"), join(dir, "ratchet.config.ts"));
    // Waits past half a second leave the process: they are checkpointed past the 1 s threshold.
    await writeFile(
      join(dir, "ratchet.config.ts"),
      `import { defineConfig } from "ratchet/sdk";\nexport default defineConfig({ dirs: ["trigger"], maxDuration: 300, concurrency: 5, waitInProcessMs: 500 });\n`,
    );
    await writeFile(join(dir, "trigger", "remembers.ts"), tasksSource);
    await startRunner();
  });
  /** A person signed in to the dashboard in Chromium (Ada, the first admin), started when first needed. */
  const dashboard = async (): Promise<Page> => {
    if (page) return page;
    chromium = await launchChromium();
    page = await chromium.newPage();
    await signUpFirstAdmin(page, t.database.db, url);
    return page;
  };
  const dashboardBase = () => `${url}/p/${t.project.ref}/dev`;

  after(async () => {
    await chromium?.close();
    await worker?.stop();
    for (const id of (await run("docker", ["ps", "-aq", "--filter", `label=dev.ratchet.runner=${runnerId}`])).stdout.trim().split("\n").filter(Boolean)) {
      await run("docker", ["rm", "-f", id], { allowFailure: true });
    }
    await restarted?.close();
    await t?.close();
    sideEffects?.close();
  });

  const assertSameProcess = (output: { random: string; counterBefore: number; counterAfter: number; file: string }) => {
    assert.equal(hits.filter((hit) => hit.path === "/side-effect" && hit.random === output.random).length, 1, "the side effect before the wait happened once");
    assert.equal(hits.filter((hit) => hit.path === "/side-effect").length, 1, "and no other execution made one");
    assert.ok(output.counterAfter > output.counterBefore, "the counter in memory went on");
    assert.equal(output.file, 'PRETTY_NAME="Debian GNU/', "the open file read on from where it was");
  };

  test("a long wait checkpoints the container into one large object; the same process resumes after it", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { seconds: 20 } });
    await checkpointed(id);
    assert.deepEqual(await containersOf(id), [], "no container while it waits");
    assert.equal(await largeObjects(), 1);
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assertSameProcess(done.output);
    assert.equal(await largeObjects(), 0, "the large object is unlinked once restored");
    assert.equal(await checkpointsOf(id), 0);
    assert.deepEqual(await attemptOf(id), { checkpoints: 1, fallback: null });
    assert.deepEqual(await containersOf(id), []);
  });

  test("restored while its old address on the tasks network is taken, the process redials and goes on", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { seconds: 20 } });
    await checkpointed(id);
    // The container's address is free again: another container takes it (labelled to be cleaned up).
    const squatter = (
      await run("docker", ["run", "-d", "--network", restrictedNetworkName, "--label", `dev.ratchet.runner=${runnerId}`, "debian:bookworm-slim", "sleep", "300"])
    ).stdout.trim();
    try {
      const taken = (await run("docker", ["inspect", "-f", `{{(index .NetworkSettings.Networks "${restrictedNetworkName}").IPAddress}}`, squatter])).stdout.trim();
      assert.equal(taken, hits.find((hit) => hit.path === "/side-effect")?.from, "the squatter holds the task's old address");
      const done = await finished(id);
      assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
      // Restored, not replayed: its connections came back closed (tcp-close) and the SDK redialled.
      assertSameProcess(done.output);
      assert.deepEqual(await attemptOf(id), { checkpoints: 1, fallback: null });
    } finally {
      await run("docker", ["rm", "-f", squatter], { allowFailure: true });
    }
  });

  let restoreMs = 0;
  test("a token completed through the API resumes a checkpointed run", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { token: true } });
    const token = await tokenOf();
    await checkpointed(id);
    const completedAt = Date.now();
    await api("POST", `/api/v1/waitpoints/tokens/${token}/complete`, { data: { approved: true } });
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assert.deepEqual(done.output.tokenOutput, { approved: true });
    assertSameProcess(done.output);
    restoreMs = done.output.resumedAt - completedAt;
    assert.equal(await largeObjects(), 0);
  });

  test("a token completed by a person on the dashboard resumes a checkpointed run", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { token: true } });
    const token = await tokenOf();
    await checkpointed(id);
    assert.deepEqual(await containersOf(id), [], "no container while it waits");
    const browser = await dashboard();
    await browser.goto(`${dashboardBase()}/runs/${id}`);
    await browser.locator("h1 .status", { hasText: "WAITING" }).waitFor();
    await browser.goto(`${dashboardBase()}/tokens`);
    const row = browser.locator(`tr[data-token="${token}"]`);
    await row.getByRole("link", { name: id }).waitFor();
    await row.getByLabel("Output (JSON)").fill('{"approvedBy": "Ada"}');
    await row.getByRole("button", { name: "Complete" }).click();
    await browser.locator(`tr[data-token="${token}"] .status`, { hasText: "COMPLETED" }).waitFor();
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assert.deepEqual(done.output.tokenOutput, { approvedBy: "Ada" });
    // Restored, not replayed: the side effect before the wait happened once, memory and file went on.
    assertSameProcess(done.output);
    assert.deepEqual(await attemptOf(id), { checkpoints: 1, fallback: null });
    assert.equal(await largeObjects(), 0, "the large object is unlinked once restored");
    await browser.goto(`${dashboardBase()}/runs/${id}`);
    await browser.locator("h1 .status", { hasText: "COMPLETED" }).waitFor();
  });

  test("a runner started afresh restores a run checkpointed by the one before", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { seconds: 20 } });
    await checkpointed(id);
    await worker.stop();
    await startRunner();
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assertSameProcess(done.output);
    assert.equal(await largeObjects(), 0);
  });

  test("a run checkpointed before the server restarted is restored after it", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { seconds: 20 } });
    await checkpointed(id);
    // The same database and port, a new server process's app; the worker redials.
    await t.app.close();
    restarted = await buildApp({ config: t.config, db: t.database.db, sweeper: true, logger: pino({ level: "silent" }) });
    await restarted.listen({ port: Number(new URL(url).port), host: "127.0.0.1" });
    t.app = restarted;
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assertSameProcess(done.output);
    assert.equal(await largeObjects(), 0);
  });

  test("a checkpoint that cannot be restored is dropped and the run replays, saying why", async () => {
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { seconds: 20 } });
    await checkpointed(id);
    // The stored image damaged: its gzip header overwritten.
    await sql()`select lo_put(lo_oid, 0, '\\x00000000'::bytea) from ratchet.checkpoints where run_id = ${runUuid(id)}`;
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assert.equal(hits.filter((hit) => hit.path === "/side-effect").length, 2, "replayed from the top");
    assert.match((await attemptOf(id)).fallback ?? "", /restoring the checkpoint failed: .*; replayed/);
    assert.equal(await largeObjects(), 0);
    assert.deepEqual(await containersOf(id), []);
  });

  /** A runner started afresh with `env` takes a token-waiting run, which suspends with no checkpoint and no container. */
  const waitingByReplay = async (env: Record<string, string>) => {
    await worker.stop();
    await startRunner(env);
    hits.length = 0;
    const { id } = await api("POST", "/api/v1/tasks/remembers/trigger", { payload: { token: true } });
    const token = await tokenOf();
    await waitFor("the run to wait", async () => ((await api("GET", `/api/v3/runs/${id}`)).status === "WAITING" ? true : undefined));
    assert.equal(await checkpointsOf(id), 0, "no checkpoint kept");
    await waitFor("replay suspension to end the container too", async () => ((await containersOf(id)).length === 0 ? true : undefined));
    return { id: id as string, token };
  };

  test("a checkpoint over the runner's cap is refused, the run suspends by replay, says why, and completes", async () => {
    // An attempt's packed checkpoint is about 13 MB: a cap of 1 MiB refuses it after the dump.
    const { id, token } = await waitingByReplay({ RATCHET_CHECKPOINT_MAX_MB: "1" });
    assert.equal(await largeObjects(), 0, "the refused checkpoint's large object was rolled back");
    await api("POST", `/api/v1/waitpoints/tokens/${token}/complete`, { data: { capped: true } });
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assert.deepEqual(done.output.tokenOutput, { capped: true });
    assert.equal(hits.filter((hit) => hit.path === "/side-effect").length, 2, "replay runs the code before the wait again");
    const attempt = await attemptOf(id);
    assert.equal(attempt.checkpoints, 0);
    assert.match(attempt.fallback ?? "", /checkpoint failed: the packed checkpoint exceeds the cap of 1048576 bytes per checkpoint/);
  });

  test("with RATCHET_CHECKPOINTS=off the run suspends by replay, notes why, and completes", async () => {
    const { id, token } = await waitingByReplay({ RATCHET_CHECKPOINTS: "off" });
    const completedAt = Date.now();
    await api("POST", `/api/v1/waitpoints/tokens/${token}/complete`, { data: { approved: false } });
    const done = await finished(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assert.deepEqual(done.output.tokenOutput, { approved: false });
    assert.equal(hits.filter((hit) => hit.path === "/side-effect").length, 2, "replay runs the code before the wait again");
    const replayMs = done.output.resumedAt - completedAt;
    const attempt = await attemptOf(id);
    assert.equal(attempt.checkpoints, 0);
    assert.match(attempt.fallback ?? "", /RATCHET_CHECKPOINTS=off/);

    const browser = await dashboard();
    await browser.goto(`${dashboardBase()}/runs/${id}`);
    await browser.locator("td", { hasText: /replay: checkpoints are off on this runner \(RATCHET_CHECKPOINTS=off\)/ }).first().waitFor();
    console.log(`token completed → task running again: restore ${restoreMs} ms, replay ${replayMs} ms`);
  });
});
