// `npm test`: one Postgres for the whole run (DATABASE_URL's server, or a temporary embedded one),
// one migrated template database, then node:test over every test file in parallel. Each test file
// clones the template into a database of its own (test/helpers/database.ts).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { glob } from "node:fs/promises";
import { connect } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";

const requested = process.argv.slice(2);
// The chaos run and the Docker suite are separate (`npm run test:chaos`, `npm run test:docker`);
// .ci/run runs them after the suite.
const files =
  requested.length > 0
    ? requested
    : (await Array.fromAsync(glob("test/**/*.test.ts"))).filter((file) => !file.startsWith("test/chaos/") && !file.startsWith("test/docker/")).sort();

const adminUrl = process.env.DATABASE_URL;
console.log(adminUrl ? "Tests use the Postgres server of DATABASE_URL" : "Tests use a temporary embedded Postgres");
const server = await startScratchServer(adminUrl);
const template = `ratchet_template_${randomBytes(4).toString("hex")}`;

let exitCode: number;
try {
  await createDatabase(server.adminUrl, template);
  const db = connect({ url: server.urlFor(template), poolSize: 1 });
  try {
    await migrate(db.sql);
  } finally {
    await db.close();
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RATCHET_TEST_ADMIN_URL: server.adminUrl,
    RATCHET_TEST_TEMPLATE: template,
  };
  delete env.DATABASE_URL;
  const concurrency = Number(process.env.RATCHET_TEST_CONCURRENCY ?? 2);
  // --test-force-exit: a file ends when its tests have, even if a test that failed or timed out left
  // a handle open (a child process, a socket); otherwise one hung test holds the suite until CI's limit.
  exitCode = await new Promise<number>((done) => {
    const child = spawn(
      process.execPath,
      ["--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", "--test-timeout=300000", "--test-force-exit", ...files],
      { stdio: "inherit", env },
    );
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
} finally {
  await dropDatabase(server.adminUrl, template).catch(() => {});
  await server.stop();
}
process.exit(exitCode);
