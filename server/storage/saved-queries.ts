// Named queries for the Query page's saved queries. Every read and write is keyed by the project,
// so an id from another project finds nothing.
import type { Sql } from "../db/client.ts";
import type { QueryScope } from "./sql-queries.ts";

export interface SavedQueryRow {
  id: string;
  name: string;
  query: string;
  scope: QueryScope;
  period: string | null;
  updatedAt: Date;
}

export async function savedQueriesList(sql: Sql, projectId: string): Promise<SavedQueryRow[]> {
  return sql<SavedQueryRow[]>`
    select id, name, query, scope, period, updated_at as "updatedAt"
    from ratchet.saved_queries where project_id = ${projectId} order by name`;
}

export async function savedQueriesFind(sql: Sql, projectId: string, id: string): Promise<SavedQueryRow | null> {
  const [row] = await sql<SavedQueryRow[]>`
    select id, name, query, scope, period, updated_at as "updatedAt"
    from ratchet.saved_queries where project_id = ${projectId} and id = ${id}`;
  return row ?? null;
}

/** Saves under a name; the same name again replaces that query's text, scope and period. */
export async function savedQueriesUpsert(
  sql: Sql,
  projectId: string,
  query: { id: string; name: string; query: string; scope: QueryScope; period: string | null; userId: string },
  now: Date,
): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into ratchet.saved_queries (id, project_id, name, query, scope, period, created_by, created_at, updated_at)
    values (${query.id}, ${projectId}, ${query.name}, ${query.query}, ${query.scope}, ${query.period}, ${query.userId}, ${now}, ${now})
    on conflict (project_id, name) do update
      set query = excluded.query, scope = excluded.scope, period = excluded.period, updated_at = excluded.updated_at
    returning id`;
  return row!.id;
}

export async function savedQueriesDelete(sql: Sql, projectId: string, id: string): Promise<boolean> {
  const rows = await sql`delete from ratchet.saved_queries where project_id = ${projectId} and id = ${id} returning id`;
  return rows.length > 0;
}
