// SQL over run history, as the official SDK's query.execute() and getQuerySchema() call it:
// POST /api/v1/query and GET /api/v1/query/schema. docs/sql.md describes the views and the guards.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { loadSqlParser, queryableViews } from "../../api/sql-guard.ts";
import { queryResultCsv } from "../../api/query-csv.ts";
import { viewDescriptions } from "../../api/query-views.ts";
import { executeScopedQuery, queryTimeWindow } from "../../api/query-execution.ts";
import { queryScopeEnvironmentIds, queryViewColumns } from "../../storage/sql-queries.ts";

const executeBody = z.object({
  query: z.string().min(1).max(100_000),
  scope: z.enum(["organization", "project", "environment"]).default("environment"),
  period: z.string().max(32).nullish(),
  from: z.iso.datetime({ offset: true }).nullish(),
  to: z.iso.datetime({ offset: true }).nullish(),
  format: z.enum(["json", "csv"]).default("json"),
});

export async function queryRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  await loadSqlParser();

  routes.post("/api/v1/query", { schema: { body: executeBody } }, async (request) => {
    const body = request.body;
    const environmentIds = await queryScopeEnvironmentIds(context.db.sql, request.environment, body.scope);
    const result = await executeScopedQuery(context, request, body.query, environmentIds, queryTimeWindow(body, context.clock.now()));
    if (body.format === "csv") return { format: "csv" as const, results: queryResultCsv(result), truncated: result.truncated };
    return { format: "json" as const, results: result.rows, truncated: result.truncated };
  });

  routes.get("/api/v1/query/schema", async () => {
    const columns = await queryViewColumns(context.db.sql);
    return {
      tables: queryableViews.map((name) => ({
        name,
        description: viewDescriptions[name].description,
        timeColumn: viewDescriptions[name].timeColumn,
        columns: columns
          .filter((column) => column.table === name)
          .map((column) => ({
            name: column.name,
            type: column.type,
            ...(viewDescriptions[name].columns[column.name] ? { description: viewDescriptions[name].columns[column.name] } : {}),
          })),
      })),
    };
  });
}
