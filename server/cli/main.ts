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
  worker [--config f] [--concurrency n] [--shutdown-grace s]
                                Run the task files for staging or production (no watcher)
  projects create --name <name> [--org <slug>]
                                Create a project with its environments; prints its ref
  users reset-password <email>  Print a one-time link that sets a new password (no SMTP needed)
  envvars reencrypt             Re-seal every environment variable with the current key (after a rotation)
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
    case "projects":
    case "users": {
      const { projectsCommand, usersCommand } = await import("./team-commands.ts");
      return command === "projects" ? projectsCommand(config, rest) : usersCommand(config, rest);
    }
    case "envvars": {
      const { envvarsCommand } = await import("./envvars-command.ts");
      return envvarsCommand(config, rest);
    }
    case "db-dump": {
      const { values } = parseArgs({ args: rest, options: { out: { type: "string" } } });
      return dbDumpCommand(config, values.out);
    }
    default:
      throw new UsageError(`Unknown command "${command}".\n\n${usage}`);
  }
}

const expected = [ConfigError, EmbeddedPostgresError, MigrationError, KeyIssueError, UsageError];
const expectedNames = new Set(["WorkerUsageError", "ProjectError", "IndexError", "ConfigurationError", "KeyringError"]);

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
