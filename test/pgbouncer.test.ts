// Two server processes on one Postgres through PgBouncer in transaction mode (Debian's pgbouncer,
// started here): the pools send no named prepared statements, LISTEN goes over the direct URL,
// advisory locks are transaction-scoped, and every run completes exactly once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { connect } from "../server/db/client.ts";
import { fromPublicId } from "../server/ids.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { pgbouncerBinary, pgbouncerInstalled, startPgbouncer, type Bouncer } from "./helpers/pgbouncer.ts";
import { projectRoot, removeDataDir, runCli, spawnServer, tempDataDir, waitUntilReady, type ServerProcess } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";

const runs = 200;

describe("behind PgBouncer in transaction mode", { skip: pgbouncerInstalled() ? false : `${pgbouncerBinary} is not installed (apt-get install pgbouncer)` }, () => {
  let database: TestDatabase;
  let bouncer: Bouncer;
  const servers: ServerProcess[] = [];
  const dataDirs: string[] = [];
  const workers: Worker[] = [];
  let key: string;

  before(async () => {
    database = await createTestDatabase();
    bouncer = await startPgbouncer(database.url);
    const env = { DATABASE_URL: bouncer.url, RATCHET_DIRECT_DATABASE_URL: database.url };
    for (let index = 0; index < 2; index += 1) {
      const dataDir = await tempDataDir();
      dataDirs.push(dataDir);
      servers.push(await spawnServer({ dataDir, env }));
    }
    await Promise.all(servers.map((server) => waitUntilReady(server)));
    const created = await runCli(["admin", "keys", "create", "--env", "dev", "--name", "bouncer"], env);
    assert.equal(created.code, 0, created.stderr);
    key = created.stdout.trim();
    for (const server of servers) {
      workers.push(startWorker(join(projectRoot, "test/fixtures/project"), { RATCHET_API_URL: server.url, RATCHET_SECRET_KEY: key }));
    }
    await Promise.all(workers.map((worker) => worker.waitFor(/tasks registered as version/)));
  });

  after(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    for (const server of servers) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    await bouncer?.stop();
    await Promise.all(dataDirs.map((dir) => removeDataDir(dir)));
    await database?.drop();
  });

  test(`${runs} runs triggered through two servers each complete exactly once`, async () => {
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: runs }, async (_, index) => {
        const server = servers[index % servers.length]!;
        const response = await fetch(`${server.url}/api/v1/tasks/hello/trigger`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ payload: { name: `n${index}` } }),
        });
        const body = (await response.json()) as { id: string };
        assert.equal(response.status, 200, JSON.stringify(body));
        ids.push(fromPublicId("run", body.id)!);
      }),
    );
    const sql = database.db.sql;
    // Waits on the runs' own state, read straight from Postgres.
    for (;;) {
      const [row] = await sql<{ done: number }[]>`select count(*)::int as done from ratchet.runs where id = any(${ids}::uuid[]) and status = 'COMPLETED'`;
      if (row!.done === runs) break;
      const [failed] = await sql<{ n: number }[]>`select count(*)::int as n from ratchet.runs where id = any(${ids}::uuid[]) and status not in ('COMPLETED', 'PENDING', 'QUEUED', 'EXECUTING', 'DEQUEUED')`;
      assert.equal(failed!.n, 0, `runs ended otherwise:\n${servers.map((server) => server.output()).join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const attempts = await sql<{ run_id: string; n: number }[]>`select run_id, count(*)::int as n from ratchet.attempts where run_id = any(${ids}::uuid[]) group by run_id`;
    assert.equal(attempts.length, runs);
    assert.ok(attempts.every((row) => row.n === 1), "one attempt each");
    const served = new Set(attempts.length ? (await sql<{ worker_id: string }[]>`select distinct worker_id from ratchet.attempts where run_id = any(${ids}::uuid[])`).map((row) => row.worker_id) : []);
    assert.equal(served.size, 2, "both workers, one per server, took runs");
    for (const server of servers) assert.doesNotMatch(server.output(), /prepared statement|"level":50/, "no errors logged");
  });

  test("the pools' transactions went through PgBouncer; each server LISTENs over the direct URL", async () => {
    const admin = postgres(bouncer.adminUrl, { max: 1, onnotice: () => {}, fetch_types: false });
    try {
      const stats = await admin.unsafe("SHOW STATS").simple();
      const ours = stats.find((row) => row.database === "ratchet");
      assert.ok(ours && Number(ours.total_xact_count) > runs * 2, `PgBouncer saw ${ours?.total_xact_count} transactions`);
    } finally {
      await admin.end();
    }
    const listeners = await database.db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = ${database.name} and application_name = 'ratchet-listen' and query ilike 'listen%'`;
    assert.ok(listeners[0]!.n >= servers.length, `${listeners[0]!.n} direct LISTEN connections`);
  });
});

describe("a pooled Db never pipelines through PgBouncer", { skip: pgbouncerInstalled() ? false : `${pgbouncerBinary} is not installed (apt-get install pgbouncer)` }, () => {
  let database: TestDatabase;
  let bouncer: Bouncer;

  before(async () => {
    database = await createTestDatabase();
    // Two server connections for three clients' connections: each statement may land on either.
    bouncer = await startPgbouncer(database.url, { defaultPoolSize: 2 });
  });
  after(async () => {
    await bouncer?.stop();
    await database?.drop();
  });

  test("statements sent together on one connection each get their own answer, while another client shares the servers", { timeout: 60_000 }, async () => {
    // One connection, so statements queue on it: a pipelined statement would be bound on whichever
    // server connection PgBouncer links after the previous one's ReadyForQuery (another client's
    // unnamed statement: "malformed array literal", a wrong row, or no answer at all).
    const pooled = connect({ url: bouncer.url, directUrl: database.url, poolSize: 1, applicationName: "pipeline-check" });
    const other = postgres(bouncer.url, { max: 2, prepare: false, onnotice: () => {} });
    let stop = false;
    const ids = ["7f1c1c56-3d8d-4c56-9f0e-3c2b1b6a0c11"];
    const noise = async () => {
      while (!stop) {
        const [row] = await other`select ${ids}::uuid[] as ids, ${"x"}::text as t`;
        assert.deepEqual(row!.ids, ids);
      }
    };
    try {
      const noisy = [noise(), noise()];
      for (let n = 1; n <= 1500; n += 1) {
        const [one, two] = await Promise.all([pooled.sql`select 1 as one`, pooled.sql`select ${n}::int as n, now() as at`]);
        assert.equal(one[0]!.one, 1);
        assert.equal(two[0]!.n, n);
        assert.ok(two[0]!.at instanceof Date);
      }
      stop = true;
      await Promise.all(noisy);
    } finally {
      stop = true;
      await pooled.close();
      await other.end();
    }
  });

  test("transactions keep postgres.js's semantics: options, savepoints, arrays, rollback on error", async () => {
    const pooled = connect({ url: bouncer.url, directUrl: database.url, poolSize: 3, applicationName: "pipeline-check" });
    try {
      const sql = pooled.sql;
      await sql`create table pipeline_check (n int primary key)`;
      const level = await sql.begin("isolation level repeatable read read only", (tx) => tx<{ level: string }[]>`select current_setting('transaction_isolation') as level`);
      assert.equal(level[0]!.level, "repeatable read");
      await assert.rejects(sql.begin((tx) => tx`insert into pipeline_check values (1)`.then(() => tx`select 1/0`)), /division by zero/);
      const saved = await sql.begin(async (tx) => {
        await tx`insert into pipeline_check values (2)`;
        await assert.rejects(tx.savepoint((inner) => inner`insert into pipeline_check values (2)`), /duplicate key/);
        await tx.savepoint((inner) => inner`insert into pipeline_check values (3)`);
        return tx<{ n: number }[]>`select count(*)::int as n from pipeline_check`;
      });
      assert.equal(saved[0]!.n, 2);
      // A function (not async) returning queries: they run together, in the transaction.
      const both = await sql.begin((tx) => [tx<{ n: number }[]>`select count(*)::int as n from pipeline_check`, tx<{ n: number }[]>`select 4 as n`]);
      assert.deepEqual([both[0]![0]!.n, both[1]![0]!.n], [2, 4]);
      const rows = await sql<{ n: number }[]>`select n from pipeline_check order by n`;
      assert.deepEqual(rows.map((row) => row.n), [2, 3], "the failed transaction left nothing; the failed savepoint only its own row");
      // Many transactions at once on a small pool all finish, each on a connection of its own.
      const counts = await Promise.all(Array.from({ length: 40 }, (_, i) => sql.begin(async (tx) => {
        await tx`insert into pipeline_check values (${100 + i})`;
        return tx<{ n: number }[]>`select ${i}::int as n`;
      })));
      assert.deepEqual(counts.map((row) => row[0]!.n), Array.from({ length: 40 }, (_, i) => i));
    } finally {
      await pooled.close();
    }
  });
});
