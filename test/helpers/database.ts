// A database of its own for one test file, cloned from the migrated template that test/run.ts made.
import { randomBytes } from "node:crypto";
import { connect, type Db } from "../../server/db/client.ts";
import { createDatabase, dropDatabase, withDatabase } from "../../server/db/scratch.ts";

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

export function testServerAdminUrl(): string {
  const url = process.env.RATCHET_TEST_ADMIN_URL;
  if (!url) throw new Error("Run the tests with `npm test` (test/run.ts sets up Postgres for them).");
  return url;
}

export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const admin = testServerAdminUrl();
  const name = `ratchet_test_${randomBytes(6).toString("hex")}`;
  const template = options.migrated === false ? undefined : process.env.RATCHET_TEST_TEMPLATE;
  await createDatabase(admin, name, template);
  const url = withDatabase(admin, name);
  const db = connect({ url, poolSize: 10, applicationName: "ratchet-test" });
  return {
    name,
    url,
    db,
    async drop() {
      await db.close();
      await dropDatabase(admin, name);
    },
  };
}
