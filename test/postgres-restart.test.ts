// Postgres restarts under load: the server keeps running, reconnects by itself, and no run is lost
// or completed twice. Uses a Postgres of its own (the suite's shared one cannot be restarted).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../server/app.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { loadConfig } from "../server/config.ts";
import { connect, type Db } from "../server/db/client.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../server/db/embedded.ts";
import { migrate } from "../server/db/migrate.ts";
import { freePort } from "../server/db/scratch.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { ApiClient } from "./helpers/engine.ts";

describe("Postgres restarting under load", () => {
  const dataDir = join(tmpdir(), `ratchet-restart-${randomBytes(6).toString("hex")}`);
  let port: number;
  let postgres: EmbeddedPostgres;
  let db: Db;
  let app: FastifyInstance;
  let api: ApiClient;

  before(async () => {
    port = await freePort();
    postgres = await startEmbeddedPostgres({ dataDir, port, durability: "fast" });
    db = connect({ url: postgres.url, poolSize: 5 });
    await migrate(db.sql);
    const project = (await tenancyBootstrap(db.sql))!;
    app = await buildApp({ config: loadConfig({ DATABASE_URL: postgres.url }), db, logger: pino({ level: "silent" }), sweeper: true });
    await app.ready();
    api = new ApiClient(app, (await issueSecretKey(db.sql, { environment: "prod", projectRef: project.ref })).key);
    await api.register([{ id: "steady" }]);
  });
  after(async () => {
    await app.close();
    await db.close();
    await postgres.stop("immediate");
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Retries a call until Postgres answers again, as a client with backoff would. */
  const eventually = async <T>(call: () => Promise<{ status: number; body: T }>): Promise<T> => {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const response = await call();
      if (response.status < 500) {
        assert.ok(response.status < 300, `${response.status} ${JSON.stringify(response.body)}`);
        return response.body;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("Postgres never came back");
  };

  test("runs triggered before, during and after a restart all complete exactly once", async () => {
    const triggered = new Set<string>();
    const trigger = async (n: number) => {
      const body = await eventually(() => api.request("POST", "/api/v1/tasks/steady/trigger", { payload: { n } }));
      triggered.add((body as { id: string }).id);
    };
    for (let n = 0; n < 30; n += 1) await trigger(n);
    // Some runs are in flight (leased) when Postgres goes away.
    const inFlight = (await eventually(() => api.request("POST", "/engine/v1/dequeue", { workerId: "w", maxRuns: 10 }))) as { runs: Array<{ id: string; attemptNumber: number }> };
    assert.equal(inFlight.runs.length, 10);

    await postgres.stop("fast");
    const down = await api.request("POST", "/api/v1/tasks/steady/trigger", { payload: { n: "down" } });
    assert.ok(down.status >= 500, "while Postgres is down the API says so (and loses nothing)");
    postgres = await startEmbeddedPostgres({ dataDir, port, durability: "fast" });

    for (let n = 30; n < 60; n += 1) await trigger(n);
    const completed = new Map<string, number>();
    const finish = async (runs: Array<{ id: string; attemptNumber: number }>) => {
      for (const run of runs) {
        const body = (await eventually(() =>
          api.request("POST", "/engine/v1/complete", { workerId: "w", completions: [{ runId: run.id, attemptNumber: run.attemptNumber, ok: true }] }),
        )) as { results: Array<{ accepted: boolean }> };
        if (body.results[0]!.accepted) completed.set(run.id, (completed.get(run.id) ?? 0) + 1);
      }
    };
    await finish(inFlight.runs);
    for (let round = 0; round < 20 && completed.size < triggered.size; round += 1) {
      const { runs } = (await eventually(() => api.request("POST", "/engine/v1/dequeue", { workerId: "w", maxRuns: 50 }))) as { runs: Array<{ id: string; attemptNumber: number }> };
      await finish(runs);
    }
    assert.equal(completed.size, triggered.size, "every run completed");
    assert.ok([...completed.values()].every((count) => count === 1), "none twice");
    const [counts] = await db.sql<{ completed: number; total: number }[]>`
      select count(*) filter (where status = 'COMPLETED')::int as completed, count(*)::int as total from ratchet.runs`;
    assert.equal(counts?.total, triggered.size, "the trigger refused during the outage wrote nothing");
    assert.equal(counts?.completed, triggered.size);
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 200);
  });
});
