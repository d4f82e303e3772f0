// `ratchet deploy` end to end: the real CLI bundles a project's task files, stores them as a version,
// promotes it; `ratchet worker --deployment <version>` (in another folder, so it runs the bundle the
// server stored) serves only the runs pinned to its version.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { httpApiOk } from "./helpers/http-api.ts";
import { projectRoot, runCli } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

describe("ratchet deploy", () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let dir: string;
  let elsewhere: string;
  const workers: Worker[] = [];
  const api = httpApiOk(() => url, () => key);

  const writeTask = (word: string) =>
    writeFile(join(dir, "trigger", "versioned.ts"), `import { task } from "ratchet/sdk";\nexport const versioned = task({ id: "versioned", run: async () => "${word}" });\n`);
  // The bundle path (the image path is test/docker/deploy-image.test.ts).
  const deployCli = (args: string[]) => runCli(["deploy", "--no-image", "--config", join(dir, "ratchet.config.ts"), ...args], { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
  const waitForRun = async (id: string, worker: Worker) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const run = await api("GET", `/api/v3/runs/${id}`);
      if (run.status === "COMPLETED" || run.status === "FAILED" || run.status === "CRASHED") return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${run.status}:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("prod");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    // Inside the repository, so bundles find node_modules as a user's project would.
    const base = join(projectRoot, ".ratchet", "test-projects", randomBytes(6).toString("hex"));
    dir = join(base, "deploying");
    elsewhere = join(base, "worker-host");
    for (const folder of [dir, elsewhere]) {
      await mkdir(join(folder, "trigger"), { recursive: true });
      await cp(join(projectRoot, "test/fixtures/project/ratchet.config.ts"), join(folder, "ratchet.config.ts"));
    }
    await writeTask("one");
  });
  after(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await t.close();
  });

  test("--dry-run prints the version, tasks and the image's Dockerfile, and deploys nothing", async () => {
    const result = await deployCli(["--env", "prod", "--dry-run", "--as-version", "0.0.1"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Would deploy version 0\.0\.1 to prod: 1 tasks \(versioned\)/);
    assert.match(result.stdout, /FROM \$\{BASE_IMAGE\}/);
    assert.match(result.stdout, /COPY \.ratchet\/deployments\/0\.0\.1\.mjs \.ratchet\/deployments\/0\.0\.1\.executor\.mjs \.ratchet\/deployments\//);
    assert.match(result.stdout, /ENTRYPOINT \["node", "\.ratchet\/deployments\/0\.0\.1\.executor\.mjs", "--stdio"\]/);
    assert.match(result.stdout, /No image: --no-image; the bundle alone is deployed/);
    assert.deepEqual((await api("GET", "/api/v1/deployments")).data, []);
  });

  test("--env that is not the key's environment is refused", async () => {
    const result = await deployCli(["--env", "staging"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--env staging, but the secret key is for prod/);
  });

  test("deployed versions are current in turn, and a worker of a deployment runs only the runs pinned to it, from the stored bundle", async () => {
    const first = await deployCli(["--env", "prod", "--as-version", "1.0.0"]);
    assert.equal(first.code, 0, first.stderr);
    const current = await api("GET", "/api/v1/deployments/current");
    assert.equal(current.version, "1.0.0");
    assert.equal(current.hasBundle, true);
    assert.deepEqual(current.tasks, ["versioned"]);

    await writeTask("two");
    const second = await deployCli(["--env", "prod", "--as-version", "2.0.0"]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((await api("GET", "/api/v1/deployments/current")).version, "2.0.0");

    const onOne = await api("POST", "/api/v1/tasks/versioned/trigger", { payload: {}, options: { lockToVersion: "1.0.0" } });
    const onTwo = await api("POST", "/api/v1/tasks/versioned/trigger", { payload: {} });

    // A folder with no copy of the code: the worker fetches version 1.0.0's bundle from the server.
    const workerOne = startWorker(elsewhere, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }, "worker", "5", ["--deployment", "1.0.0"]);
    workers.push(workerOne);
    await workerOne.waitFor(/tasks registered as version 1\.0\.0/);
    const ranOne = await waitForRun(onOne.id, workerOne);
    assert.equal(ranOne.output, "one", "the old version's code ran the run pinned to it");
    assert.equal((await api("GET", `/api/v3/runs/${onTwo.id}`)).status, "QUEUED", "the 1.0.0 worker leaves the 2.0.0 run alone");
    assert.equal((await api("GET", "/api/v1/deployments/current")).version, "2.0.0", "starting an old version's worker does not take over");

    const workerTwo = startWorker(elsewhere, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }, "worker", "5", ["--deployment", "2.0.0"]);
    workers.push(workerTwo);
    const ranTwo = await waitForRun(onTwo.id, workerTwo);
    assert.equal(ranTwo.output, "two");
    assert.equal(ranTwo.version, "2.0.0");

    const rolledBack = await api("POST", "/api/v1/deployments/rollback");
    assert.equal(rolledBack.version, "1.0.0");
    const afterRollback = await api("POST", "/api/v1/tasks/versioned/trigger", { payload: {} });
    assert.equal((await waitForRun(afterRollback.id, workerOne)).output, "one", "after a rollback new runs go to the previous version");
  });
});
