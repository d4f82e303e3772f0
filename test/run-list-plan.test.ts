// The runs list's filters stay on indexes with a deep history: every shape the dashboard sends
// (several statuses, tasks, tags, a date range, the start of an id, pages deep down) is explained
// by Postgres and must not scan the runs table sequentially.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runListFilters, parseRunsListQuery } from "../server/dashboard/run-filters.ts";
import { toPublicId } from "../server/ids.ts";
import { runsListQuery } from "../server/storage/run-list.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

const history = 200_000;

describe("runs list plans with a deep history", () => {
  let t: TestApp;
  let environmentId: string;
  let middle: string;

  before(async () => {
    t = await createTestApp();
    const api = new ApiClient(t.app, await t.key("prod"));
    environmentId = (await api.ok("GET", "/api/v1/whoami")).environment.id;
    const sql = t.database.db.sql;
    // Time-ordered ids like UUIDv7, ten tasks, some tags, over 30 days.
    await sql`
      insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, tags, machine, created_at, updated_at)
      select (lpad(to_hex((extract(epoch from t) * 1000)::bigint), 12, '0') || '7' || substr(md5(n::text), 1, 3) || '8' || substr(md5(n::text), 4, 15))::uuid,
        ${environmentId}, 'task-' || (n % 10), 'task/task-' || (n % 10),
        (array['COMPLETED','COMPLETED','COMPLETED','FAILED','QUEUED','CANCELED'])[1 + n % 6], '{}'::json,
        case when n % 7 = 0 then array['customer:' || (n % 100)] else '{}' end, case when n % 3 = 0 then 'small-2x' end, t, t
      from generate_series(1, ${history}) as n,
        lateral (select now() - make_interval(secs => (${history} - n) * (2592000.0 / ${history}))) as s(t)`;
    await sql`analyze ratchet.runs`;
    const [row] = await sql<{ id: string }[]>`select id from ratchet.runs where environment_id = ${environmentId} order by id offset ${history / 2} limit 1`;
    middle = row!.id;
  });
  after(() => t.close());

  test("no filter shape of the list scans the runs table", async () => {
    const tasks = Array.from({ length: 10 }, (_, index) => `task-${index}`);
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 16);
    const shapes: Record<string, string> = {
      "first page": "",
      "several statuses": "status=FAILED&status=CANCELED",
      "part of a task name": "task=task-3",
      "two tasks and a status": "task=task-1&task=task-2&status=QUEUED",
      "tags": "tag=customer:42&tag=customer:7",
      "machine": "machine=small-2x",
      "a day two weeks ago": `from=${day(14)}&to=${day(13)}`,
      "start of an id": `q=${toPublicId("run", middle).slice(0, 12)}`,
    };
    const problems: string[] = [];
    for (const [name, query] of Object.entries(shapes)) {
      for (const page of [{ size: 50 }, { size: 50, after: middle }]) {
        const filters = runListFilters(parseRunsListQuery(Object.fromEntries(new URLSearchParams(query).entries().map(([key]) => [key, new URLSearchParams(query).getAll(key)]))), tasks, Date.now());
        const compiled = runsListQuery(t.database.db.kysely, environmentId, filters, page).compile();
        const plan = (await t.database.db.sql.unsafe(`explain ${compiled.sql}`, compiled.parameters as never[])).map((row) => String(row["QUERY PLAN"])).join("\n");
        if (/Seq Scan on runs/.test(plan) || !/Index|Bitmap/.test(plan)) problems.push(`${name}${page.after ? " (deep page)" : ""}:\n${plan}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
