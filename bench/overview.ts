// How long the dashboard's overview and tasks page take with 1,000,000 runs in the environment, and
// the plans of their queries (auto_explain, sent back as notices): server time measured in-process
// with app.inject. Usage: npm run bench:overview [-- --runs 1000000 --days 7]
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { hashSecret, newSecret, sessionCookie } from "../server/dashboard/sessions.ts";
import { connect, type Sql } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";
import { overviewFinishedByBucket, overviewQueueDepths, overviewTaskActivity } from "../server/storage/overview.ts";
import { sessionsInsert, usersInsertAdmin } from "../server/storage/users.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "1000000" }, days: { type: "string", default: "7" }, samples: { type: "string", default: "20" } } });
const runCount = Number(values.runs);
const days = Number(values.days);
const samples = Number(values.samples);

const server = await startScratchServer(process.env.DATABASE_URL);
const name = `ratchet_bench_${randomBytes(4).toString("hex")}`;
await createDatabase(server.adminUrl, name);
const db = connect({ url: server.urlFor(name), poolSize: 10 });
try {
  await migrate(db.sql);
  const project = (await tenancyBootstrap(db.sql))!;
  const [environment] = await db.sql<{ id: string }[]>`select id from ratchet.environments where project_id = ${project.id} and type = 'prod'`;
  const environmentId = environment!.id;
  console.error(`loading ${runCount.toLocaleString()} finished runs over ${days} days…`);
  const started = Date.now();
  // Twenty tasks, final statuses (mostly COMPLETED), 0.1–10 s each, ids time-ordered like UUIDv7.
  await db.sql`
    insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, created_at, updated_at, started_at, finished_at)
    select
      (lpad(to_hex((extract(epoch from t) * 1000)::bigint), 12, '0') || '7' || substr(md5(n::text), 1, 3) || '8' || substr(md5(n::text), 4, 15))::uuid,
      ${environmentId}, 'task-' || (n % 20), 'task/task-' || (n % 20),
      (array['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','FAILED','CANCELED','CRASHED','TIMED_OUT'])[1 + n % 10],
      json_build_object('n', n), t, t, t, t + make_interval(secs => 0.1 + (n % 100) / 10.0)
    from generate_series(1, ${runCount}) as n,
      lateral (select now() - make_interval(secs => (${runCount} - n) * (${days} * 86400.0 / ${runCount}))) as s(t)`;
  await db.sql`vacuum analyze ratchet.runs`;
  console.error(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const userId = await db.sql.begin((tx) => usersInsertAdmin(tx, { email: "bench@example.com", name: "Bench", passwordHash: "scrypt$1$1$1$x$y" }));
  const token = newSecret();
  await sessionsInsert(db.sql, { tokenHash: hashSecret(token), userId, expiresAt: new Date(Date.now() + 3_600_000) }, new Date());
  const app = await buildApp({ config: loadConfig({ DATABASE_URL: server.urlFor(name) }), db, logger: pino({ level: "silent" }), sweeper: false });
  await app.ready();

  const base = `/p/${project.ref}/prod`;
  const scenarios: Array<[string, string]> = [
    ["overview, last hour", `${base}/overview`],
    ["overview, last 24 hours", `${base}/overview?range=24h`],
    ["tasks page (24 hours of activity)", `${base}/tasks`],
  ];
  const rows: string[] = [];
  for (const [label, url] of scenarios) {
    const times: number[] = [];
    for (let i = 0; i < samples + 3; i += 1) {
      const start = performance.now();
      const response = await app.inject({ method: "GET", url, headers: { cookie: `${sessionCookie}=${token}` } });
      const elapsed = performance.now() - start;
      if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode}`);
      if (i >= 3) times.push(elapsed);
    }
    rows.push(`| ${label} | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 95).toFixed(1)} |`);
  }
  await app.close();
  console.log(`Overview and tasks page, ${runCount.toLocaleString()} finished runs over ${days} days in one environment, ${samples} samples each (server time, ms):\n`);
  console.log("| request | p50 ms | p95 ms |\n| --- | --- | --- |");
  console.log(rows.join("\n"));

  // The plans, as the storage functions send their queries: auto_explain answers each with a notice.
  const plans: string[] = [];
  // auto_explain is loaded by the session's startup parameters (the scratch server's user is a superuser).
  const explaining = postgres(server.urlFor(name), {
    max: 1,
    onnotice: (notice) => plans.push(notice.message ?? ""),
    connection: {
      session_preload_libraries: "auto_explain",
      "auto_explain.log_min_duration": "0",
      "auto_explain.log_analyze": "on",
      "auto_explain.log_buffers": "on",
      "auto_explain.log_level": "notice",
    },
  });
  const to = new Date();
  const day = { from: new Date(to.getTime() - 86_400_000), to };
  const sql = explaining as unknown as Sql;
  await overviewFinishedByBucket(sql, environmentId, day, 900);
  await overviewTaskActivity(sql, environmentId, day, 50);
  await overviewQueueDepths(sql, environmentId, 20);
  await explaining.end();
  console.log(`\nPlans over 24 hours:\n\n${plans.filter((plan) => !plan.includes("set_config") && !plan.includes("pg_catalog.pg_type")).map((plan) => plan.replace(/^duration: [\d.]+ ms\s+/, "")).join("\n\n")}`);
} finally {
  await db.close();
  await dropDatabase(server.adminUrl, name).catch(() => {});
  await server.stop();
}
