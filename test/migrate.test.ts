import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, test } from "node:test";
import { loadMigrations, migrate, migrationState, MigrationError } from "../server/db/migrate.ts";
import { dumpSchema } from "../server/db/schema-dump.ts";
import { createTestDatabase } from "./helpers/database.ts";

const run = promisify(execFile);
const fixtureDir = fileURLToPath(new URL("./fixtures/migrations", import.meta.url));
const migrateOnce = fileURLToPath(new URL("./fixtures/migrate-once.ts", import.meta.url));

describe("migrations", () => {
  test("twenty processes migrating at once apply each migration exactly once", async () => {
    const database = await createTestDatabase({ migrated: false });
    try {
      const outputs = await Promise.all(
        Array.from({ length: 20 }, () => run(process.execPath, [migrateOnce, database.url, fixtureDir])),
      );
      const applied = outputs.flatMap(({ stdout }) => JSON.parse(stdout) as number[]).sort();
      assert.deepEqual(applied, [1, 2], "each migration is reported applied by exactly one process");
      const [probe] = await database.db.sql<{ count: number }[]>`select count(*)::int as count from ratchet.migration_probe`;
      assert.equal(probe?.count, 1);
      const recorded = await database.db.sql<{ id: number }[]>`select id from ratchet.migrations order by id`;
      assert.deepEqual(recorded.map((row) => row.id), [1, 2]);
    } finally {
      await database.drop();
    }
  });

  test("migrating an up-to-date database applies nothing", async () => {
    const database = await createTestDatabase();
    try {
      assert.deepEqual(await migrate(database.db.sql), []);
      const state = await migrationState(database.db.sql);
      assert.deepEqual(state.pending, []);
      assert.deepEqual(state.newer, []);
    } finally {
      await database.drop();
    }
  });

  test("a database migrated by a newer Ratchet is refused with a clear message", async () => {
    const database = await createTestDatabase();
    try {
      await database.db.sql`insert into ratchet.migrations (id, name) values (9999, 'from_the_future')`;
      await assert.rejects(
        migrate(database.db.sql),
        (error: unknown) => error instanceof MigrationError && /newer version of Ratchet .*9999/.test(error.message),
      );
    } finally {
      await database.drop();
    }
  });

  test("migration files are numbered without gaps or duplicates", async () => {
    const migrations = await loadMigrations();
    assert.ok(migrations.length > 0);
    migrations.forEach((migration, index) => assert.equal(migration.id, index + 1, `${migration.name} is out of sequence`));
  });

  test("sql/schema.sql is what a fresh migrate produces (run `npm run db:dump` after adding a migration)", async () => {
    const database = await createTestDatabase({ migrated: false });
    try {
      await migrate(database.db.sql);
      const fresh = await dumpSchema(database.db.sql);
      const checkedIn = await readFile(new URL("../sql/schema.sql", import.meta.url), "utf8");
      assert.equal(fresh, checkedIn);
    } finally {
      await database.drop();
    }
  });
});
