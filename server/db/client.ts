// The database handle the whole server shares: one postgres.js pool for named queries and a Kysely
// instance on the same pool for queries assembled from filters.
import { Kysely } from "kysely";
import { PostgresJSDialect } from "kysely-postgres-js";
import postgres from "postgres";
import type { Database } from "./tables.ts";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

export interface Db {
  sql: Sql;
  kysely: Kysely<Database>;
  close(): Promise<void>;
}

export interface DbOptions {
  url: string;
  poolSize?: number;
  applicationName?: string;
}

export function connect(options: DbOptions): Db {
  const sql = postgres(options.url, {
    max: options.poolSize ?? 10,
    idle_timeout: 60,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "ratchet" },
  });
  const kysely = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: sql }) });
  return {
    sql,
    kysely,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

/** The database URL with its password hidden, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable database URL>";
  }
}
