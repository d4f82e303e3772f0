// Runs a caller's SQL over the ratchet_api views (on the primary or a read replica alike): in a
// transaction that records the query's scope in a sealed setting,
// turns read-only, drops to the ratchet_query role with a pinned search_path and a statement
// timeout, reads at most a row cap and a byte cap through a cursor, and always rolls back.
// docs/sql.md describes every layer.
import type { Sql, TransactionSql } from "../db/client.ts";

export type QueryScope = "environment" | "project" | "organization";

export interface QueryLimits {
  statementTimeoutMs: number;
  maxRows: number;
  maxBytes: number;
  workMem: string;
}

export interface QueryColumn {
  name: string;
  type: number;
}

export interface QueryResult {
  columns: QueryColumn[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

/** Why a query stopped short of a result, in words for the caller. */
export class QueryRefused extends Error {
  readonly reason: "too-large" | "timeout" | "sql";

  constructor(reason: "too-large" | "timeout" | "sql", message: string) {
    super(message);
    this.name = "QueryRefused";
    this.reason = reason;
  }
}

/** The environments a key's query may read: its own, its project's, or its organization's. */
export async function queryScopeEnvironmentIds(
  sql: Sql,
  key: { environmentId: string; projectId: string; organizationId: string },
  scope: QueryScope,
): Promise<string[]> {
  if (scope === "environment") return [key.environmentId];
  const rows =
    scope === "project"
      ? await sql<{ id: string }[]>`select id from ratchet.environments where project_id = ${key.projectId}`
      : await sql<{ id: string }[]>`
          select e.id from ratchet.environments e join ratchet.projects p on p.id = e.project_id
          where p.organization_id = ${key.organizationId}`;
  return rows.map((row) => row.id);
}

/** Whether this database user can run queries: the roles exist and the views belong to them. */
export async function queryRolesReady(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ ready: boolean }[]>`
    select exists (select 1 from pg_roles where rolname = 'ratchet_query')
      and exists (select 1 from pg_views where schemaname = 'ratchet_api' and viewname = 'runs' and viewowner = 'ratchet_query_views')
      and pg_has_role(current_user, 'ratchet_query', 'member') as ready`;
  return row?.ready ?? false;
}

function approximateBytes(row: Record<string, unknown>): number {
  let bytes = 0;
  for (const value of Object.values(row)) {
    if (value === null || value === undefined) bytes += 4;
    else if (typeof value === "string") bytes += value.length;
    else if (value instanceof Date || typeof value === "number" || typeof value === "boolean") bytes += 24;
    else bytes += JSON.stringify(value)?.length ?? 4;
  }
  return bytes;
}

async function prepareScopedTransaction(
  tx: TransactionSql,
  scope: { environmentIds: string[]; from: Date | null; to: Date | null },
  limits: QueryLimits,
): Promise<void> {
  // A sealed, transaction-local setting rather than a row: a read replica can write nothing (0029).
  await tx`
    select set_config('ratchet.query_scope', ratchet.query_scope_seal(${scope.environmentIds}::uuid[]), true),
      set_config('ratchet.query_time_from', ${scope.from?.toISOString() ?? ""}, true),
      set_config('ratchet.query_time_to', ${scope.to?.toISOString() ?? ""}, true)`;
  // From here on nothing may be written; the role change last, so the settings above are the server's.
  await tx.unsafe("set local transaction_read_only = on");
  await tx.unsafe(`set local statement_timeout = ${Math.max(1, Math.floor(limits.statementTimeoutMs))}`);
  await tx.unsafe("set local lock_timeout = 1000");
  await tx.unsafe(`set local work_mem = '${limits.workMem.replace(/[^0-9A-Za-z]/g, "")}'`);
  await tx.unsafe("set local search_path = ratchet_api");
  await tx.unsafe("set local role ratchet_query");
}

/** Runs one already-checked SELECT in the scope; the caller checked the text with sqlProblem(). */
export async function runScopedQuery(
  sql: Sql,
  text: string,
  scope: { environmentIds: string[]; from: Date | null; to: Date | null },
  limits: QueryLimits,
): Promise<QueryResult> {
  const rollback = Symbol("rollback");
  let result: QueryResult | null = null;
  try {
    await sql.begin(async (tx) => {
      await prepareScopedTransaction(tx, scope, limits);
      try {
        // A cursor (extended protocol, unnamed statement): one statement only, nothing left prepared on
        // the connection, and rows read in batches so the caps stop a big result early.
        const pending = tx.unsafe(text);
        const rows: Record<string, unknown>[] = [];
        let bytes = 0;
        let truncated = false;
        reading: for await (const batch of pending.cursor(200)) {
          for (const row of batch as Record<string, unknown>[]) {
            if (rows.length >= limits.maxRows) {
              truncated = true;
              break reading;
            }
            bytes += approximateBytes(row);
            if (bytes > limits.maxBytes) {
              throw new QueryRefused("too-large", `The result is larger than ${Math.round(limits.maxBytes / 1_048_576)} MiB: select fewer rows or columns`);
            }
            rows.push(row);
          }
        }
        const described = (pending as unknown as { statement?: { columns?: Array<{ name: string; type: number }> | null } }).statement?.columns ?? [];
        result = { columns: described.map((column) => ({ name: column.name, type: column.type })), rows, truncated };
      } catch (error) {
        throw asQueryRefused(error);
      }
      throw rollback;
    });
  } catch (error) {
    if (error !== rollback) throw error;
  }
  return result!;
}

function asQueryRefused(error: unknown): unknown {
  if (error instanceof QueryRefused) return error;
  const code = (error as { code?: unknown }).code;
  const message = (error as Error).message;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return error;
  if (code === "57014") return new QueryRefused("timeout", "The query ran longer than the statement timeout and was canceled");
  if (code.startsWith("53") || code.startsWith("54")) return new QueryRefused("too-large", `The query used too many resources: ${message}`);
  if (code.startsWith("08") || code.startsWith("57P")) return error; // the connection or the server, not the query
  return new QueryRefused("sql", message);
}

export interface ViewColumn {
  table: string;
  name: string;
  type: string;
}

/** The columns of the ratchet_api views, in their order, with their Postgres types. */
export async function queryViewColumns(sql: Sql): Promise<ViewColumn[]> {
  return sql<ViewColumn[]>`
    select c.relname as table, a.attname as name, format_type(a.atttypid, a.atttypmod) as type
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where n.nspname = 'ratchet_api' and c.relkind = 'v'
    order by c.relname, a.attnum`;
}
