// The `ratchet` command line, built with commander. Output meant for scripts (a new key or token)
// goes to stdout alone; everything else goes to stderr. Every failure a user can cause prints one
// sentence with the fix and exits non-zero; stacks only with --verbose.
import { Command, CommanderError, Option } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KeyIssueError } from "../auth/issue-key.ts";
import { ConfigError, loadConfig } from "../config.ts";
import { EmbeddedPostgresError } from "../db/embedded.ts";
import { MigrationError } from "../db/migrate.ts";
import { packageRoot } from "../package-root.ts";
import { environmentTypes } from "../storage/tenancy.ts";
import { CliError, isUnreachable, UsageError } from "./errors.ts";

const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
const envOption = () => new Option("--env <env>", "the environment").choices(environmentTypes);
const apiUrlOption = () => new Option("--api-url <url>", "the Ratchet server (default: RATCHET_API_URL, then the profile of `ratchet login`)");

function program(run: (code: Promise<number>) => void): Command {
  const ratchet = new Command("ratchet")
    .description("Ratchet: durable background tasks for TypeScript, with Postgres as the only infrastructure.")
    .version(version, "-v, --version", "print Ratchet's version")
    .option("--verbose", "show the stack trace of an error")
    .helpCommand(true)
    .showSuggestionAfterError(true)
    .exitOverride();

  ratchet.commandsGroup("Your project:");
  ratchet
    .command("init")
    .description("set up Ratchet in this project: ratchet.config.ts, trigger/example.ts and the dependency")
    .option("-y, --yes", "ask nothing: accept every default")
    .action(async (options: { yes?: boolean }) => {
      const { initCommand } = await import("./init.ts");
      run(initCommand(process.cwd(), options));
    });
  const workerOptions = (command: Command) =>
    command
      .option("--config <file>", "the config file (default: ratchet.config.ts or trigger.config.ts here)")
      .option("--concurrency <n>", "attempts run at once (default: the config's, else 10)")
      .addOption(apiUrlOption())
      .option("--shutdown-grace <seconds>", "how long a stop waits for runs in hand", "30");
  workerOptions(
    ratchet
      .command("dev")
      .description("run this folder's tasks against a server, re-registering them on every change")
      .addOption(envOption().default(undefined, "dev; another environment's key is refused unless named here")),
  ).action(async (options) => {
    const { workerCommand } = await import("../../worker/cli.ts");
    run(workerCommand("dev", options));
  });
  workerOptions(
    ratchet
      .command("worker")
      .description("run this folder's tasks for staging or production (no watcher)")
      .addOption(envOption().default(undefined, "the key's; set it to check the key is of that environment")),
  ).action(async (options) => {
    const { workerCommand } = await import("../../worker/cli.ts");
    run(workerCommand("worker", options));
  }).option("--deployment <version>", "run the version `ratchet deploy` stored, serving only the runs pinned to it");
  ratchet
    .command("deploy")
    .description("bundle the task files, store them as a new version (an image when Docker is there) and promote it")
    .addOption(envOption())
    .addOption(apiUrlOption())
    .option("--config <file>", "the config file (default: ratchet.config.ts or trigger.config.ts here)")
    .option("--dry-run", "print what would be built and registered, and stop")
    .option("--as-version <version>", "the version to register (default: the next one)")
    .option("--skip-promotion", "register the version without making it current")
    .option("--no-image", "store the bundle only, even when a Docker daemon answers")
    .action(async (options: { env?: string; apiUrl?: string; config?: string; dryRun?: boolean; asVersion?: string; skipPromotion?: boolean; image?: boolean }) => {
      const { deploy } = await import("../../worker/deploy.ts");
      run(deploy({ ...options, version: options.asVersion, log: (line) => console.log(line) }).then(() => 0));
    });

  ratchet
    .command("runner")
    .description("run deployed versions' images on a Docker host: a container per attempt, up to a cap")
    .addOption(envOption().default(undefined, "the key's; set it to check the key is of that environment"))
    .addOption(apiUrlOption())
    .option("--docker-host <url>", "the Docker daemon (default: DOCKER_HOST, else /var/run/docker.sock)")
    .option("--max-containers <n>", "containers at once on this host (default: RATCHET_RUNNER_MAX_CONTAINERS, else 10)")
    .option("--refresh <seconds>", "how often new deployments are looked for", "5")
    .option("--shutdown-grace <seconds>", "how long a stop waits for runs in hand", "30")
    .action(async (options: { env?: string; apiUrl?: string; dockerHost?: string; maxContainers?: string; refresh?: string; shutdownGrace?: string }) => {
      const { runnerCommand } = await import("../../worker/runner-command.ts");
      run(runnerCommand({ ...options, refreshSeconds: options.refresh }));
    });

  ratchet.commandsGroup("Your account on a server (a personal access token; no database):");
  ratchet
    .command("login")
    .description("save a server's URL and your personal access token in ~/.config/ratchet/")
    .addOption(apiUrlOption())
    .option("--token <token>", "a personal access token (tr_pat_…; default: RATCHET_ACCESS_TOKEN, else asked for)")
    .action(async (options) => {
      const { loginCommand } = await import("./account-commands.ts");
      run(loginCommand(options));
    });
  ratchet
    .command("logout")
    .description("forget the saved profile")
    .action(async () => {
      const { logoutCommand } = await import("./account-commands.ts");
      run(logoutCommand());
    });
  ratchet
    .command("whoami")
    .description("show who you are on the server and the projects you may see")
    .addOption(apiUrlOption())
    .action(async (options) => {
      const { whoamiCommand } = await import("./account-commands.ts");
      run(whoamiCommand(options));
    });
  const projects = ratchet
    .command("projects")
    .description("list the projects you may see")
    .addOption(apiUrlOption())
    .action(async (options) => {
      const { projectsCommand } = await import("./account-commands.ts");
      run(projectsCommand(options));
    });
  projects
    .command("create")
    .description("create a project with its dev, staging, prod and preview environments; print its ref (admins only)")
    .requiredOption("--name <name>", "the project's name")
    .option("--org <slug>", "the organization (default: your only one)")
    .addOption(apiUrlOption())
    .action(async (options) => {
      const { projectsCreateCommand } = await import("./account-commands.ts");
      run(projectsCreateCommand(options));
    });
  const keys = ratchet.command("keys").description("secret keys of your projects' environments, through the server");
  keys.action(() => keys.help());
  keys
    .command("create")
    .description("create a secret key and print it alone on stdout (prod: admins and members with prod access)")
    .addOption(envOption())
    .option("--project <ref>", "the project (default: your only one)")
    .option("--name <name>", "a name to recognise the key by")
    .addOption(apiUrlOption())
    .action(async (options) => {
      const { keysCreateCommand } = await import("./account-commands.ts");
      run(keysCreateCommand(options));
    });
  keys
    .command("list")
    .description("list keys (never the keys themselves)")
    .addOption(envOption())
    .option("--project <ref>", "the project (default: your only one)")
    .addOption(apiUrlOption())
    .action(async (options) => {
      const { keysListCommand } = await import("./account-commands.ts");
      run(keysListCommand(options));
    });
  keys
    .command("revoke <keyId>")
    .description("revoke a key at once (prod: admins and members with prod access)")
    .addOption(envOption())
    .option("--project <ref>", "the project (default: your only one)")
    .addOption(apiUrlOption())
    .action(async (keyId: string, options) => {
      const { keysRevokeCommand } = await import("./account-commands.ts");
      run(keysRevokeCommand(keyId, options));
    });

  ratchet.commandsGroup("Server administration (on the server's machine: these open the database directly):");
  ratchet
    .command("start")
    .description("run the server (same as `npm start`)")
    .action(async () => {
      const { runServer } = await import("../main.ts");
      await runServer();
    });
  ratchet
    .command("migrate")
    .description("apply pending database migrations and exit")
    .action(async () => {
      const { migrateCommand } = await import("./commands.ts");
      run(migrateCommand(loadConfig()));
    });
  ratchet
    .command("db-dump")
    .description("write the schema of a freshly migrated database (default sql/schema.sql)")
    .option("--out <file>", "where to write it")
    .action(async (options: { out?: string }) => {
      const { dbDumpCommand } = await import("./commands.ts");
      run(dbDumpCommand(loadConfig(), options.out));
    });
  const admin = ratchet.command("admin").description("administration through the database: tokens and keys without a running server");
  admin.action(() => admin.help());
  admin
    .command("create-token")
    .description("create a personal access token for a dashboard user and print it alone on stdout")
    .requiredOption("--email <email>", "the user's email")
    .option("--name <name>", "a name to recognise the token by")
    .action(async (options: { email: string; name?: string }) => {
      const { adminCreateTokenCommand } = await import("./commands.ts");
      run(adminCreateTokenCommand(loadConfig(), options));
    });
  const adminKeys = admin.command("keys").description("secret keys, straight in the database");
  adminKeys.action(() => adminKeys.help());
  adminKeys
    .command("create")
    .description("create a secret key and print it alone on stdout")
    .option("--env <env>", `the environment: ${environmentTypes.join(", ")}`)
    .option("--project <ref>", "the project (default: the only one)")
    .option("--name <name>", "a name to recognise the key by")
    .action(async (options) => {
      const { adminKeysCreateCommand } = await import("./commands.ts");
      run(adminKeysCreateCommand(loadConfig(), options));
    });
  adminKeys
    .command("list")
    .description("list keys (never the keys themselves)")
    .option("--project <ref>", "only this project's")
    .action(async (options) => {
      const { adminKeysListCommand } = await import("./commands.ts");
      run(adminKeysListCommand(loadConfig(), options));
    });
  adminKeys
    .command("revoke <keyIdOrKey>")
    .description("revoke a key at once, by its id (key_…) or the key itself")
    .action(async (target: string) => {
      const { adminKeysRevokeCommand } = await import("./commands.ts");
      run(adminKeysRevokeCommand(loadConfig(), target));
    });

  const adminProjects = admin.command("projects").description("projects, straight in the database");
  adminProjects.action(() => adminProjects.help());
  adminProjects
    .command("create")
    .description("create a project with its dev, staging, prod and preview environments; prints its ref")
    .requiredOption("--name <name>", "the project's name")
    .option("--org <slug>", "the organization (default: the only one)")
    .action(async (options: { name: string; org?: string }) => {
      const { projectsCommand } = await import("./team-commands.ts");
      run(projectsCommand(loadConfig(), ["create", "--name", options.name, ...(options.org ? ["--org", options.org] : [])]));
    });
  const adminUsers = admin.command("users").description("dashboard users, straight in the database");
  adminUsers.action(() => adminUsers.help());
  adminUsers
    .command("reset-password <email>")
    .description("print a one-time link that sets a new password (no SMTP needed)")
    .action(async (email: string) => {
      const { usersCommand } = await import("./team-commands.ts");
      run(usersCommand(loadConfig(), ["reset-password", email]));
    });
  const adminEnvvars = admin.command("envvars").description("environment variables, straight in the database");
  adminEnvvars.action(() => adminEnvvars.help());
  adminEnvvars
    .command("reencrypt")
    .description("re-seal every environment variable with the current key (after a rotation)")
    .action(async () => {
      const { envvarsCommand } = await import("./envvars-command.ts");
      run(envvarsCommand(loadConfig(), ["reencrypt"]));
    });

  return ratchet;
}

const expected = [ConfigError, EmbeddedPostgresError, MigrationError, KeyIssueError, UsageError, CliError];
const expectedNames = new Set(["WorkerUsageError", "ProjectError", "IndexError", "ConfigurationError", "KeyringError", "DeployError"]);
const usageNames = new Set(["UsageError", "KeyIssueError", "WorkerUsageError", "DeployError"]);

/** One sentence for a failure a user can cause, or null for a bug. */
function explain(error: unknown): { message: string; code: number } | null {
  if (expected.some((type) => error instanceof type) || expectedNames.has((error as Error)?.name)) {
    return { message: (error as Error).message, code: usageNames.has((error as Error).name) ? 2 : 1 };
  }
  if (isUnreachable(error)) return { message: `A server did not answer: ${(error as Error).message}. Check that it runs and that --api-url points at it.`, code: 1 };
  const code = (error as { code?: string })?.code;
  if (code && databaseFailures[code]) {
    return { message: `Could not use the database of DATABASE_URL (${code}: ${(error as Error).message}): ${databaseFailures[code]}.`, code: 1 };
  }
  return null;
}

/** Failures to reach or enter the database an admin command opens, with what to check. */
const databaseFailures: Record<string, string> = {
  ECONNREFUSED: "check that Postgres runs there and that DATABASE_URL names the right host and port",
  ENOTFOUND: "check the host name in DATABASE_URL",
  ETIMEDOUT: "check that Postgres runs there and that DATABASE_URL names the right host and port",
  "28P01": "check the user name and password in DATABASE_URL",
  "3D000": "create that database, or name an existing one in DATABASE_URL",
};

const verbose = process.argv.includes("--verbose");

function fail(error: unknown): never {
  const known = explain(error);
  if (known) {
    console.error(known.message);
    if (verbose) console.error((error as Error).stack);
    process.exit(known.code);
  }
  if (verbose) console.error(error);
  else console.error(`ratchet failed unexpectedly: ${(error as Error)?.message ?? String(error)}. Run it again with --verbose for the stack trace.`);
  process.exit(1);
}

let pending: Promise<number> | null = null;
const ratchet = program((code) => (pending = code));
const words = process.argv.slice(2).filter((arg) => arg !== "--verbose");
if (words.length === 0) {
  ratchet.outputHelp();
  process.exit(0);
}
const first = words[0]!;
if (!first.startsWith("-") && !ratchet.commands.some((command) => command.name() === first) && first !== "help") {
  console.error(`Unknown command "${first}". Run \`ratchet --help\` for the list of commands.`);
  process.exit(2);
}
try {
  await ratchet.parseAsync(process.argv);
} catch (error) {
  // --help and --version end here with 0; mistakes on the command line with 2.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  fail(error);
}
if (pending) {
  try {
    process.exit(await pending);
  } catch (error) {
    fail(error);
  }
}
