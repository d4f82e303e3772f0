// The database handle the whole server shares: one postgres.js pool for named queries and a Kysely
// instance on the same pool for queries assembled from filters.
import { Kysely } from "kysely";
import { PostgresJSDialect } from "kysely-postgres-js";
import postgres from "postgres";
import { pooledBegin } from "./pooled-begin.ts";
import type { Database } from "./tables.ts";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

export interface Db {
  sql: Sql;
  /**
   * Where LISTEN goes: the pool itself, or a direct connection when the pool runs through a
   * transaction-mode pooler (PgBouncer), which cannot hold a session's subscriptions.
   */
  listener: Sql;
  kysely: Kysely<Database>;
  close(): Promise<void>;
}

export interface DbOptions {
  url: string;
  poolSize?: number;
  applicationName?: string;
  /**
   * A direct (session) URL of the same database, set when `url` is a transaction-mode pooler:
   * LISTEN uses it, and the pool sends no named prepared statements (a pooler hands each
   * transaction to any server connection, where the statement was never prepared) and never
   * pipelines (a pipelined statement can be bound on another server connection).
   */
  directUrl?: string;
}

export function connect(options: DbOptions): Db {
  const applicationName = options.applicationName ?? "ratchet";
  const pooled = options.directUrl !== undefined;
  const sql = postgres(options.url, {
    max: options.poolSize ?? 10,
    idle_timeout: 60,
    connect_timeout: 10,
    onnotice: () => {},
    prepare: !pooled,
    // Through a transaction pooler, one statement in flight per connection (server/db/pooled-begin.ts).
    ...(pooled ? { max_pipeline: 0 } : {}),
    connection: { application_name: applicationName },
  });
  if (pooled) sql.begin = pooledBegin(sql);
  const listener = pooled
    ? postgres(options.directUrl!, {
        max: 1,
        idle_timeout: 60,
        connect_timeout: 10,
        onnotice: () => {},
        connection: { application_name: `${applicationName}-listen` },
      })
    : sql;
  const kysely = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: sql }) });
  return {
    sql,
    listener,
    kysely,
    async close() {
      await sql.end({ timeout: 5 });
      if (listener !== sql) await listener.end({ timeout: 5 });
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
