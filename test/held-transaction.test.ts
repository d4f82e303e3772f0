// A long transaction holds back vacuum (an analytics query, a forgotten session). Work goes on while
// it is open, the hot tables stay small (runnable rows only; history lives in runs), and once it ends
// vacuum reclaims the dead rows it held back.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

const heldSeconds = Number(process.env.RATCHET_HELD_TRANSACTION_SECONDS ?? 10);

describe("a transaction held open", () => {
  let t: TestApp;
  let api: ApiClient;

  before(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app, await t.key("prod"));
    await api.register([{ id: "busy", queue: { concurrencyLimit: 100 } }]);
  });
  after(() => t.close());

  test(`work continues while a transaction is held for ${heldSeconds} s, and vacuum catches up after`, async () => {
    const holder = postgres(t.database.url, { max: 1, onnotice: () => {} });
    const reserved = await holder.reserve();
    try {
      await reserved`begin isolation level repeatable read`;
      await reserved`select count(*) from ratchet.runs`; // takes the snapshot that holds back vacuum
      const deadline = Date.now() + heldSeconds * 1000;
      let done = 0;
      while (Date.now() < deadline) {
        await api.ok("POST", "/api/v2/tasks/batch", { items: Array.from({ length: 100 }, () => ({ task: "busy", payload: {} })) });
        const runs = await api.dequeue("w", 100);
        for (const run of runs) await api.complete("w", run, { ok: true });
        done += runs.length;
      }
      assert.ok(done >= 500, `work went on while the transaction was open (${done} runs)`);
      const [live] = await t.database.db.sql<{ entries: number; executions: number }[]>`
        select (select count(*)::int from ratchet.queue_entries) as entries, (select count(*)::int from ratchet.executions) as executions`;
      assert.equal(live?.entries, 0, "the hot queue holds only runnable runs");
      assert.equal(live?.executions, 0);
    } finally {
      await reserved`rollback`;
      reserved.release();
      await holder.end();
    }
    // With the snapshot gone, vacuum can reclaim every dead row of the hot tables. Its own report says
    // so (the statistics views would not: other backends flush their counts up to seconds later).
    const reports: string[] = [];
    const vacuum = postgres(t.database.url, { max: 1, onnotice: (notice) => reports.push(String(notice.message)) });
    try {
      await vacuum`vacuum (verbose) ratchet.queue_entries`;
      await vacuum`vacuum (verbose) ratchet.executions`;
    } finally {
      await vacuum.end();
    }
    const kept = reports.flatMap((report) => [...report.matchAll(/(\d+) are dead but not yet removable/g)].map((match) => Number(match[1])));
    // One report per table (and per TOAST table, where there is one).
    assert.ok(kept.length >= 2, `vacuum reported on both tables:\n${reports.join("\n")}`);
    assert.ok(kept.every((count) => count === 0), `no dead row was held back:\n${reports.join("\n")}`);
    const [size] = await t.database.db.sql<{ pages: number }[]>`
      select (pg_relation_size('ratchet.queue_entries') / current_setting('block_size')::int)::int as pages`;
    assert.ok((size?.pages ?? 0) < 200, `the queue table stayed small (${size?.pages} pages)`);
  });
});
