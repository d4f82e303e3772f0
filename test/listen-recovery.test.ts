// The LISTEN connection is killed (pg_terminate_backend): it is re-established by itself, and
// notifications wake long-polling workers again. Polling is slowed to 20 s here, so a prompt wake-up
// can only come from a notification.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { connect } from "../server/db/client.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";
import type { FastifyInstance } from "fastify";

describe("LISTEN connection recovery", () => {
  let t: TestApp;
  let listener: FastifyInstance;
  let listenerDb: ReturnType<typeof connect>;
  let api: ApiClient;
  let waiter: ApiClient;

  before(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "wake" }]);
    listenerDb = connect({ url: t.database.url, poolSize: 4, applicationName: "ratchet-listener" });
    listener = await buildApp({ config: t.config, db: listenerDb, logger: pino({ level: "silent" }), sweeper: false, settings: { dequeuePollMs: 20_000 } });
    await listener.ready();
    waiter = new ApiClient(listener, api.key);
  });
  after(async () => {
    await listener.close();
    await listenerDb.close();
    await t.close();
  });

  const listenPids = () =>
    t.database.db.sql<{ pid: number }[]>`
      select pid from pg_stat_activity
      where datname = current_database() and application_name = 'ratchet-listener' and query ilike 'listen%'`;

  test("a terminated LISTEN connection comes back and notifications wake waiting workers again", async () => {
    let pids = await listenPids();
    while (pids.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      pids = await listenPids();
    }
    const killed = pids.map((row) => row.pid);
    await t.database.db.sql`select pg_terminate_backend(pid) from unnest(${killed}::int[]) as pid`;
    // Re-established: a LISTEN connection with another backend.
    for (;;) {
      const now = await listenPids();
      if (now.length > 0 && now.every((row) => !killed.includes(row.pid))) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const environmentId = (await waiter.ok("GET", "/api/v1/whoami")).environment.id;
    const started = Date.now();
    const polling = waiter.ok("POST", "/engine/v1/dequeue", { workerId: "w", maxRuns: 1, waitSeconds: 15 });
    while (listener.ratchet.notifier.waiting(environmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
    // Triggered through the other server: only Postgres's NOTIFY can tell the listener.
    const { id } = await api.trigger("wake", {});
    const { runs } = await polling;
    assert.equal(runs[0]?.id, id);
    assert.ok(Date.now() - started < 10_000, "woken by the notification, not by the 20 s poll");
  });
});
