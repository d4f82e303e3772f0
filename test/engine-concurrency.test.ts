// Two real server processes on one database, fifty dequeuers over HTTP, one queue with a limit of 5:
// a concurrent SQL sampler must never see more than 5 runs holding a slot, and every run must finish
// exactly once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { removeDataDir, spawnServer, tempDataDir, waitUntilReady, type ServerProcess } from "./helpers/server-process.ts";

const runCount = 300;
const limit = 5;

describe("exact concurrency under load", () => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];
  let dataDir: string;
  let key: string;

  before(async () => {
    database = await createTestDatabase();
    const project = await tenancyBootstrap(database.db.sql);
    key = (await issueSecretKey(database.db.sql, { environment: "prod", projectRef: project!.ref })).key;
    dataDir = await tempDataDir();
    servers = await Promise.all(
      [0, 1].map(() => spawnServer({ dataDir, env: { DATABASE_URL: database.url, RATCHET_LOG_LEVEL: "warn" } })),
    );
    await Promise.all(servers.map((server) => waitUntilReady(server)));
  });
  after(async () => {
    for (const server of servers) server.child.kill("SIGTERM");
    await Promise.all(servers.map((server) => server.exited));
    await database.drop();
    await removeDataDir(dataDir);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const call = async (server: ServerProcess, path: string, body: unknown): Promise<any> => {
    const response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await response.json();
    assert.equal(response.status, 200, `${path}: ${JSON.stringify(json)}`);
    return json;
  };

  test("50 dequeuers on 2 servers never exceed a limit of 5, and each run completes exactly once", async () => {
    const [first, second] = servers as [ServerProcess, ServerProcess];
    await call(first, "/engine/v1/worker/register", { tasks: [{ id: "limited", queue: { concurrencyLimit: limit } }] });
    for (let offset = 0; offset < runCount; offset += 100) {
      const items = Array.from({ length: Math.min(100, runCount - offset) }, (_, i) => ({ task: "limited", payload: { n: offset + i } }));
      await call(offset % 200 === 0 ? first : second, "/api/v2/tasks/batch", { items });
    }

    let done = false;
    let maxSeen = 0;
    let samples = 0;
    const sampler = (async () => {
      while (!done) {
        const [row] = await database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.executions`;
        maxSeen = Math.max(maxSeen, row!.count);
        samples += 1;
      }
    })();

    let completed = 0;
    const completions = new Map<string, number>();
    const dequeuer = async (index: number) => {
      const server = index % 2 === 0 ? first : second;
      const workerId = `worker-${index}`;
      while (completed < runCount) {
        const { runs } = await call(server, "/engine/v1/dequeue", { workerId, maxRuns: 2, waitSeconds: 1 });
        for (const run of runs as Array<{ id: string; attemptNumber: number }>) {
          await call(server, `/engine/v1/runs/${run.id}/attempts/${run.attemptNumber}/start`, { workerId });
          await new Promise((resolve) => setImmediate(resolve));
          const { results } = await call(server, "/engine/v1/complete", {
            workerId,
            completions: [{ runId: run.id, attemptNumber: run.attemptNumber, ok: true, output: { by: workerId } }],
          });
          assert.equal(results[0].accepted, true, JSON.stringify(results[0]));
          completions.set(run.id, (completions.get(run.id) ?? 0) + 1);
          completed += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, index) => dequeuer(index)));
    done = true;
    await sampler;

    assert.ok(samples > 10, `the sampler ran (${samples} samples)`);
    assert.ok(maxSeen <= limit, `at most ${limit} runs held a slot at once; the sampler saw ${maxSeen}`);
    assert.ok(maxSeen >= 2, `the load reached the limit's range (max ${maxSeen})`);
    assert.equal(completions.size, runCount);
    assert.ok([...completions.values()].every((count) => count === 1), "no run was completed twice");
    const [summary] = await database.db.sql<{ completed: number; attempts: number }[]>`
      select count(*) filter (where status = 'COMPLETED')::int as completed, sum(attempt_count)::int as attempts
      from ratchet.runs where task_identifier = 'limited'`;
    assert.equal(summary?.completed, runCount);
    assert.equal(summary?.attempts, runCount, "one attempt per run");
  });
});
