// The `ratchet` command line. Output meant for scripts (a new key) goes to stdout alone; everything
// else goes to stderr.
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config.ts";
import { EmbeddedPostgresError } from "../db/embedded.ts";
import { MigrationError } from "../db/migrate.ts";
import { KeyIssueError } from "../auth/issue-key.ts";
import { dbDumpCommand, keysCommand, migrateCommand } from "./commands.ts";
import { UsageError } from "./errors.ts";

const usage = `Usage: ratchet <command> [options]

Commands:
  start                         Run the server (same as \`npm start\`)
  migrate                       Apply pending database migrations and exit
  keys create --env <env>       Create a secret key and print it (env: dev, staging, prod, preview)
         [--project <ref>] [--name <name>]
  keys list [--project <ref>]   List keys (never the keys themselves)
  keys revoke <key_id | key>    Revoke a key at once
  dev [--config f] [--concurrency n]
                                Run this folder's task files against a server, reloading on change
  worker [--config f] [--concurrency n] [--shutdown-grace s] [--deployment v]
                                Run the task files for staging or production (no watcher);
                                with --deployment, the version \`ratchet deploy\` stored
  deploy [--env e] [--dry-run] [--api-url u] [--version v] [--skip-promotion]
                                Bundle the task files, store them as a new version, promote it
  db-dump [--out <file>]        Write the schema of a freshly migrated database (sql/schema.sql)

The database is DATABASE_URL, or the embedded Postgres under RATCHET_DATA_DIR (default .ratchet).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(usage);
    return command === undefined ? 1 : 0;
  }
  if (command === "start") {
    const { runServer } = await import("../main.ts");
    await runServer();
    return -1;
  }
  if (command === "deploy") {
    const { deployCommand } = await import("../../worker/deploy.ts");
    return deployCommand(rest);
  }
  if (command === "dev" || command === "worker") {
    const { workerCommand } = await import("../../worker/cli.ts");
    return workerCommand(command, rest);
  }
  const config = loadConfig();
  switch (command) {
    case "migrate":
      return migrateCommand(config);
    case "keys":
      return keysCommand(config, rest);
    case "db-dump": {
      const { values } = parseArgs({ args: rest, options: { out: { type: "string" } } });
      return dbDumpCommand(config, values.out);
    }
    default:
      throw new UsageError(`Unknown command "${command}".\n\n${usage}`);
  }
}

const expected = [ConfigError, EmbeddedPostgresError, MigrationError, KeyIssueError, UsageError];
const expectedNames = new Set(["WorkerUsageError", "ProjectError", "IndexError", "ConfigurationError", "DeployError"]);

try {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
} catch (error) {
  if (
    expected.some((type) => error instanceof type) ||
    expectedNames.has((error as Error)?.name) ||
    (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
  ) {
    console.error((error as Error).message);
    process.exit(2);
  }
  throw error;
}
