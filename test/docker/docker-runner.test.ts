// The Docker runner (RATCHET_RUNNER=docker): a worker runs each attempt in its own container, with the
// task's machine preset as the container's memory and CPU limits. Needs a Docker daemon
// (`bash docker/ci-setup.sh`); without one the suite says why and skips.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "../helpers/app.ts";
import { dockerUnavailable, run } from "../helpers/docker.ts";
import { httpApiOk } from "../helpers/http-api.ts";
import { projectRoot } from "../helpers/server-process.ts";
import { startWorker, type Worker } from "../helpers/worker-process.ts";

const unavailable = await dockerUnavailable();
if (unavailable) console.log(`Docker runner suite skipped: ${unavailable}`);

const tasksSource = `import { existsSync, readFileSync } from "node:fs";
import { task } from "ratchet/sdk";

const limitFile = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"].find((file) => existsSync(file));

export const limits = task({
  id: "limits",
  machine: "micro",
  run: async () => ({
    bodyStartedAtMs: Date.now(),
    inContainer: existsSync("/.dockerenv"),
    uid: process.getuid?.() ?? null,
    memoryLimit: limitFile ? readFileSync(limitFile, "utf8").trim() : null,
    greeting: process.env.GREETING ?? null,
    apiUrl: process.env.RATCHET_API_URL ?? null,
    api: await fetch(process.env.RATCHET_API_URL + "/healthz").then((response) => response.status, (error) => String(error)),
  }),
});

export const sleeps = task({
  id: "sleeps",
  run: async () => {
    await new Promise((resolve) => setTimeout(resolve, 120_000));
  },
});

export const hog = task({
  id: "hog",
  machine: "micro",
  retry: { maxAttempts: 1 },
  run: async () => {
    const held: Buffer[] = [];
    for (;;) held.push(Buffer.alloc(16 * 1024 * 1024, 1));
  },
});
`;

describe("the Docker runner", { skip: unavailable ?? false }, () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker;
  const runnerId = `ratchet-test-${randomBytes(4).toString("hex")}`;
  const api = httpApiOk(() => url, () => key);
  const waitForRun = async (id: string, statuses = ["COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE"]) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const found = await api("GET", `/api/v3/runs/${id}`);
      if (statuses.includes(found.status)) return found;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${found.status}:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const containersOfRunner = async () =>
    (await run("docker", ["ps", "-aq", "--filter", `label=dev.ratchet.runner=${runnerId}`])).stdout.trim().split("\n").filter(Boolean);

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const dir = join(projectRoot, ".ratchet", "test-projects", randomBytes(6).toString("hex"));
    await mkdir(join(dir, "trigger"), { recursive: true });
    await cp(join(projectRoot, "test/fixtures/project/ratchet.config.ts"), join(dir, "ratchet.config.ts"));
    await writeFile(join(dir, "trigger", "machines.ts"), tasksSource);
    // The environment's variables reach the container (Ratchet's own names are refused by the API).
    await api("POST", `/api/v1/projects/${t.project.ref}/envvars/dev`, { name: "GREETING", value: "from the environment" });
    // A container this runner left behind before: removed when the runner starts.
    await run("docker", ["create", "--label", `dev.ratchet.runner=${runnerId}`, "--label", "dev.ratchet.run=run_left_behind", "node:24-bookworm-slim", "true"]);
    assert.equal((await containersOfRunner()).length, 1);
    worker = startWorker(dir, {
      RATCHET_API_URL: url,
      RATCHET_SECRET_KEY: key,
      RATCHET_RUNNER: "docker",
      RATCHET_RUNNER_ID: runnerId,
      RATCHET_DOCKER_IMAGE: "node:24-bookworm-slim",
    });
    await worker.waitFor(/tasks registered as version/, 120_000);
  });
  after(async () => {
    await worker?.stop();
    await t?.close();
  });

  test("on start the runner removes the containers it left behind", async () => {
    assert.deepEqual(await containersOfRunner(), []);
  });

  test("a task runs in a container limited to its machine preset's memory, which is removed after", async () => {
    const { id } = await api("POST", "/api/v1/tasks/limits/trigger", { payload: {} });
    const done = await waitForRun(id);
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${worker.output()}`);
    assert.equal(done.output.inContainer, true);
    assert.equal(done.output.memoryLimit, String(256 * 1024 * 1024), "micro: 256 MB");
    assert.equal(done.output.greeting, "from the environment");
    assert.equal(done.output.uid, 1000, "not root");
    // The server listens on loopback: the container reaches it through the runner's relay on its network's gateway.
    assert.match(done.output.apiUrl, /^http:\/\/\d+\.\d+\.\d+\.\d+:\d+$/);
    assert.equal(done.output.api, 200, "the run's credentials: the server's URL, as the container reaches it");
    assert.deepEqual(await containersOfRunner(), [], "the finished container is removed");
  });

  test("runs in a row each get a fresh container (trigger to task body: printed for docs/benchmarks.md)", async () => {
    const coldStartsMs: number[] = [];
    for (let index = 0; index < 10; index += 1) {
      const { id } = await api("POST", "/api/v1/tasks/limits/trigger", { payload: {} });
      const done = await waitForRun(id);
      assert.equal(done.status, "COMPLETED");
      coldStartsMs.push(done.output.bodyStartedAtMs - Date.parse(done.createdAt));
    }
    const sorted = coldStartsMs.sort((a, b) => a - b);
    console.log(`Docker runner, trigger → task body in a new container: p50 ${sorted[4]} ms, max ${sorted[9]} ms (${sorted.join(", ")})`);
    assert.deepEqual(await containersOfRunner(), []);
  });

  test("a task allocating past its preset's memory is OOM-killed and ends CRASHED with the reason", async () => {
    const { id } = await api("POST", "/api/v1/tasks/hog/trigger", { payload: {} });
    const done = await waitForRun(id);
    assert.equal(done.status, "CRASHED");
    assert.match(done.error.message, /ran out of memory \(machine micro: killed by the kernel at the container's memory limit\)/);
    assert.deepEqual(await containersOfRunner(), []);
  });

  test("a container killed under its attempt ends the run CRASHED with the reason", async () => {
    const { id } = await api("POST", "/api/v1/tasks/sleeps/trigger", { payload: {} });
    await waitForRun(id, ["EXECUTING"]);
    let container = "";
    for (let tries = 0; !container && tries < 200; tries += 1) {
      container = (await run("docker", ["ps", "-q", "--filter", `label=dev.ratchet.run=${id}`])).stdout.trim();
      if (!container) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(container, "the attempt's container is labelled with its run");
    await run("docker", ["kill", container]);
    const done = await waitForRun(id);
    assert.equal(done.status, "CRASHED");
    assert.match(done.error.message, /was killed with its container/);
    assert.deepEqual(await containersOfRunner(), []);
  });
});
