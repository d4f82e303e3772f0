// A key of one environment can neither read, list, change nor complete anything of another
// environment or project — checked over every API and worker route the app registers. A route added
// without an entry here fails the test.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { issueSecretKey } from "../server/auth/issue-key.ts";
import { ManualClock } from "../server/clock.ts";
import { apiKeysList } from "../server/storage/api-keys.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import { attemptSpanId, runSpanId, traceIdForRootRun } from "../server/observability/span-ids.ts";
import { fromPublicId } from "../server/ids.ts";

interface Resources {
  /** EXECUTING under the owner's worker, with a journal: a recorded step and a pending token wait. */
  run: string;
  /** DEQUEUED to the owner's worker, not started yet. */
  dequeued: string;
  /** Finished: its one item completed with an output only the owner may read. */
  batch: string;
  token: string;
  schedule: string;
  idempotencyKey: string;
  projectRef: string;
  apiKeyId: string;
  channel: string;
  environmentId: string;
  /** A packet the owner uploaded (its content is a secret). */
  packet: string;
  /** Pending: nothing processes it in this test. */
  bulkAction: string;
  /** The version the owner's worker registered, a deployment of the owner's environment. */
  version: string;
  deploymentId: string;
}

type Call = { method: string; url: string; body?: unknown; contentType?: string };

/** The owner's worker: intruders send its real id, as anyone reading the docs or a log could. */
const holder = "owner-worker";

/**
 * How to call each route against environment A's resources, with a body that passes validation.
 * Worker routes are called with the real holder's workerId, run ids, attempt numbers and waits on the
 * owner's own batch, token and runs: only the key's environment tells the intruder apart.
 */
function callsFor(method: string, url: string, r: Resources): Call[] | "public" | null {
  const fill = (pattern: string) =>
    pattern
      .replace(":runId", r.run)
      .replace(":batchId", r.batch)
      .replace(":tokenId", r.token)
      .replace(":scheduleId", r.schedule)
      .replace(":keyId", r.apiKeyId)
      .replace(":key", r.idempotencyKey)
      .replace(":ref", r.projectRef)
      .replace(":env", "prod")
      .replace(":version", r.version)
      .replace(":queue", "owned")
      .replace(":taskId", "owned")
      .replace(":position", "0")
      .replace(":attemptNumber", "1")
      .replace(":projectRef", r.projectRef)
      .replace(":slug", "prod")
      .replace(":name", "OWNED_VAR")
      .replace(":channelId", r.channel)
      .replace(":bulkActionId", r.bulkAction)
      .replace(":spanId", runSpanId(r.run))
      .replace(":environmentId", r.environmentId)
      .replace(":field", "payload")
      .replace(":target", "self")
      .replace(/\/\*$/, `/${url.startsWith("/packets/") ? r.packet : encodeURIComponent(r.packet)}`);
  const key = `${method} ${url}`;
  const leases = [{ runId: r.run, attemptNumber: 1 }, { runId: r.dequeued, attemptNumber: 1 }];
  const journal = (position: number, body: Record<string, unknown>): Call => ({
    method,
    url: `/engine/v1/runs/${r.run}/journal/${position}`,
    body: { workerId: holder, ...body },
  });
  const wait = (type: string, field: string, id: string) => ({ op: "wait", kind: "wait", name: `stolen ${type}`, wait: { type, [field]: id } });
  const worker: Record<string, Call[]> = {
    "POST /engine/v1/runs/:runId/attempts/:attemptNumber/start": [r.dequeued, r.run].map((run) => ({
      method,
      url: `/engine/v1/runs/${run}/attempts/1/start`,
      body: { workerId: holder },
    })),
    "POST /engine/v1/runs/:runId/journal/:position": [
      journal(0, { op: "get" }),
      journal(1, { op: "get" }),
      journal(2, { op: "record", kind: "step", name: "forged", output: JSON.stringify({ json: "forged" }) }),
      journal(2, wait("BATCH", "batchId", r.batch)),
      journal(2, wait("TOKEN", "tokenId", r.token)),
      journal(2, wait("RUN", "childRunId", r.dequeued)),
      journal(2, { op: "wait", kind: "wait", name: "forged date", wait: { type: "DATETIME", date: new Date(0).toISOString() } }),
    ],
    "POST /engine/v1/runs/:runId/suspend": [{ method, url: fill(url), body: { workerId: holder } }],
    "POST /engine/v1/runs/:runId/events": [{
      method,
      url: fill(url),
      body: { workerId: holder, attemptNumber: 1, events: [{ seq: 0, time: new Date().toISOString(), kind: "log", level: "info", message: "intruder" }] },
    }],
    "POST /engine/v1/heartbeat": [
      { method, url, body: { workerId: holder, runs: leases } },
      { method, url, body: { workerId: holder, runs: leases, waitSeconds: 0.05 } },
    ],
    "POST /engine/v1/complete": [{
      method,
      url,
      body: {
        workerId: holder,
        completions: [
          { runId: r.run, attemptNumber: 1, ok: true, output: "stolen" },
          { runId: r.dequeued, attemptNumber: 1, ok: false, error: { message: "forged" }, skipRetrying: true },
        ],
      },
    }, {
      method,
      url,
      body: { workerId: holder, completions: [{ runId: r.run, attemptNumber: 1, ok: false, status: "CANCELED" }, { runId: r.dequeued, attemptNumber: 1, ok: true }] },
    }, {
      method,
      url,
      body: { workerId: holder, completions: [{ runId: r.run, attemptNumber: 1, ok: false, error: { message: "retry me" }, retryInPlaceWithinMs: 300_000 }] },
    }],
    "POST /engine/v1/release": [{ method, url, body: { workerId: holder, runs: leases } }],
  };
  if (key in worker) return worker[key]!;
  const traces: Record<string, Call[]> = {
    "GET /api/v1/runs/:runId/trace": [{ method, url: fill(url) }, { method, url: `${fill(url)}?page[size]=10` }],
    "GET /api/v1/runs/:runId/spans/:spanId": [runSpanId(r.run), attemptSpanId(r.run, 1)].map((spanId) => ({ method, url: `/api/v1/runs/${r.run}/spans/${spanId}` })),
  };
  if (key in traces) return traces[key]!;
  // Concurrency limits are named by the owner's real queue (":name" is a variable's name elsewhere).
  const limit = `/api/v1/concurrency-limits/${encodeURIComponent("task/owned")}`;
  const concurrencyLimits: Record<string, Call[]> = {
    "GET /api/v1/concurrency-limits/:name": [{ method, url: limit }, { method, url: `${limit}?concurrencyKey=owned` }],
    "POST /api/v1/concurrency-limits/:name/override": [{ method, url: `${limit}/override`, body: { perKey: 1 } }],
    "POST /api/v1/concurrency-limits/:name/pause": [{ method, url: `${limit}/pause`, body: { action: "pause" } }],
    "POST /api/v1/concurrency-limits/:name/reset": [{ method, url: `${limit}/reset`, body: {} }],
  };
  if (key in concurrencyLimits) return concurrencyLimits[key]!;
  // Spans and logs naming the owner's trace, its run and its attempt's span: nothing may land.
  const ownerTrace = traceIdForRootRun(fromPublicId("run", r.run)!);
  const nanos = `${Date.now()}000000`;
  const ownerAttributes = [{ key: "ratchet.run.id", value: { stringValue: r.run } }];
  const otlp: Record<string, Call[]> = {
    "POST /otel/v1/traces": [{
      method,
      url,
      body: { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: ownerTrace, spanId: "00f067aa0ba902b7", parentSpanId: attemptSpanId(r.run, 1), name: "forged", startTimeUnixNano: nanos, endTimeUnixNano: nanos, attributes: ownerAttributes }] }] }] },
    }],
    "POST /otel/v1/logs": [{
      method,
      url,
      body: { resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: nanos, body: { stringValue: "forged" }, traceId: ownerTrace, spanId: attemptSpanId(r.run, 1), attributes: ownerAttributes }] }] }] },
    }],
  };
  if (key in otlp) return otlp[key]!;
  const bodies: Record<string, unknown> = {
    "POST /api/v1/runs/:runId/reschedule": { delay: "1h" },
    // Management routes take a personal access token; test/access-tokens.test.ts checks them user by user.
    "POST /api/v1/projects/:ref/environments/:env/keys": { name: "intruder" },
    // Takes a personal access token only; the member and organization checks: test/access-tokens.test.ts.
    "POST /api/v1/projects": { name: "intruder" },
    "POST /api/v1/runs/:runId/tags": { tags: ["intruder"] },
    "PUT /api/v1/runs/:runId/metadata": { metadata: { intruder: true } },
    "POST /api/v1/idempotencyKeys/:key/reset": { taskIdentifier: "owned" },
    "POST /api/v1/queues/:queue/pause": { type: "task", action: "pause" },
    "POST /api/v1/queues/:queue/concurrency/override": { type: "task", concurrencyLimit: 1 },
    "POST /api/v1/queues/:queue/concurrency/reset": { type: "task" },
    "POST /api/v1/waitpoints/tokens/:tokenId/complete": { data: { intruder: true } },
    "PUT /api/v1/schedules/:scheduleId": { task: "owned", cron: "0 * * * *" },
    "POST /api/v1/projects/:projectRef/envvars/:slug": { name: "INTRUDER", value: "x" },
    "POST /api/v1/projects/:projectRef/envvars/:slug/import": { variables: { OWNED_VAR: "stolen", INTRUDER: "x" }, override: true },
    "PUT /api/v1/projects/:projectRef/envvars/:slug/:name": { value: "stolen" },
    "POST /api/v1/deployments/:version/finish": { status: "FAILED", error: { message: "forged" } },
    "POST /api/v1/deployments/:version/promote": undefined,
  };
  if (url === "/api/v1/timezones" || url.includes("/callback/")) return "public";
  // Routes that act in the caller's own environment only (create, list, dequeue, register).
  const own = new Set([
    "POST /api/v1/tasks/:taskId/trigger",
    "POST /api/v2/tasks/batch",
    "POST /api/v3/batches",
    "POST /api/v1/waitpoints/tokens",
    "POST /api/v1/schedules",
    "POST /engine/v1/worker/register",
    "POST /engine/v1/dequeue",
    "GET /api/v1/runs",
    "GET /api/v1/queues",
    "GET /api/v1/concurrency-limits",
    // The key's own environment's setting: test/run-retention-settings.test.ts checks others stay untouched.
    "GET /api/v1/run-retention",
    "PUT /api/v1/run-retention",
    "GET /api/v1/schedules",
    "GET /api/v1/waitpoints/tokens",
    "GET /api/v1/whoami",
    "GET /api/v1/me",
    "GET /api/v1/projects",
    "GET /engine/v1/envvars",
    "GET /api/v1/alerts/channels",
    "POST /api/v1/alerts/channels",
    "GET /api/v1/alerts/deliveries",
    "PUT /api/v2/packets/*",
    "POST /api/v1/auth/jwt/claims",
    "POST /api/v1/auth/public-tokens",
    // Subscribes to the caller's own runs with a tag: checked in "lists and dequeues" below.
    "GET /realtime/v1/runs",
    // SQL queries are scoped to the key's environment by the database itself (test/sql-query.test.ts).
    "POST /api/v1/query",
    "GET /api/v1/query/schema",
    "POST /api/v1/bulk-actions",
    "GET /api/v1/bulk-actions",
    "GET /api/v1/deployments",
    "GET /api/v1/deployments/current",
    "POST /api/v1/deployments",
    "POST /api/v1/deployments/rollback",
  ]);
  if (key === "POST /realtime/v1/streams/:runId/:target/:key" || key === "POST /realtime/v1/streams/:runId/:target/:key/append") {
    return [{ method, url: fill(url), body: `${JSON.stringify({ intruder: true })}\n`, contentType: "application/json" }];
  }
  if (key === "PUT /realtime/v1/streams/:runId/:target/:key") return [{ method, url: fill(url) }];
  // Presigned packet URLs: a key is no credential there, only the signature is (none is sent here).
  if (key === "PUT /packets/:environmentId/*") return [{ method, url: fill(url), body: "intruder", contentType: "text/plain" }];
  if (own.has(key)) return null;
  if (key === "POST /api/v3/batches/:batchId/items") {
    return [{ method, url: fill(url), body: `${JSON.stringify({ index: 0, task: "owned", payload: {} })}\n`, contentType: "application/x-ndjson" }];
  }
  if (method === "GET" || method === "DELETE" || key in bodies || /\/(cancel|replay|activate|deactivate|abort)$/.test(url)) {
    return [{ method, url: fill(url), body: bodies[key] }];
  }
  throw new Error(`no isolation check for ${key}: add it to test/isolation.test.ts`);
}

/** Every row of the environment's runs and what hangs off them, for before/after comparisons. */
async function environmentState(sql: TestApp["database"]["db"]["sql"], environmentId: string): Promise<string> {
  const [state] = await sql<{ state: unknown }[]>`
    select jsonb_build_object(
      'runs', (select jsonb_agg(to_jsonb(r) order by r.id) from ratchet.runs r where r.environment_id = ${environmentId}),
      'executions', (select jsonb_agg(to_jsonb(x) order by x.run_id) from ratchet.executions x where x.environment_id = ${environmentId}),
      'attempts', (select jsonb_agg(to_jsonb(a) order by a.run_id, a.number) from ratchet.attempts a
        join ratchet.runs r on r.id = a.run_id where r.environment_id = ${environmentId}),
      'journal', (select jsonb_agg(to_jsonb(j) order by j.run_id, j.position) from ratchet.journal j
        join ratchet.runs r on r.id = j.run_id where r.environment_id = ${environmentId}),
      'queueEntries', (select jsonb_agg(to_jsonb(q) order by q.run_id) from ratchet.queue_entries q where q.environment_id = ${environmentId}),
      'waitpoints', (select jsonb_agg(to_jsonb(w) order by w.id) from ratchet.waitpoints w where w.environment_id = ${environmentId}),
      'runWaitpoints', (select jsonb_agg(to_jsonb(rw) order by rw.run_id, rw.waitpoint_id) from ratchet.run_waitpoints rw
        join ratchet.runs r on r.id = rw.run_id where r.environment_id = ${environmentId}),
      'batches', (select jsonb_agg(to_jsonb(b) order by b.id) from ratchet.batches b where b.environment_id = ${environmentId}),
      'queues', (select jsonb_agg(to_jsonb(q) order by q.id) from ratchet.queues q where q.environment_id = ${environmentId}),
      'schedules', (select jsonb_agg(to_jsonb(s) order by s.id) from ratchet.schedules s where s.environment_id = ${environmentId}),
      'events', (select count(*) from ratchet.events e where e.environment_id = ${environmentId}),
      'alertChannels', (select jsonb_agg(to_jsonb(c) order by c.id) from ratchet.alert_channels c where c.environment_id = ${environmentId}),
      'envvars', (select jsonb_agg(to_jsonb(v) order by v.name) from ratchet.environment_variables v where v.environment_id = ${environmentId}),
      'streams', (select jsonb_agg(to_jsonb(c) order by c.run_id, c.stream_key, c.seq) from ratchet.stream_chunks c
        join ratchet.runs r on r.id = c.run_id where r.environment_id = ${environmentId}),
      'deployments', (select jsonb_agg(to_jsonb(d) order by d.id) from ratchet.deployments d where d.environment_id = ${environmentId}),
      'currentDeployment', (select to_jsonb(c) from ratchet.current_deployments c where c.environment_id = ${environmentId}),
      'packets', (select jsonb_agg(jsonb_build_object('path', p.path, 'data', encode(p.data, 'hex')) order by p.path) from ratchet.packets p where p.environment_id = ${environmentId}),
      'bulkActions', (select jsonb_agg(to_jsonb(b) order by b.id) from ratchet.bulk_actions b where b.environment_id = ${environmentId})
    ) as state`;
  return JSON.stringify(state!.state);
}

describe("tenant isolation", () => {
  // Moved forward before the attacks, so that a forged heartbeat would visibly extend the lease.
  const clock = new ManualClock(new Date());
  let t: TestApp;
  let owner: ApiClient;
  let ownerEnvironmentId: string;
  let others: Array<[string, ApiClient]>;
  let resources: Resources;

  before(async () => {
    t = await createTestApp({ clock });
    owner = new ApiClient(t.app, await t.key("prod"));
    ownerEnvironmentId = (await owner.ok("GET", "/api/v1/whoami")).environment.id;
    const sameProject = new ApiClient(t.app, await t.key("staging"));
    // A second organization and project, with a key of its own.
    const sql = t.database.db.sql;
    const [organization] = await sql<{ id: string }[]>`insert into ratchet.organizations (slug, name) values ('other', 'Other') returning id`;
    const [project] = await sql<{ id: string }[]>`
      insert into ratchet.projects (organization_id, ref, slug, name) values (${organization!.id}, 'proj_otherotherotherother', 'other', 'Other') returning id`;
    await sql`insert into ratchet.environments (project_id, type, slug) values (${project!.id}, 'prod', 'prod')`;
    const otherProject = new ApiClient(t.app, (await issueSecretKey(sql, { environment: "prod", projectRef: "proj_otherotherotherother" })).key);
    others = [["another environment of the project", sameProject], ["another project", otherProject]];

    const { version } = await owner.register([{ id: "owned" }]);
    const run = await owner.trigger("owned", { secret: "owner's payload" }, { idempotencyKey: "owned-key", tags: ["mine"], metadata: { owner: true } });
    // The run is executing under the owner's worker, so worker routes have something to steal.
    const [claimed] = await owner.dequeue(holder, 1);
    assert.equal(claimed?.id, run.id);
    await owner.start(holder, claimed!);
    const dequeued = await owner.trigger("owned", { secret: "owner's payload" });
    assert.equal((await owner.dequeue(holder, 1))[0]?.id, dequeued.id);
    const batch = await owner.ok("POST", "/api/v2/tasks/batch", { items: [{ task: "owned", payload: {} }] });
    const [item] = await owner.dequeue(holder, 1);
    assert.equal((await owner.complete(holder, item!, { ok: true, output: "owner's batch output" })).accepted, true);
    const token = await owner.ok("POST", "/api/v1/waitpoints/tokens", {});
    const ownJournal = (position: number, body: Record<string, unknown>) =>
      owner.ok("POST", `/engine/v1/runs/${run.id}/journal/${position}`, { workerId: holder, ...body });
    await ownJournal(0, { op: "record", kind: "step", name: "step", output: JSON.stringify({ json: "owner's step output" }) });
    // A log line of the owner's, which the trace routes must not show anyone else.
    await owner.ok("POST", `/engine/v1/runs/${run.id}/events`, {
      workerId: holder,
      attemptNumber: 1,
      events: [{ seq: 0, time: clock.now().toISOString(), kind: "log", level: "info", message: "owner's log line" }],
    });
    assert.equal((await ownJournal(1, { op: "wait", kind: "token", name: "token", wait: { type: "TOKEN", tokenId: token.id } })).entry.status, "PENDING");
    for (const streamKey of ["owned-key", "owned-stream"]) await owner.ok("POST", `/realtime/v1/streams/${run.id}/self/${streamKey}/append`, "owner's stream");
    const schedule = await owner.ok("POST", "/api/v1/schedules", { task: "owned", cron: "0 * * * *", deduplicationKey: "owned" });
    const bulkAction = await owner.ok("POST", "/api/v1/bulk-actions", { action: "cancel", filter: { tag: "no-such-tag" } });
    await owner.ok("POST", `/api/v1/projects/${t.project.ref}/envvars/prod`, { name: "OWNED_VAR", value: "owner's secret value", isSecret: true });
    await owner.ok("POST", `/api/v1/projects/${t.project.ref}/envvars/prod`, { name: "OWNED_PLAIN", value: "owner's plain value" });
    const channel = await owner.ok("POST", "/api/v1/alerts/channels", { type: "webhook", name: "owner's channel name", url: "http://127.0.0.1:9/owner-hook" });
    const [ownerKey] = await apiKeysList(sql, t.project.id);
    const packet = "trigger/packet_owned/payload.json";
    const presigned = await owner.ok("PUT", `/api/v2/packets/${encodeURIComponent(packet)}`);
    const upload = await t.app.inject({ method: "PUT", url: new URL(presigned.presignedUrl).pathname + new URL(presigned.presignedUrl).search, headers: { "content-type": "application/json" }, payload: JSON.stringify("owner's packet") });
    assert.equal(upload.statusCode, 200);
    resources = {
      run: run.id,
      dequeued: dequeued.id,
      batch: batch.id,
      token: token.id,
      schedule: schedule.id,
      idempotencyKey: "owned-key",
      projectRef: t.project.ref,
      apiKeyId: ownerKey!.publicId,
      channel: channel.id,
      environmentId: ownerEnvironmentId,
      packet,
      bulkAction: bulkAction.id,
      version,
      deploymentId: (await owner.ok("GET", "/api/v1/deployments/current")).id,
    };
  });
  after(() => t.close());

  test("no route lets another environment's key touch the owner's resources, even with the holder's workerId", async () => {
    const routes = t.app.ratchetRoutes
      .filter((route) => /^\/(api|engine|realtime|packets|otel)\//.test(route.url) && route.method !== "HEAD")
      // A forged release would take the runs away before a forged completion could be seen: last.
      .sort((a, b) => Number(a.url === "/engine/v1/release") - Number(b.url === "/engine/v1/release"));
    assert.ok(routes.length > 40, `all routes were seen (${routes.length})`);
    clock.advance(10_000);
    let before = await environmentState(t.database.db.sql, ownerEnvironmentId);
    const failures: string[] = [];
    let checked = 0;
    for (const [who, intruder] of others) {
      for (const route of routes) {
        const calls = callsFor(route.method, route.url, resources);
        if (calls === null || calls === "public") continue;
        for (const call of calls) {
          const response = await t.app.inject({
            method: call.method as "GET",
            url: call.url,
            headers: {
              authorization: `Bearer ${intruder.key}`,
              ...(call.body === undefined ? {} : { "content-type": call.contentType ?? "application/json" }),
            },
            payload: call.body === undefined ? undefined : typeof call.body === "string" ? call.body : JSON.stringify(call.body),
          });
          const label = `${who}: ${call.method} ${call.url} ${JSON.stringify(call.body)?.slice(0, 200)} → ${response.statusCode} ${response.body.slice(0, 300)}`;
          // Every hole is reported, not only the first: after one, the next calls compare to the new state.
          try {
            if (route.url === "/engine/v1/heartbeat") {
              assert.equal(response.statusCode, 200, label);
              assert.deepEqual(response.json().cancel, [], label);
              assert.deepEqual(response.json().lost.sort(), [resources.run, resources.dequeued].sort(), label);
            } else if (route.url === "/engine/v1/complete") {
              assert.equal(response.statusCode, 200, label);
              for (const result of response.json().results) assert.equal(result.accepted, false, label);
            } else if (route.url.startsWith("/otel/")) {
              // OTLP's partial success: answered, with every item refused.
              assert.equal(response.statusCode, 200, label);
              const refused = response.json().partialSuccess;
              assert.equal(refused.rejectedSpans ?? refused.rejectedLogRecords, 1, label);
            } else if (route.url === "/engine/v1/release") {
              assert.equal(response.statusCode, 200, label);
              assert.equal(response.json().released, 0, label);
            } else {
              assert.ok(response.statusCode >= 400 && response.statusCode < 500, label);
            }
            for (const secret of ["owner's payload", "owner's batch output", "owner's step output", "owner's secret value", "owner's plain value", "owner's channel name", "owner-hook", "owner's packet", "owner's stream", "owner's log line"]) assert.ok(!response.body.includes(secret), `${label}: leaks ${secret}`);
          } catch (error) {
            failures.push((error as Error).message.split("\n")[0]!);
          }
          // Nothing of the owner's changed: status, output, lease expiry, attempts, journal, waits.
          const after = await environmentState(t.database.db.sql, ownerEnvironmentId);
          if (after !== before) {
            failures.push(`${label}: changed the owner's rows`);
            before = after;
          }
          checked += 1;
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(checked > 60, `${checked} calls checked`);

    // The owner's things are as they were, and the owner's own worker still holds its runs.
    const run = await owner.retrieve(resources.run);
    assert.equal(run.status, "EXECUTING");
    assert.deepEqual(run.tags, ["mine"]);
    assert.deepEqual(run.metadata, { owner: true });
    assert.equal((await owner.retrieve(resources.dequeued)).status, "DEQUEUED");
    assert.equal((await owner.ok("GET", `/api/v1/waitpoints/tokens/${resources.token}`)).status, "WAITING");
    assert.equal((await owner.ok("GET", `/api/v1/schedules/${resources.schedule}`)).active, true);
    const queue = await owner.ok("GET", "/api/v1/queues/owned?type=task");
    assert.equal(queue.paused, false);
    assert.equal(queue.concurrency.override, null);
    const { events } = await owner.ok("GET", `/api/v1/runs/${resources.run}/events`);
    assert.deepEqual(events.map((event: { message: string }) => event.message), ["owner's log line"], "only the owner's own event");
    const beat = await owner.ok("POST", "/engine/v1/heartbeat", { workerId: holder, runs: [{ runId: resources.run, attemptNumber: 1 }, { runId: resources.dequeued, attemptNumber: 1 }] });
    assert.deepEqual(beat.lost, []);
  });

  test("a run of another environment cannot wait on the owner's batch, token or runs, nor read their results", async () => {
    const before = await environmentState(t.database.db.sql, ownerEnvironmentId);
    for (const [who, intruder] of others) {
      const { environment } = await intruder.ok("GET", "/api/v1/whoami");
      await intruder.register([{ id: "thief" }]);
      const { id } = await intruder.trigger("thief", {});
      const [claimed] = await intruder.dequeue("thief-worker", 1);
      assert.equal(claimed?.id, id, who);
      await intruder.start("thief-worker", claimed!);
      const waits = [
        { type: "BATCH", batchId: resources.batch },
        { type: "TOKEN", tokenId: resources.token },
        { type: "RUN", childRunId: resources.run },
        { type: "RUN", childRunId: resources.dequeued },
      ];
      for (const [position, wait] of waits.entries()) {
        const response = await intruder.request("POST", `/engine/v1/runs/${id}/journal/${position}`, {
          workerId: "thief-worker",
          op: "wait",
          kind: "wait",
          name: `steal ${wait.type}`,
          wait,
        });
        const label = `${who}: wait on the owner's ${wait.type} → ${response.status} ${JSON.stringify(response.body)}`;
        assert.equal(response.status, 404, label);
        assert.ok(!JSON.stringify(response.body).includes("owner's"), label);
        const entry = await intruder.ok("POST", `/engine/v1/runs/${id}/journal/${position}`, { workerId: "thief-worker", op: "get" });
        assert.equal(entry.entry, null, `${label}: nothing was journaled`);
      }
      const [pointing] = await t.database.db.sql`
        select 1 from ratchet.waitpoints where environment_id = ${environment.id}
          and (completed_by_batch_id is not null or completed_by_run_id is not null)`;
      assert.equal(pointing, undefined, `${who}: no waitpoint of the intruder points at the owner's things`);
      await intruder.complete("thief-worker", claimed!, { ok: true });
    }
    assert.equal(await environmentState(t.database.db.sql, ownerEnvironmentId), before);
  });

  test("a public token of another run, or of another environment, reads nothing of the owner's run", async () => {
    const { id: ownRun, headers } = await (async () => {
      const response = await owner.request("POST", "/api/v1/tasks/owned/trigger", { payload: { mine: true } });
      return { id: response.body.id as string, headers: response.headers };
    })();
    const ownersOtherRunToken = String(headers["x-trigger-jwt"]);
    const [, intruder] = others[0]!;
    // Another environment's token that names the owner's run, batch and tag in its scopes.
    const { token: foreignToken } = await intruder.ok("POST", "/api/v1/auth/public-tokens", {
      scopes: [`read:runs:${resources.run}`, `read:batch:${resources.batch}`, "read:tags:mine"],
    });
    for (const [label, token] of [["a token of another run", ownersOtherRunToken], ["a token of another environment", foreignToken]] as const) {
      for (const url of [
        `/api/v3/runs/${resources.run}`,
        `/realtime/v1/runs/${resources.run}?offset=-1`,
        `/realtime/v1/batches/${resources.batch}?offset=-1`,
        `/realtime/v1/runs?tags=mine&offset=-1`,
        `/api/v1/runs/${resources.run}/packets/payload`,
        `/api/v1/packets/${encodeURIComponent(resources.packet)}`,
        `/realtime/v1/streams/${resources.run}/owned-stream`,
      ]) {
        const response = await t.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${token}` } });
        const emptyShape = url.startsWith("/realtime/v1/runs?") && response.statusCode === 200 && response.body === JSON.stringify([{ headers: { control: "up-to-date" } }]);
        assert.ok(emptyShape || (response.statusCode >= 400 && response.statusCode < 500), `${label}: GET ${url} → ${response.statusCode} ${response.body.slice(0, 200)}`);
        if (response.statusCode < 400) assert.ok(!response.body.includes(resources.run), `${label}: GET ${url} names the owner's run`);
        assert.ok(!response.body.includes("owner's"), `${label}: GET ${url} leaks`);
      }
    }
    // The owner's token for its own run does read that run.
    const own = await t.app.inject({ method: "GET", url: `/realtime/v1/runs/${ownRun}?offset=-1`, headers: { authorization: `Bearer ${ownersOtherRunToken}` } });
    assert.equal(own.statusCode, 200);
  });

  test("lists and dequeues of another environment never include the owner's things", async () => {
    for (const [who, intruder] of others) {
      const runs = await intruder.ok("GET", "/api/v1/runs");
      assert.ok(!JSON.stringify(runs).includes(resources.run), who);
      const tokens = await intruder.ok("GET", "/api/v1/waitpoints/tokens");
      assert.ok(!JSON.stringify(tokens).includes(resources.token), who);
      const schedules = await intruder.ok("GET", "/api/v1/schedules");
      assert.ok(!JSON.stringify(schedules).includes(resources.schedule), who);
      const channels = await intruder.ok("GET", "/api/v1/alerts/channels");
      assert.ok(!JSON.stringify(channels).includes(resources.channel), `${who}: alert channels are per environment`);
      const variables = await intruder.ok("GET", "/engine/v1/envvars");
      assert.ok(!JSON.stringify(variables).includes("owner's"), `${who}: the worker route serves the caller's own variables`);
      const queues = await intruder.ok("GET", "/api/v1/queues");
      assert.ok(!JSON.stringify(queues).includes("task/owned"), who);
      const deployments = await intruder.ok("GET", "/api/v1/deployments");
      assert.ok(!JSON.stringify(deployments).includes(resources.deploymentId), who);
      await intruder.register([{ id: "owned" }]);
      assert.deepEqual(await intruder.dequeue("intruder", 100), [], who);
      const tagged = await intruder.ok("GET", "/realtime/v1/runs?tags=mine&offset=-1");
      assert.deepEqual(tagged, [{ headers: { control: "up-to-date" } }], `${who}: a tag subscription sees only its own runs`);
      const reused = await intruder.trigger("owned", {}, { idempotencyKey: "owned-key" });
      assert.notEqual(reused.id, resources.run, `${who}: idempotency keys are per environment`);
    }
  });

  test("filters are parameters: SQL in them is harmless", async () => {
    const hostile = ["' or 1=1 --", "x'); drop table ratchet.runs; --", "\\\\'", "%", "_"];
    for (const value of hostile) {
      for (const filter of ["filter[taskIdentifier]", "filter[tag]", "filter[queue]", "filter[version]"]) {
        const response = await owner.request("GET", `/api/v1/runs?${filter}=${encodeURIComponent(value)}`);
        assert.equal(response.status, 200, `${filter}=${value}`);
        assert.deepEqual(response.body.data, [], `${filter}=${value}`);
      }
    }
    assert.equal((await owner.retrieve(resources.run)).status, "EXECUTING", "the runs table is still there");
  });
});
