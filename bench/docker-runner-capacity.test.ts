// How many task containers one host holds at once: `ratchet deploy` builds a hello-world image, a
// `ratchet runner` with a high --max-containers (BENCH_CONTAINERS, default 40) gets as many runs of
// a micro task that holds for BENCH_HOLD_SECONDS (30), and Docker's events count the containers
// running at once. Prints the most held, how long until they all ran at once, and the runs' trigger
// → body times under that load. Run: node test/run.ts bench/docker-runner-capacity.test.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { createTestApp, type TestApp } from "../test/helpers/app.ts";
import { dockerUnavailable } from "../test/helpers/docker.ts";
import { httpApiOk } from "../test/helpers/http-api.ts";
import { runCli } from "../test/helpers/server-process.ts";
import { startWorker, type Worker } from "../test/helpers/worker-process.ts";

const containers = Number(process.env.BENCH_CONTAINERS ?? 40);
const holdSeconds = Number(process.env.BENCH_HOLD_SECONDS ?? 30);
const unavailable = await dockerUnavailable();

describe("Docker runner capacity", { skip: unavailable ?? false }, () => {
  const docker = new Docker();
  let t: TestApp;
  let url: string;
  let key: string;
  let dir: string;
  let runner: Worker;
  const runnerId = `ratchet-bench-${randomBytes(4).toString("hex")}`;
  const api = httpApiOk(() => url, () => key);

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("prod");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    dir = await mkdtemp(join(tmpdir(), "ratchet-bench-capacity-"));
    await mkdir(join(dir, "trigger"));
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "capacity-bench", private: true, type: "module" }));
    await writeFile(join(dir, "ratchet.config.ts"), `import { defineConfig } from "ratchet/sdk";\nexport default defineConfig({ dirs: ["trigger"] });\n`);
    await writeFile(
      join(dir, "trigger", "hold.ts"),
      `import { task } from "ratchet/sdk";\nexport const hold = task({ id: "hold", machine: "micro", run: async () => { const bodyStartedAtMs = Date.now(); await new Promise((resolve) => setTimeout(resolve, ${holdSeconds * 1000})); return { bodyStartedAtMs }; } });\n`,
    );
    const deployed = await runCli(["deploy", "--env", "prod", "--as-version", "1.0.0"], { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }, dir);
    assert.equal(deployed.code, 0, deployed.stderr);
    runner = startWorker(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key, RATCHET_RUNNER_ID: runnerId }, "runner", "5", ["--max-containers", String(containers)]);
    await runner.waitFor(/serving version 1\.0\.0/, 60_000);
  });
  after(async () => {
    await runner?.stop();
    for (const image of await docker.listImages({ filters: { label: [`dev.ratchet.project=${t.project.ref}`] } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test(`${containers} containers at once`, { timeout: 15 * 60_000 }, async () => {
    let running = 0;
    let most = 0;
    let mostAtMs = 0;
    const events = (await docker.getEvents({ filters: { type: ["container"], label: [`dev.ratchet.runner=${runnerId}`], event: ["start", "die"] } })) as NodeJS.ReadableStream;
    const started = Date.now();
    events.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        const event = JSON.parse(line) as { status: string };
        running += event.status === "start" ? 1 : event.status === "die" ? -1 : 0;
        if (running > most) {
          most = running;
          mostAtMs = Date.now() - started;
        }
      }
    });
    const ids = await Promise.all(Array.from({ length: containers }, async () => (await api("POST", "/api/v1/tasks/hold/trigger", { payload: {} })).id as string));
    const startsMs: number[] = [];
    let load = 0;
    for (const id of ids) {
      for (;;) {
        const found = await api("GET", `/api/v3/runs/${id}`);
        if (found.status === "COMPLETED") {
          startsMs.push(found.output.bodyStartedAtMs - Date.parse(found.createdAt));
          break;
        }
        assert.ok(!["FAILED", "CRASHED", "SYSTEM_FAILURE"].includes(found.status), `${id}: ${found.status} ${JSON.stringify(found.error)}`);
        load = Math.max(load, loadavg()[0]!);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    (events as unknown as { destroy(): void }).destroy();
    const sorted = startsMs.sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
    console.log(
      `Docker runner capacity: ${most} of ${containers} containers running at once (reached ${(mostAtMs / 1000).toFixed(1)} s after the triggers); ` +
        `trigger → body under that load p50 ${at(50)} ms, p95 ${at(95)} ms, max ${sorted.at(-1)} ms; load average up to ${load.toFixed(1)}`,
    );
  });
});
