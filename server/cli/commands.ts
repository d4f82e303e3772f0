// Server-side administration commands: they open the database (DATABASE_URL, or the embedded
// Postgres under RATCHET_DATA_DIR) directly, so they run on the server's machine. Each returns the exit code.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { issueAccessToken } from "../auth/access-tokens.ts";
import { issueSecretKey, resolveProject } from "../auth/issue-key.ts";
import { hashSecretKey, looksLikeSecretKey } from "../auth/secret-keys.ts";
import type { Config } from "../config.ts";
import { withDatabase } from "../database.ts";
import { connect } from "../db/client.ts";
import { migrate, sqlDir } from "../db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../db/scratch.ts";
import { dumpSchema } from "../db/schema-dump.ts";
import type { EnvironmentType } from "../db/tables.ts";
import { redactedPaths } from "../logger.ts";
import { apiKeysList, apiKeysRevoke } from "../storage/api-keys.ts";
import { environmentTypes, tenancyBootstrap } from "../storage/tenancy.ts";
import { usersCount, usersFindByEmail } from "../storage/users.ts";
import { UsageError } from "./errors.ts";

function cliLogger(config: Config) {
  return pino({ level: config.logLevel === "info" ? "warn" : config.logLevel, redact: redactedPaths }, pino.destination(2));
}

export async function migrateCommand(config: Config): Promise<number> {
  await withDatabase(config, cliLogger(config), async () => {});
  console.error("Database is up to date.");
  return 0;
}

export async function adminKeysCreateCommand(config: Config, options: { env?: string; project?: string; name?: string }): Promise<number> {
  const env = options.env as EnvironmentType | undefined;
  if (!env || !environmentTypes.includes(env)) {
    throw new UsageError(`keys create needs --env with one of: ${environmentTypes.join(", ")}`);
  }
  const issued = await withDatabase(config, cliLogger(config), async (db) => {
    await tenancyBootstrap(db.sql);
    return issueSecretKey(db.sql, { environment: env, projectRef: options.project, name: options.name });
  });
  process.stdout.write(`${issued.key}\n`);
  console.error(`Created ${issued.publicId} for ${issued.projectRef}/${issued.environment}. Keep it secret: it is not stored and cannot be shown again.`);
  return 0;
}

export async function adminKeysListCommand(config: Config, options: { project?: string }): Promise<number> {
  const rows = await withDatabase(config, cliLogger(config), async (db) => {
    const project = options.project ? await resolveProject(db.sql, options.project) : undefined;
    return apiKeysList(db.sql, project?.id);
  });
  const lines = rows.map((row) =>
    [
      row.publicId,
      row.projectRef,
      row.environmentType.padEnd(7),
      row.keyHint.padEnd(18),
      row.revokedAt ? `revoked ${row.revokedAt.toISOString()}` : "active",
      `created ${row.createdAt.toISOString()}`,
      row.lastUsedAt ? `last used ${row.lastUsedAt.toISOString()}` : "never used",
      row.name,
    ].join("  "),
  );
  process.stdout.write(lines.length > 0 ? `${lines.join("\n")}\n` : "No keys.\n");
  return 0;
}

export async function adminKeysRevokeCommand(config: Config, target: string): Promise<number> {
  const match = looksLikeSecretKey(target) ? { keyHash: hashSecretKey(target) } : { publicId: target };
  const revoked = await withDatabase(config, cliLogger(config), (db) => apiKeysRevoke(db.sql, match, new Date()));
  if (!revoked) {
    console.error("No active key matched.");
    return 1;
  }
  console.error("Revoked.");
  return 0;
}

/** A personal access token for an existing dashboard user, printed alone on stdout. */
export async function adminCreateTokenCommand(config: Config, options: { email: string; name?: string }): Promise<number> {
  const issued = await withDatabase(config, cliLogger(config), async (db) => {
    const user = await usersFindByEmail(db.sql, options.email);
    if (!user) {
      const count = await usersCount(db.sql);
      throw new UsageError(
        count === 0
          ? `There is no user yet: create the first admin with the one-time setup link the server printed at its first start, then run this again.`
          : `No user has the email ${options.email}: check the spelling, or sign in to the dashboard with that user first.`,
      );
    }
    return issueAccessToken(db.sql, { userId: user.id, name: options.name ?? "created by ratchet admin create-token" });
  });
  process.stdout.write(`${issued.token}\n`);
  console.error(`Created ${issued.publicId} for ${options.email}. Keep it secret: it is not stored and cannot be shown again. Use it with \`npx ratchet login --token …\`.`);
  return 0;
}

/** Migrates a scratch database and writes its schema: sql/schema.sql by default. */
export async function dbDumpCommand(config: Config, out = join(sqlDir, "schema.sql")): Promise<number> {
  const server = await startScratchServer(config.databaseUrl);
  const name = `ratchet_dump_${randomBytes(4).toString("hex")}`;
  try {
    await createDatabase(server.adminUrl, name);
    const db = connect({ url: server.urlFor(name), poolSize: 2 });
    try {
      await migrate(db.sql);
      await writeFile(out, await dumpSchema(db.sql));
    } finally {
      await db.close();
    }
  } finally {
    await dropDatabase(server.adminUrl, name).catch(() => {});
    await server.stop();
  }
  console.error(`Wrote ${out}`);
  return 0;
}
