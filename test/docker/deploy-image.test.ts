// `ratchet deploy` with a Docker daemon: a fresh project outside this repository is built into an
// image (deployment BUILDING → DEPLOYED with the image recorded), and `ratchet runner` runs each
// attempt in a container of its version's image: as a non-root user, on the restricted network
// (the server's API through the runner's relay, nothing else), under the per-host container cap.
// A crashed container is retried by the task's policy, and a run that waited resumes on its pinned
// version after a newer one is promoted. A build that fails leaves the deployment FAILED with the
// build log's tail. Needs a Docker daemon (`bash docker/ci-setup.sh`).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { fromPublicId } from "../../server/ids.ts";
import { createTestApp, type TestApp } from "../helpers/app.ts";
import { dockerUnavailable } from "../helpers/docker.ts";
import { httpApiOk } from "../helpers/http-api.ts";
import { runCli } from "../helpers/server-process.ts";
import { startWorker, type Worker } from "../helpers/worker-process.ts";

const unavailable = await dockerUnavailable();
if (unavailable) console.log(`Deploy image suite skipped: ${unavailable}`);

const cap = 2;
const tasksSource = (word: string) => `import { existsSync } from "node:fs";
import { task, wait } from "ratchet/sdk";

export const where = task({
  id: "where",
  machine: "micro",
  run: async () => {
    const bodyStartedAtMs = Date.now();
    return {
    word: ${JSON.stringify(word)},
    inContainer: existsSync("/.dockerenv"),
    uid: process.getuid?.() ?? null,
    bundle: import.meta.url,
    apiUrl: process.env.RATCHET_API_URL ?? null,
    api: await fetch(process.env.RATCHET_API_URL + "/healthz").then((response) => response.status, (error) => String(error)),
    internet: await fetch("http://1.1.1.1", { signal: AbortSignal.timeout(1500) }).then(() => "reached", () => "unreachable"),
    bodyStartedAtMs,
    };
  },
});

export const crashesOnce = task({
  id: "crashes-once",
  machine: "micro",
  retry: { maxAttempts: 2, minTimeoutInMs: 100, maxTimeoutInMs: 100 },
  run: async (_payload: unknown, { ctx }: { ctx: { attempt: { number: number } } }) => {
    if (ctx.attempt.number === 1) process.exit(3);
    return "the second attempt";
  },
});

export const holds = task({
  id: "holds",
  machine: "micro",
  run: async () => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return "held";
  },
});

export const waits = task({
  id: "waits",
  machine: "micro",
  run: async () => {
    await wait.for({ seconds: 8 });
    return ${JSON.stringify(word)};
  },
});
`;

describe("ratchet deploy builds the version's image, and ratchet runner runs it", { skip: unavailable ?? false }, () => {
  const docker = new Docker();
  let t: TestApp;
  let url: string;
  let key: string;
  let dir: string;
  let runner: Worker;
  const runnerId = `ratchet-test-${randomBytes(4).toString("hex")}`;
  const api = httpApiOk(() => url, () => key);
  const deployCli = (version: string) => runCli(["deploy", "--env", "prod", "--as-version", version], { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }, dir);
  const waitForRun = async (id: string, statuses = ["COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE"]) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const found = await api("GET", `/api/v3/runs/${id}`);
      if (statuses.includes(found.status)) return found;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${found.status}:\n${runner?.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const trigger = async (taskId: string) => (await api("POST", `/api/v1/tasks/${taskId}/trigger`, { payload: {} })).id as string;

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("prod");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    // Outside this repository: nothing of Ratchet's is installed there, the image holds it all.
    dir = await mkdtemp(join(tmpdir(), "ratchet-deploy-image-"));
    await mkdir(join(dir, "trigger"));
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "deploy-image-test", private: true, type: "module" }));
    await writeFile(join(dir, "ratchet.config.ts"), `import { defineConfig } from "ratchet/sdk";\nexport default defineConfig({ dirs: ["trigger"], maxDuration: 300 });\n`);
    await writeFile(join(dir, "trigger", "tasks.ts"), tasksSource("one"));
  });
  after(async () => {
    await runner?.stop();
    const images = await docker.listImages({ filters: { label: [`dev.ratchet.project=${t.project.ref}`] } });
    for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("deploy builds an image, records it on the deployment and promotes it", async () => {
    const result = await deployCli("1.0.0");
    assert.equal(result.code, 0, result.stderr);
    const deployment = await api("GET", "/api/v1/deployments/current");
    assert.equal(deployment.version, "1.0.0");
    assert.equal(deployment.status, "DEPLOYED");
    assert.equal(deployment.imageReference, `ratchet-deploy/${t.project.ref}-prod:1.0.0`.toLowerCase());
    const image = await docker.getImage(deployment.imageReference).inspect();
    assert.equal(image.Config.User, "node");
    console.log(`Deployed hello-world image: ${(image.Size / 1e6).toFixed(0)} MB (${deployment.imageReference})`);

    runner = startWorker(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key, RATCHET_RUNNER_ID: runnerId }, "runner", "5", ["--max-containers", String(cap), "--refresh", "1"]);
    await runner.waitFor(/serving version 1\.0\.0/, 60_000);
  });

  test("a run executes in a container of the version's image, as a non-root user, reaching the API and nothing else", async () => {
    const done = await waitForRun(await trigger("where"));
    assert.equal(done.status, "COMPLETED", `${JSON.stringify(done.error)}\n${runner.output()}`);
    assert.equal(done.output.inContainer, true);
    assert.equal(done.output.word, "one");
    assert.equal(done.output.bundle, "file:///app/.ratchet/deployments/1.0.0.mjs", "the bundle inside the image, not a mounted one");
    assert.notEqual(done.output.uid, 0);
    assert.notEqual(done.output.apiUrl, url, "the API's address as the container sees it");
    assert.equal(done.output.api, 200, "the server's API is reachable");
    assert.equal(done.output.internet, "unreachable");
    assert.equal(done.version, "1.0.0");
  });

  test("trigger to task body in a new container of the image (figures for docs/benchmarks.md)", async () => {
    const samples: number[] = [];
    for (let index = 0; index < 8; index += 1) {
      const done = await waitForRun(await trigger("where"));
      assert.equal(done.status, "COMPLETED");
      samples.push(done.output.bodyStartedAtMs - Date.parse(done.createdAt));
    }
    const sorted = samples.sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
    console.log(`ratchet runner, trigger → task body in a new container of the deployed image: p50 ${at(50)} ms, p95 ${at(95)} ms (${sorted.join(", ")})`);
  });

  test("a task that crashes its container is retried by its policy, and the attempt history shows CRASHED with the reason", async () => {
    const id = await trigger("crashes-once");
    const done = await waitForRun(id);
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.output, "the second attempt");
    const attempts = await t.database.db.sql<{ number: number; status: string; error: { message: string } | null }[]>`
      select number, status, error from ratchet.attempts where run_id = ${fromPublicId("run", id)!} order by number`;
    assert.deepEqual(attempts.map((attempt) => attempt.status), ["CRASHED", "COMPLETED"]);
    assert.match(attempts[0]!.error!.message, /exited with code 3 in its container/);
  });

  test(`the runner never holds more than ${cap} containers, with twice as many runs queued`, async () => {
    let running = 0;
    let most = 0;
    const events = (await docker.getEvents({ filters: { type: ["container"], label: [`dev.ratchet.runner=${runnerId}`], event: ["start", "die"] } })) as NodeJS.ReadableStream;
    events.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        const event = JSON.parse(line) as { status: string };
        running += event.status === "start" ? 1 : event.status === "die" ? -1 : 0;
        most = Math.max(most, running);
      }
    });
    try {
      const ids = await Promise.all(Array.from({ length: cap * 2 }, () => trigger("holds")));
      for (const id of ids) assert.equal((await waitForRun(id)).status, "COMPLETED");
    } finally {
      (events as unknown as { destroy(): void }).destroy();
    }
    assert.equal(most, cap, `at most ${cap} containers at once, and the cap was reached`);
  });

  test("a run waiting on version 1.0.0 resumes on it after 2.0.0 is promoted; both images stay", async () => {
    const waiting = await trigger("waits");
    await waitForRun(waiting, ["WAITING"]);
    await writeFile(join(dir, "trigger", "tasks.ts"), tasksSource("two"));
    const result = await deployCli("2.0.0");
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await api("GET", "/api/v1/deployments/current")).version, "2.0.0");
    await runner.waitFor(/serving version 2\.0\.0/, 30_000);
    const newer = await waitForRun(await trigger("where"));
    assert.equal(newer.output.word, "two");
    assert.equal(newer.version, "2.0.0");
    const resumed = await waitForRun(waiting);
    assert.equal(resumed.status, "COMPLETED", JSON.stringify(resumed.error));
    assert.equal(resumed.output, "one", "the pinned version's code finished the run");
    assert.equal(resumed.version, "1.0.0");
    for (const version of ["1.0.0", "2.0.0"]) await docker.getImage(`ratchet-deploy/${t.project.ref}-prod:${version}`.toLowerCase()).inspect();
  });

  test("ratchet worker --deployment with RATCHET_RUNNER=docker runs the version in its image, with nothing mounted", async () => {
    await runner.stop();
    const worker = startWorker(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key, RATCHET_RUNNER: "docker", RATCHET_RUNNER_ID: runnerId }, "worker", "5", ["--deployment", "1.0.0"]);
    try {
      await worker.waitFor(/tasks registered as version 1\.0\.0/, 60_000);
      const created: string[] = [];
      const events = (await docker.getEvents({ filters: { type: ["container"], label: [`dev.ratchet.runner=${runnerId}`], event: ["create"] } })) as NodeJS.ReadableStream;
      events.on("data", (chunk: Buffer) => created.push(...chunk.toString().split("\n").filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id)));
      const id = (await api("POST", "/api/v1/tasks/where/trigger", { payload: {}, options: { lockToVersion: "1.0.0" } })).id as string;
      let done: { status: string; output: { word: string; bundle: string; uid: number } };
      try {
        for (;;) {
          done = await api("GET", `/api/v3/runs/${id}`);
          if (["COMPLETED", "FAILED", "CRASHED"].includes(done.status)) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        (events as unknown as { destroy(): void }).destroy();
      }
      assert.equal(done.status, "COMPLETED", worker.output());
      assert.equal(done.output.word, "one");
      assert.equal(done.output.bundle, "file:///app/.ratchet/deployments/1.0.0.mjs");
      assert.equal(done.output.uid, 1000);
      assert.ok(created.length > 0, "the attempt ran in a container");
    } finally {
      await worker.stop();
    }
  });

  test("a failing build of the project's own Dockerfile leaves the deployment FAILED with the build log's tail", async () => {
    await writeFile(join(dir, "Dockerfile.broken"), 'ARG BASE_IMAGE=node:24-bookworm-slim\nFROM ${BASE_IMAGE}\nRUN echo "the build broke here" && exit 7\n');
    await writeFile(
      join(dir, "ratchet.config.ts"),
      `import { defineConfig } from "ratchet/sdk";\nexport default defineConfig({ dirs: ["trigger"], maxDuration: 300, deploy: { dockerfile: "Dockerfile.broken" } });\n`,
    );
    const result = await deployCli("3.0.0");
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Version 3\.0\.0 was not deployed: The image build failed/);
    const failed = await api("GET", "/api/v1/deployments/3.0.0");
    assert.equal(failed.status, "FAILED");
    assert.match(failed.error.message, /the build broke here/);
    assert.match(failed.error.message, /returned a non-zero code: 7/);
    assert.equal((await api("GET", "/api/v1/deployments/current")).version, "2.0.0", "nothing was promoted");
  });
});
