// The chaos run (`npm run test:chaos`): two server processes and three workers on one Postgres,
// 5,000 runs with random durations and planned failures, and one server and one worker SIGKILLed
// mid-flight and restarted. Afterwards every run is final, completed at most once, within its
// attempts; a SQL sampler never saw the queue's concurrency limit exceeded.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { issueSecretKey } from "../../server/auth/issue-key.ts";
import { tenancyBootstrap } from "../../server/storage/tenancy.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { projectRoot, removeDataDir, spawnServer, tempDataDir, waitUntilReady, type ServerProcess } from "../helpers/server-process.ts";
import { startWorker, type Worker } from "../helpers/worker-process.ts";

const runCount = Number(process.env.RATCHET_CHAOS_RUNS ?? 5000);
const limit = 10;
const project = join(projectRoot, "test/fixtures/chaos-project");

describe("chaos", () => {
  let database: TestDatabase;
  let dataDir: string;
  let key: string;
  const servers: ServerProcess[] = [];
  const workers: Worker[] = [];
  const serverEnv = () => ({ DATABASE_URL: database.url, RATCHET_LOG_LEVEL: "warn", RATCHET_LEASE_SECONDS: "4" });

  before(async () => {
    database = await createTestDatabase();
    const created = await tenancyBootstrap(database.db.sql);
    key = (await issueSecretKey(database.db.sql, { environment: "prod", projectRef: created!.ref })).key;
    await database.db.sql`update ratchet.environments set concurrency_limit = 1000`;
    dataDir = await tempDataDir();
    for (let i = 0; i < 2; i += 1) servers.push(await spawnServer({ dataDir, env: serverEnv() }));
    await Promise.all(servers.map((server) => waitUntilReady(server)));
    for (let i = 0; i < 3; i += 1) {
      workers.push(startWorker(project, { RATCHET_API_URL: servers[i % 2]!.url, RATCHET_SECRET_KEY: key }, "worker", "2"));
    }
    await Promise.all(workers.map((worker) => worker.waitFor(/tasks registered as version/)));
  });
  after(async () => {
    await Promise.all(workers.map((worker) => worker.kill()));
    for (const server of servers) server.child.kill("SIGTERM");
    await Promise.all(servers.map((server) => server.exited));
    await database.drop();
    await removeDataDir(dataDir);
  });

  test(`${runCount} runs survive killed servers and workers: each final, completed at most once, within its attempts`, async () => {
    let sampling = true;
    let maxSeen = 0;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.executions`;
        maxSeen = Math.max(maxSeen, row!.count);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    // Planned failures: most runs succeed first time, some after retries, some fail for good.
    const random = (() => {
      let seed = 42;
      return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    })();
    const expectedFinal = new Map<number, "COMPLETED" | "FAILED">();
    for (let offset = 0; offset < runCount; offset += 500) {
      const items = Array.from({ length: Math.min(500, runCount - offset) }, (_, i) => {
        const n = offset + i;
        const roll = random();
        const failures = roll < 0.8 ? 0 : roll < 0.93 ? 1 : roll < 0.97 ? 2 : 3;
        expectedFinal.set(n, failures >= 3 ? "FAILED" : "COMPLETED");
        return { task: "chaotic", payload: { n, failures, ms: Math.floor(random() * 20) } };
      });
      const response = await fetch(`${servers[offset % 2]!.url}/api/v2/tasks/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ items }),
      });
      assert.equal(response.status, 200, await response.text());
    }

    const finished = async () => {
      const [row] = await database.db.sql<{ count: number }[]>`
        select count(*)::int as count from ratchet.runs where status in ('COMPLETED', 'FAILED', 'CRASHED', 'SYSTEM_FAILURE', 'TIMED_OUT')`;
      return row!.count;
    };
    // Kill one server and one worker once a fifth of the runs are done; restart them.
    while ((await finished()) < runCount / 5) await new Promise((resolve) => setTimeout(resolve, 100));
    const victim = servers[0]!;
    victim.child.kill("SIGKILL");
    await victim.exited;
    await workers[2]!.kill();
    servers[0] = await spawnServer({ dataDir, port: victim.port, env: serverEnv() });
    await waitUntilReady(servers[0]!);
    workers[2] = startWorker(project, { RATCHET_API_URL: servers[1]!.url, RATCHET_SECRET_KEY: key }, "worker", "2");

    const deadline = Date.now() + 8 * 60_000;
    while ((await finished()) < runCount) {
      assert.ok(Date.now() < deadline, `only ${await finished()} of ${runCount} runs finished in time`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    sampling = false;
    await sampler;

    assert.ok(maxSeen <= limit, `at most ${limit} runs held a slot at once; the sampler saw ${maxSeen}`);
    const runs = await database.db.sql<{ n: number; status: string; attempts: number; completedAttempts: number }[]>`
      select (payload->>'n')::int as n, status, attempt_count as attempts,
        (select count(*)::int from ratchet.attempts a where a.run_id = r.id and a.status = 'COMPLETED') as "completedAttempts"
      from ratchet.runs r`;
    assert.equal(runs.length, runCount);
    for (const run of runs) {
      assert.ok(run.attempts <= 3, `run ${run.n} used ${run.attempts} attempts`);
      assert.ok(run.completedAttempts <= 1, `run ${run.n} completed ${run.completedAttempts} times`);
      if (run.status === "COMPLETED") assert.equal(run.completedAttempts, 1);
      // A run planned to succeed may still fail if the killed worker cost it its last attempt.
      if (expectedFinal.get(run.n) === "FAILED") assert.equal(run.status, "FAILED", `run ${run.n}`);
    }
    const completed = runs.filter((run) => run.status === "COMPLETED").length;
    assert.ok(completed >= runCount * 0.9, `${completed} of ${runCount} completed`);
  });
});
