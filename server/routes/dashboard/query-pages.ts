// The Query page: SQL over the ratchet_api views from the dashboard, with the same guards as
// POST /api/v1/query (server/api/query-execution.ts). The scope is the signed-in user's: this
// environment, the environments of this project, or those of this organization that they may see.
// Results show as a table and, over a time column, a chart; CSV export; saved queries per project.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { queryResultCsv } from "../../api/query-csv.ts";
import { executeScopedQuery, queryTimeWindow } from "../../api/query-execution.ts";
import { queryChart } from "../../dashboard/query-chart.ts";
import { queryExamples } from "../../dashboard/query-examples.ts";
import { ApiError } from "../../errors.ts";
import { fromPublicId, toPublicId, uuidv7 } from "../../ids.ts";
import { savedQueriesDelete, savedQueriesFind, savedQueriesList, savedQueriesUpsert } from "../../storage/saved-queries.ts";
import type { QueryResult, QueryScope } from "../../storage/sql-queries.ts";
import { render, type DashboardScope, type ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };
type QueryForm = { sql?: string; scope?: string; period?: string; chart?: string; name?: string; action?: string };

const scopes: QueryScope[] = ["environment", "project", "organization"];

/** The environments a signed-in user's query reads: never one they could not open in the dashboard. */
function environmentIdsFor(scope: DashboardScope, queryScope: QueryScope): string[] {
  const here = scope.environment;
  if (queryScope === "environment") return [here.environmentId];
  return scope.environments
    .filter((environment) => (queryScope === "project" ? environment.projectId === here.projectId : environment.organizationId === here.organizationId))
    .map((environment) => environment.environmentId);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

interface Editor {
  sql: string;
  scope: QueryScope;
  period: string;
  chart: "bar" | "line";
  name: string;
}

export async function queryPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const page = async (
    request: FastifyRequest,
    reply: FastifyReply,
    scope: DashboardScope,
    editor: Editor,
    outcome: { result?: QueryResult; error?: string; notice?: string } = {},
  ) => {
    const saved = await savedQueriesList(context.db.sql, scope.environment.projectId);
    const result = outcome.result;
    const columns = result ? (result.columns.length > 0 ? result.columns.map((column) => column.name) : Object.keys(result.rows[0] ?? {})) : [];
    return render(
      request,
      reply,
      "query",
      {
        title: "Query",
        editor,
        scopes,
        examples: queryExamples,
        saved: saved.map((query) => ({ id: toPublicId("query", query.id), name: query.name, scope: query.scope, period: query.period })),
        error: outcome.error,
        notice: outcome.notice,
        result: result ? { columns, rows: result.rows.map((row) => columns.map((name) => cellText(row[name]))), truncated: result.truncated } : null,
        chart: result ? queryChart(result, editor.chart) : null,
      },
      scope,
      "query",
    );
  };

  const savedIdOrNotFound = (publicId: string) => {
    const id = fromPublicId("query", publicId);
    if (!id) throw new ApiError("NOT_FOUND", "No such saved query in this project");
    return id;
  };

  app.get<{ Params: Params; Querystring: { saved?: string; example?: string } }>("/p/:ref/:env/query", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const editor: Editor = { sql: queryExamples[0]!.query, scope: "environment", period: queryExamples[0]!.period, chart: "bar", name: "" };
    if (typeof request.query.saved === "string") {
      const saved = await savedQueriesFind(context.db.sql, scope.environment.projectId, savedIdOrNotFound(request.query.saved));
      if (!saved) throw new ApiError("NOT_FOUND", "No such saved query in this project");
      Object.assign(editor, { sql: saved.query, scope: saved.scope, period: saved.period ?? "", name: saved.name });
    } else if (typeof request.query.example === "string") {
      const example = queryExamples.find((candidate) => candidate.key === request.query.example);
      if (!example) throw new ApiError("NOT_FOUND", "No such example query");
      Object.assign(editor, { sql: example.query, period: example.period });
    }
    return page(request, reply, scope, editor);
  });

  app.post<{ Params: Params; Body: QueryForm }>("/p/:ref/:env/query", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const body = request.body ?? {};
    // The typed SQL always comes back into the editor, whatever went wrong.
    const editor: Editor = {
      sql: typeof body.sql === "string" ? body.sql.slice(0, 100_000) : "",
      scope: scopes.includes(body.scope as QueryScope) ? (body.scope as QueryScope) : "environment",
      period: typeof body.period === "string" ? body.period.trim().slice(0, 32) : "",
      chart: body.chart === "line" ? "line" : "bar",
      name: typeof body.name === "string" ? body.name.trim().slice(0, 200) : "",
    };
    const refuse = (message: string) => page(request, reply.code(400), scope, editor, { error: message });
    if (body.scope !== undefined && !scopes.includes(body.scope as QueryScope)) return refuse("scope: must be environment, project or organization");
    if (editor.sql.trim() === "") return refuse("sql: write a query first");
    if (body.action === "save") {
      if (editor.name === "") return refuse("name: give the query a name to save it");
      try {
        queryTimeWindow({ period: editor.period || null }, context.clock.now());
      } catch (error) {
        if (error instanceof ApiError) return refuse(error.message);
        throw error;
      }
      await savedQueriesUpsert(
        context.db.sql,
        scope.environment.projectId,
        { id: uuidv7(context.clock.now()), name: editor.name, query: editor.sql, scope: editor.scope, period: editor.period || null, userId: request.user!.userId },
        context.clock.now(),
      );
      return page(request, reply, scope, editor, { notice: `Saved "${editor.name}" for everyone in this project.` });
    }
    try {
      const window = queryTimeWindow({ period: editor.period || null }, context.clock.now());
      const result = await executeScopedQuery(context, request, editor.sql, environmentIdsFor(scope, editor.scope), window);
      if (body.action === "csv") {
        return reply
          .header("cache-control", "no-store")
          .header("content-disposition", 'attachment; filename="query.csv"')
          .type("text/csv; charset=utf-8")
          .send(queryResultCsv(result));
      }
      return page(request, reply, scope, editor, { result });
    } catch (error) {
      if (error instanceof ApiError && error.statusCode < 500) return page(request, reply.code(error.statusCode), scope, editor, { error: error.message });
      throw error;
    }
  });

  app.post<{ Params: Params & { savedId: string } }>("/p/:ref/:env/query/saved/:savedId/delete", { preHandler: app.csrfProtection }, async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    if (!(await savedQueriesDelete(context.db.sql, scope.environment.projectId, savedIdOrNotFound(request.params.savedId)))) {
      throw new ApiError("NOT_FOUND", "No such saved query in this project");
    }
    return reply.redirect(`${scope.base}/query`, 303);
  });
}
