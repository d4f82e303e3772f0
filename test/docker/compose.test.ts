// The self-host stack as a user runs it: the server image built from the Dockerfile, `docker compose
// up` with compose.yaml (Postgres in a container, a named volume), the official SDK triggering from
// the host and a worker on the host running the tasks; then the opt-in `runner` service running a
// version `ratchet deploy` built on the same daemon, in containers of its image. Needs a Docker daemon: `bash docker/ci-setup.sh`
// provides one on Debian; without one the suite says why and skips.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type ServerResponse, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { configure, runs, tasks } from "@trigger.dev/sdk";
import { freePort } from "../../server/db/scratch.ts";
import { composeCommand, containerHealth, dockerUnavailable, run, type CommandResult } from "../helpers/docker.ts";
import { projectRoot } from "../helpers/server-process.ts";
import { startWorker, type Worker } from "../helpers/worker-process.ts";

const unavailable = await dockerUnavailable();
if (unavailable) console.log(`Docker suite skipped: ${unavailable}`);

const fixture = join(projectRoot, "test/fixtures/docker-project");

/** The host's environment without settings that would override the test's env file in compose. */
function composeEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(RATCHET_|POSTGRES_|TRIGGER_|DATABASE_URL$|COMPOSE_)/.test(name)) delete env[name];
  }
  return env;
}

describe("docker compose: the self-host stack", { skip: unavailable ?? false }, () => {
  const id = randomBytes(4).toString("hex");
  const projectName = `ratchettest${id}`;
  const image = `ratchet-test-${id}:latest`;
  const upgradedImage = `ratchet-test-${id}:upgraded`;
  const postgresPassword = randomBytes(16).toString("hex");
  const encryptionKey = randomBytes(32).toString("hex");
  const envFile = join(tmpdir(), `${projectName}.env`);
  let url: string;
  let port: number;
  let key: string;
  let compose: (...args: string[]) => Promise<CommandResult>;
  let worker: Worker | undefined;
  let receiver: Server;
  let receiverUrl: string;
  let holds = 0;
  const heldResponses: ServerResponse[] = [];
  let onHold: (() => void) | null = null;
  let released = false;
  const completedIds: string[] = [];
  let projectRef: string | undefined;
  let deployDir: string | undefined;

  const containerOf = async (service: string) => (await compose("ps", "-q", service)).stdout.trim();
  /** Resolves when the ratchet container's HEALTHCHECK (GET /readyz) reports healthy. */
  const healthy = async (timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const container = await containerOf("ratchet");
      const health = container ? await containerHealth(container) : "missing";
      if (health === "healthy") return;
      if (Date.now() > deadline) {
        throw new Error(`the ratchet container is ${health} after ${timeoutMs} ms:\n${(await compose("logs", "--no-color")).stdout}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  /** The .env a self-hoster writes, naming the server image to run. */
  const writeEnvFile = (serverImage: string, more: string[] = []) =>
    writeFile(
      envFile,
      [
        `POSTGRES_PASSWORD=${postgresPassword}`,
        `RATCHET_ENCRYPTION_KEY=${encryptionKey}`,
        `RATCHET_IMAGE=${serverImage}`,
        "RATCHET_BIND_ADDRESS=127.0.0.1",
        `RATCHET_HOST_PORT=${port}`,
        `RATCHET_PUBLIC_URL=${url}`,
        ...more,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
  /** Triggers the held task and resolves once its body runs, with the run's id. */
  const triggerHeld = async () => {
    released = false;
    const executing = new Promise<void>((resolve) => (onHold = resolve));
    const handle = await tasks.trigger("held", { receiver: receiverUrl });
    await executing;
    return handle.id;
  };
  const release = () => {
    released = true;
    for (const response of heldResponses.splice(0)) response.writeHead(200).end("released");
  };

  before(async () => {
    const command = (await composeCommand())!;
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    await writeEnvFile(image);
    const env = composeEnvironment();
    compose = (...args) =>
      run(command[0]!, [...command.slice(1), "-p", projectName, "--env-file", envFile, "-f", "compose.yaml", ...args], { cwd: projectRoot, env });

    receiver = createServer((request, response) => {
      if (request.url === "/hold") {
        holds += 1;
        // Once released, a second attempt (which the test would then report) finishes at once.
        if (released) return void response.writeHead(200).end("released");
        heldResponses.push(response);
        onHold?.();
        onHold = null;
        return;
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const address = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });

  after(async () => {
    release();
    await worker?.stop();
    if (compose) {
      await compose("--profile", "runner", "down", "--volumes", "--remove-orphans").catch((error: unknown) => console.error(error));
    }
    if (projectRef) await run("docker", ["image", "rm", "--force", `ratchet-deploy/${projectRef}-prod:compose-1`], { allowFailure: true });
    if (deployDir) await rm(deployDir, { recursive: true, force: true });
    await run("docker", ["image", "rm", "--force", image, upgradedImage], { allowFailure: true });
    await rm(envFile, { force: true });
    receiver?.closeAllConnections();
    receiver?.close();
  });

  test("the Dockerfile builds a server image that runs as a non-root user with a health check", async () => {
    await run("docker", ["build", "--quiet", "--tag", image, "."], { cwd: projectRoot });
    const { stdout } = await run("docker", ["image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Healthcheck.Test}}|{{.Size}}", image]);
    const [user, healthcheck, size] = stdout.trim().split("|");
    assert.equal(user, "node");
    assert.match(healthcheck!, /\/readyz/);
    console.log(`server image: ${Math.round(Number(size) / 1e6)} MB`);
  });

  test("docker compose up starts Postgres, then Ratchet, which becomes healthy and prints the first sign-in link", async () => {
    await compose("up", "-d", "--no-build");
    await healthy();
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    const { stdout } = await compose("logs", "--no-color", "ratchet");
    const link = new RegExp(`First sign-in: +(${url.replaceAll(".", "\\.")}/setup\\?token=\\S+)`).exec(stdout)?.[1];
    assert.ok(link, `no setup link in the logs:\n${stdout}`);
    assert.match(stdout, /Database: +DATABASE_URL/);
    // The image holds the views and the dashboard's assets from its production dependencies.
    const setupPage = await fetch(link);
    assert.equal(setupPage.status, 200);
    assert.match(await setupPage.text(), /<form/);
    const htmx = await fetch(`${url}/static/htmx.min.js`);
    assert.equal(htmx.status, 200);
  });

  test("a key made in the container lets the official SDK trigger a run that a worker on the host completes", async () => {
    const created = await compose("exec", "-T", "ratchet", "ratchet", "admin", "keys", "create", "--env", "prod", "--name", "compose test");
    key = created.stdout.trim();
    assert.match(key, /^tr_prod_/);
    configure({ baseURL: url, accessToken: key });
    worker = startWorker(fixture, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key }, "worker", "5");
    await worker.waitFor(/tasks registered as version/);

    const handle = await tasks.trigger("greet", { name: "compose" });
    const finished = await runs.poll(handle.id, { pollIntervalMs: 100 });
    assert.equal(finished.status, "COMPLETED", worker.output());
    assert.deepEqual(finished.output, { greeting: "Hello, compose!" });
    completedIds.push(handle.id);
  });

  test("docker compose restart ratchet while a run executes loses nothing: the run completes once", async () => {
    const containerBefore = await containerOf("ratchet");
    const startedBefore = (await run("docker", ["inspect", "--format", "{{.State.StartedAt}}", containerBefore])).stdout;
    const runId = await triggerHeld();

    await compose("restart", "ratchet");
    const startedAfter = (await run("docker", ["inspect", "--format", "{{.State.StartedAt}}", containerBefore])).stdout;
    assert.notEqual(startedAfter, startedBefore, "the server container was restarted");
    await healthy();
    release();

    const finished = await runs.poll(runId, { pollIntervalMs: 100 });
    assert.equal(finished.status, "COMPLETED", worker!.output());
    assert.deepEqual(finished.output, { released: "released" });
    assert.equal(finished.attemptCount, 1, "one attempt: the restart did not cost the run its lease");
    assert.equal(holds, 1, "the task body ran once");
    completedIds.push(runId);
  });

  test("an upgrade, `docker compose up -d` with a new image, replaces the server alone while a run executes", async () => {
    // A new release: another image (the same sources with a label of its own, so another image id).
    await run("docker", ["build", "--quiet", "--label", "org.opencontainers.image.version=upgraded", "--tag", upgradedImage, "."], { cwd: projectRoot });
    const [serverBefore, postgresBefore] = [await containerOf("ratchet"), await containerOf("postgres")];
    const holdsBefore = holds;
    const runId = await triggerHeld();

    await writeEnvFile(upgradedImage);
    await compose("up", "-d", "--no-build");
    const serverAfter = await containerOf("ratchet");
    assert.notEqual(serverAfter, serverBefore, "the server container was replaced");
    assert.equal(await containerOf("postgres"), postgresBefore, "Postgres kept running");
    assert.equal((await run("docker", ["inspect", "--format", "{{.Config.Image}}", serverAfter])).stdout.trim(), upgradedImage);
    await healthy();
    release();

    const finished = await runs.poll(runId, { pollIntervalMs: 100 });
    assert.equal(finished.status, "COMPLETED", worker!.output());
    assert.equal(finished.attemptCount, 1);
    assert.equal(holds - holdsBefore, 1, "the task body ran once");
    completedIds.push(runId);
  });

  test("docker compose down and up keeps the history in the named volume", async () => {
    await compose("down");
    const volumes = await run("docker", ["volume", "ls", "--quiet", "--filter", `name=${projectName}_postgres-data`]);
    assert.equal(volumes.stdout.trim(), `${projectName}_postgres-data`);
    assert.equal((await compose("ps", "-q")).stdout.trim(), "", "no container is left");

    await compose("up", "-d", "--no-build");
    await healthy();
    for (const runId of completedIds) {
      const kept = await runs.retrieve(runId);
      assert.equal(kept.status, "COMPLETED");
    }
    // The same key still works, and the worker, which kept retrying, picks up new runs.
    const handle = await tasks.trigger("greet", { name: "again" });
    const finished = await runs.poll(handle.id, { pollIntervalMs: 100 });
    assert.equal(finished.status, "COMPLETED", worker!.output());
    assert.deepEqual(finished.output, { greeting: "Hello, again!" });
  });

  test("the runner service runs a version deployed as an image on the same daemon, in a container of it", async () => {
    projectRef = ((await (await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).json()) as { project: { ref: string } }).project.ref.toLowerCase();
    deployDir = await mkdtemp(join(tmpdir(), "ratchet-compose-deploy-"));
    await mkdir(join(deployDir, "trigger"));
    await writeFile(join(deployDir, "package.json"), JSON.stringify({ name: "compose-deploy", private: true, type: "module" }));
    await writeFile(join(deployDir, "ratchet.config.ts"), `import { defineConfig } from "ratchet/sdk";\nexport default defineConfig({ dirs: ["trigger"] });\n`);
    await writeFile(
      join(deployDir, "trigger", "where.ts"),
      `import { existsSync } from "node:fs";\nimport { task } from "ratchet/sdk";\nexport const where = task({ id: "where", run: async () => ({ inContainer: existsSync("/.dockerenv"), uid: process.getuid?.(), api: process.env.RATCHET_API_URL }) });\n`,
    );
    // Not promoted: the host's worker keeps the current version for the tests above.
    const deployed = await run(process.execPath, [join(projectRoot, "bin/ratchet.js"), "deploy", "--as-version", "compose-1", "--skip-promotion"], {
      cwd: deployDir,
      env: { ...composeEnvironment(), RATCHET_API_URL: url, RATCHET_SECRET_KEY: key },
    });
    assert.match(deployed.stdout, /its image is ratchet-deploy\//);

    await writeEnvFile(upgradedImage, [`RATCHET_RUNNER_SECRET_KEY=${key}`, `RATCHET_RUNNER_ID=${projectName}-runner`]);
    await compose("--profile", "runner", "up", "-d", "--no-build", "runner");
    const response = await fetch(`${url}/api/v1/tasks/where/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: {}, options: { lockToVersion: "compose-1" } }),
    });
    const { id: runId } = (await response.json()) as { id: string };
    const finished = await runs.poll(runId, { pollIntervalMs: 100 });
    assert.equal(finished.status, "COMPLETED", (await compose("logs", "--no-color", "runner")).stdout);
    assert.equal(finished.output.inContainer, true);
    assert.equal(finished.output.uid, 1000);
    assert.match(finished.output.api, /^http:\/\/[\d.]+:\d+$/, "the runner's relay on the task network");
  });
});
