// What N checkpointed runs cost Postgres, and how long checkpointing and restoring them takes, with
// the real Docker runner and CRIU: N runs of a task that waits for a token are triggered, each is
// checkpointed (WAITING, no container), the database's growth is read, then every token is
// completed and each run must finish in the process it started in. docs/benchmarks.md records it.
//   RATCHET_BENCH_CHECKPOINTS=100 node test/run.ts bench/checkpoint-space.test.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { criuAvailable } from "../server/checkpoints/criu.ts";
import { criuCannotDumpUser } from "../server/checkpoints/task-user.ts";
import { createTestApp, type TestApp } from "../test/helpers/app.ts";
import { dockerUnavailable } from "../test/helpers/docker.ts";
import { httpApiOk } from "../test/helpers/http-api.ts";
import { projectRoot } from "../test/helpers/server-process.ts";
import { startWorker, type Worker } from "../test/helpers/worker-process.ts";

const count = Number(process.env.RATCHET_BENCH_CHECKPOINTS ?? 20);
const dockerMissing = await dockerUnavailable();
const criu = dockerMissing ? null : await criuAvailable(new Docker());
const skip = dockerMissing ?? (criu && !criu.ok ? criu.reason : null);

const tasksSource = `import { task, wait } from "ratchet/sdk";
export const parked = task({
  id: "parked",
  run: async () => {
    const random = Math.random();
    const token = await wait.createToken({ timeout: "1h" });
    await wait.forToken(token);
    return { random, token: token.id };
  },
});
`;

describe(`${count} checkpointed runs`, { skip: skip ?? false }, () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let worker: Worker;
  const api = httpApiOk(() => url, () => key);
  const sql = () => t.database.db.sql;
  const until = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30 * 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${worker.output().slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const databaseBytes = async () => (await sql()<{ bytes: number }[]>`select pg_database_size(current_database())::float8 as bytes`)[0]!.bytes;

  before(async () => {
    t = await createTestApp({ sweeper: true });
    key = await t.key("dev");
    url = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const dir = join(projectRoot, ".ratchet", "test-projects", randomBytes(6).toString("hex"));
    await mkdir(join(dir, "trigger"), { recursive: true });
    await writeFile(join(dir, "ratchet.config.ts"), `import { defineConfig } from "ratchet/sdk";\nexport default defineConfig({ dirs: ["trigger"], maxDuration: 3600, concurrency: 5, waitInProcessMs: 200 });\n`);
    await writeFile(join(dir, "trigger", "parked.ts"), tasksSource);
    worker = startWorker(dir, {
      RATCHET_API_URL: url,
      RATCHET_SECRET_KEY: key,
      // The default tasks network, the API through the relay. As root only on a host where CRIU cannot
      // dump another uid's process (server/checkpoints/task-user.ts, docs/checkpoints.md).
      ...(criuCannotDumpUser("1000:1000") ? { RATCHET_DOCKER_USER: "0:0" } : {}),
      RATCHET_RUNNER: "docker",
      RATCHET_RUNNER_ID: `ratchet-bench-${randomBytes(4).toString("hex")}`,
      RATCHET_DOCKER_IMAGE: "node:24-bookworm-slim",
      DATABASE_URL: t.database.url,
      RATCHET_CHECKPOINT_THRESHOLD_MS: "0",
    });
    await worker.waitFor(/tasks registered as version/, 120_000);
  });
  after(async () => {
    await worker?.stop();
    await t?.close();
  });

  // 100 runs take longer than the runner's 5-minute default per test.
  test("suspended as checkpoints, then all resumed in their own processes", { timeout: 60 * 60_000 }, async () => {
    const before = await databaseBytes();
    const started = Date.now();
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) ids.push((await api("POST", "/api/v1/tasks/parked/trigger", { payload: {} })).id);
    await until("every run to be checkpointed", async () => {
      const [row] = await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.checkpoints`;
      const waiting = (await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.runs where status = 'WAITING'`)[0]!.n;
      return row!.n === count && waiting === count ? true : undefined;
    });
    const suspendedMs = Date.now() - started;
    const [sizes] = await sql()<{ raw: number; stored: number; objects: number; lo: number }[]>`
      select sum(size_raw)::float8 as raw, sum(size_stored)::float8 as stored,
        (select count(*)::int from pg_largeobject_metadata) as objects,
        pg_total_relation_size('pg_catalog.pg_largeobject')::float8 as lo
      from ratchet.checkpoints`;
    const grown = (await databaseBytes()) - before;
    assert.equal(sizes!.objects, count);

    const tokens = await sql()<{ id: string }[]>`select id from ratchet.waitpoints where type = 'MANUAL' and status = 'WAITING'`;
    assert.equal(tokens.length, count);
    const resumeStarted = Date.now();
    for (const run of await Promise.all(ids.map((id) => api("GET", `/api/v3/runs/${id}`)))) assert.equal(run.status, "WAITING");
    const { toPublicId } = await import("../server/ids.ts");
    for (const token of tokens) await api("POST", `/api/v1/waitpoints/tokens/${toPublicId("wp", token.id)}/complete`, { data: {} });
    await until("every run to complete", async () => {
      const [row] = await sql()<{ n: number }[]>`select count(*)::int as n from ratchet.runs where status = 'COMPLETED'`;
      return row!.n === count ? true : undefined;
    });
    const resumedMs = Date.now() - resumeStarted;
    const restores = [...worker.output().matchAll(/restored from its checkpoint in (\d+) ms/g)].map((match) => Number(match[1]));
    const dumps = [...worker.output().matchAll(/checkpointed in (\d+) ms \(CRIU dump (\d+) ms, store (\d+) ms/g)].map((match) => match.slice(1).map(Number));
    const leftObjects = (await sql()<{ n: number }[]>`select count(*)::int as n from pg_largeobject_metadata`)[0]!.n;
    assert.equal(leftObjects, 0, "every large object unlinked after the restores");
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
    console.log(
      `${count} checkpointed runs: raw ${mb(sizes!.raw)} MB, stored ${mb(sizes!.stored)} MB (${mb(sizes!.stored / count)} MB each), ` +
        `pg_largeobject ${mb(sizes!.lo)} MB, database grew ${mb(grown)} MB; all suspended in ${(suspendedMs / 1000).toFixed(0)} s, ` +
        `all resumed and completed in ${(resumedMs / 1000).toFixed(0)} s; per checkpoint (median) ${median(dumps.map((d) => d[0]!))} ms ` +
        `(dump ${median(dumps.map((d) => d[1]!))} ms, store ${median(dumps.map((d) => d[2]!))} ms), restore ${median(restores)} ms`,
    );
  });
});
