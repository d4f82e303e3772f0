// How long the dashboard's runs list takes to render with 1,000,000 runs in the environment: server
// time (routing, queries, template) measured in-process with app.inject, for the first page, a page
// deep in the history, and common filters. Usage: npm run bench:runs-list [-- --runs 1000000]
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { hashSecret, newSecret, sessionCookie } from "../server/dashboard/sessions.ts";
import { connect } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";
import { sessionsInsert, usersInsertAdmin } from "../server/storage/users.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "1000000" }, samples: { type: "string", default: "30" } } });
const runCount = Number(values.runs);
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
  console.error(`loading ${runCount.toLocaleString()} runs…`);
  const started = Date.now();
  // Ten tasks, mostly finished runs, some tags, spread over 30 days, ids time-ordered like UUIDv7.
  await db.sql`
    insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, tags, created_at, updated_at, started_at, finished_at)
    select
      (lpad(to_hex((extract(epoch from t) * 1000)::bigint), 12, '0') || '7' || substr(md5(n::text), 1, 3) || '8' || substr(md5(n::text), 4, 15))::uuid,
      ${environmentId}, 'task-' || (n % 10), 'task/task-' || (n % 10),
      (array['COMPLETED','COMPLETED','COMPLETED','COMPLETED','FAILED','QUEUED','EXECUTING','CANCELED'])[1 + n % 8],
      json_build_object('n', n), case when n % 7 = 0 then array['customer:' || (n % 100)] else '{}' end,
      t, t, t, t + interval '2 seconds'
    from generate_series(1, ${runCount}) as n,
      lateral (select now() - make_interval(secs => (${runCount} - n) * (2592000.0 / ${runCount}))) as s(t)`;
  await db.sql`vacuum analyze ratchet.runs`;
  console.error(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const userId = await db.sql.begin((tx) => usersInsertAdmin(tx, { email: "bench@example.com", name: "Bench", passwordHash: "scrypt$1$1$1$x$y" }));
  const token = newSecret();
  await sessionsInsert(db.sql, { tokenHash: hashSecret(token), userId, expiresAt: new Date(Date.now() + 3_600_000) }, new Date());
  const app = await buildApp({ config: loadConfig({ DATABASE_URL: server.urlFor(name) }), db, logger: pino({ level: "silent" }), sweeper: false });
  await app.ready();

  const base = `/p/${project.ref}/prod/runs`;
  const [middle] = await db.sql<{ id: string }[]>`select id from ratchet.runs order by id desc offset ${Math.floor(runCount / 2)} limit 1`;
  const { toPublicId } = await import("../server/ids.ts");
  const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 16);
  const scenarios: Array<[string, string]> = [
    ["first page", base],
    ["page in the middle of the history", `${base}?after=${toPublicId("run", middle!.id)}`],
    ["status = FAILED", `${base}?status=FAILED`],
    ["task = task-3", `${base}?task=task-3`],
    ["tag = customer:42", `${base}?tag=customer:42`],
    ["last 1 hour", `${base}?period=1h`],
    ["status = FAILED or CANCELED", `${base}?status=FAILED&status=CANCELED`],
    ["task contains \"task-\" (all ten)", `${base}?task=task-`],
    ["tag + status", `${base}?tag=customer:42&status=COMPLETED`],
    ["date range, one day two weeks ago", `${base}?from=${day(14)}&to=${day(13)}`],
    ["id starts with (the middle run's first 8)", `${base}?q=${toPublicId("run", middle!.id).slice(0, 12)}`],
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
  console.log(`Runs list, ${runCount.toLocaleString()} runs in one environment, ${samples} samples each (server time, ms):\n`);
  console.log("| request | p50 ms | p95 ms |\n| --- | --- | --- |");
  console.log(rows.join("\n"));
} finally {
  await db.close();
  await dropDatabase(server.adminUrl, name).catch(() => {});
  await server.stop();
}
