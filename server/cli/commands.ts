// The CLI's commands. Each returns the process exit code.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
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
import { UsageError } from "./errors.ts";

function cliLogger(config: Config) {
  return pino({ level: config.logLevel === "info" ? "warn" : config.logLevel, redact: redactedPaths }, pino.destination(2));
}

export async function migrateCommand(config: Config): Promise<number> {
  await withDatabase(config, cliLogger(config), async () => {});
  console.error("Database is up to date.");
  return 0;
}

export async function keysCommand(config: Config, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { env: { type: "string" }, project: { type: "string" }, name: { type: "string" } },
  });
  const logger = cliLogger(config);
  switch (action) {
    case "create": {
      const env = values.env as EnvironmentType | undefined;
      if (!env || !environmentTypes.includes(env)) {
        throw new UsageError(`keys create needs --env with one of: ${environmentTypes.join(", ")}`);
      }
      const issued = await withDatabase(config, logger, async (db) => {
        await tenancyBootstrap(db.sql);
        return issueSecretKey(db.sql, { environment: env, projectRef: values.project, name: values.name });
      });
      process.stdout.write(`${issued.key}\n`);
      console.error(`Created ${issued.publicId} for ${issued.projectRef}/${issued.environment}. Keep it secret: it is not stored and cannot be shown again.`);
      return 0;
    }
    case "list": {
      const rows = await withDatabase(config, logger, async (db) => {
        const project = values.project ? await resolveProject(db.sql, values.project) : undefined;
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
    case "revoke": {
      const target = positionals[0];
      if (!target) throw new UsageError("keys revoke needs a key id (key_…) or the key itself");
      const match = looksLikeSecretKey(target) ? { keyHash: hashSecretKey(target) } : { publicId: target };
      const revoked = await withDatabase(config, logger, (db) => apiKeysRevoke(db.sql, match, new Date()));
      if (!revoked) {
        console.error("No active key matched.");
        return 1;
      }
      console.error("Revoked.");
      return 0;
    }
    default:
      throw new UsageError("Usage: ratchet keys create --env <env> | keys list | keys revoke <key_id | key>");
  }
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
