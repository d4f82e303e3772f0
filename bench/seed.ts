// Loading the benchmark's fixtures straight into the database, where going through the API would
// take longer than the measurement: extra projects (each with a prod environment and a key) and
// backlogs of queued runs. The runs have the shape test/engine-plan.test.ts loads: a row in
// ratchet.runs and its ratchet.queue_entries row, as the trigger path writes them.
import type { Sql } from "../server/db/client.ts";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { newProjectRef } from "../server/ids.ts";
import { queuesUpsertFromManifest } from "../server/storage/queues.ts";

export interface SeededEnvironment {
  id: string;
  key: string;
  projectRef: string;
}

/** A new project in the default organization with one prod environment, and a secret key for it. */
export async function addProjectEnvironment(sql: Sql, slug: string, concurrencyLimit = 1000): Promise<SeededEnvironment> {
  const ref = newProjectRef();
  const [environment] = await sql<{ id: string }[]>`
    with project as (
      insert into ratchet.projects (organization_id, ref, slug, name)
      select id, ${ref}, ${slug}, ${slug} from ratchet.organizations order by created_at limit 1
      returning id)
    insert into ratchet.environments (project_id, type, slug, concurrency_limit)
    select id, 'prod', 'prod', ${concurrencyLimit} from project
    returning id`;
  if (!environment) throw new Error("no organization to add a project to: run tenancyBootstrap first");
  const { key } = await issueSecretKey(sql, { environment: "prod", projectRef: ref });
  return { id: environment.id, key, projectRef: ref };
}

/**
 * Queues `count` runs of `task` in one environment, oldest first, in statements of at most 100,000
 * runs. The task's queue is created the way a worker registration creates it, so the seed may come
 * before the worker starts. Ends with the vacuum/analyze autovacuum would soon do on its own.
 */
export async function seedQueuedRuns(
  sql: Sql,
  options: { environmentId: string; task: string; count: number; concurrencyLimit: number | null },
): Promise<void> {
  const queueName = `task/${options.task}`;
  const queueId = await sql.begin((tx) =>
    queuesUpsertFromManifest(tx, { environmentId: options.environmentId, name: queueName, type: "task", concurrencyLimit: options.concurrencyLimit }, new Date()),
  );
  const chunk = 100_000;
  for (let first = 0; first < options.count; first += chunk) {
    const n = Math.min(chunk, options.count - first);
    // Run ids are UUIDv7-shaped like the server's (time-ordered), from the run's queue time.
    await sql`
      with inserted as (
        insert into ratchet.runs (id, environment_id, task_identifier, queue_name, status, payload, queued_at, created_at, updated_at)
        select
          (lpad(to_hex((extract(epoch from s.t) * 1000)::bigint), 12, '0') || '7' || substr(s.h, 1, 3) || '8' || substr(s.h, 4, 15))::uuid,
          ${options.environmentId}, ${options.task}, ${queueName}, 'QUEUED', '{}'::json, s.t, s.t, s.t
        from generate_series(1, ${n}) as g(n),
          lateral (select clock_timestamp() - make_interval(secs => (${n} - g.n) / 1000.0) as t, md5(random()::text || g.n::text) as h) as s
        returning id, queued_at)
      insert into ratchet.queue_entries (run_id, environment_id, queue_id, sort_key, available_at, version)
      select i.id, ${options.environmentId}, ${queueId}, i.queued_at, i.queued_at, '' from inserted i`;
  }
  await sql`vacuum analyze ratchet.queue_entries`;
  await sql`analyze ratchet.runs`;
}
