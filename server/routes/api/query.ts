// SQL over run history, as the official SDK's query.execute() and getQuerySchema() call it:
// POST /api/v1/query and GET /api/v1/query/schema. docs/sql.md describes the views and the guards.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { loadSqlParser, queryableViews, sqlProblem } from "../../api/sql-guard.ts";
import { queryResultCsv } from "../../api/query-csv.ts";
import { viewDescriptions } from "../../api/query-views.ts";
import { parseDurationMs } from "../../engine/durations.ts";
import { ApiError } from "../../errors.ts";
import {
  QueryRefused,
  queryRolesReady,
  queryScopeEnvironmentIds,
  queryViewColumns,
  runScopedQuery,
} from "../../storage/sql-queries.ts";

const executeBody = z.object({
  query: z.string().min(1).max(100_000),
  scope: z.enum(["organization", "project", "environment"]).default("environment"),
  period: z.string().max(32).nullish(),
  from: z.iso.datetime({ offset: true }).nullish(),
  to: z.iso.datetime({ offset: true }).nullish(),
  format: z.enum(["json", "csv"]).default("json"),
});

/** The time window: `period` back from now, or from/to; none means all of history. */
function timeWindow(body: z.infer<typeof executeBody>, now: Date): { from: Date | null; to: Date | null } {
  if (body.period) {
    const ms = parseDurationMs(body.period);
    if (ms === null) throw new ApiError("VALIDATION_FAILED", 'period must be a duration like "1h", "7d" or "30m"');
    return { from: new Date(now.getTime() - ms), to: null };
  }
  const from = body.from ? new Date(body.from) : null;
  const to = body.to ? new Date(body.to) : null;
  if (from && to && from > to) throw new ApiError("VALIDATION_FAILED", "from must not be after to");
  return { from, to };
}

export async function queryRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  await loadSqlParser();
  // Each query holds a pooled connection for up to the statement timeout: at most a few at once.
  let running = 0;

  routes.post("/api/v1/query", { schema: { body: executeBody } }, async (request) => {
    const body = request.body;
    const problem = sqlProblem(body.query);
    if (problem) throw new ApiError("VALIDATION_FAILED", `query: ${problem}`);
    if (!(await queryRolesReady(context.db.sql))) {
      throw new ApiError("NOT_READY", "SQL queries are disabled on this server: its database roles are missing (see docs/sql.md)");
    }
    const environmentIds = await queryScopeEnvironmentIds(context.db.sql, request.environment, body.scope);
    const window = timeWindow(body, context.clock.now());
    const settings = context.settings;
    if (running >= settings.queryConcurrency) {
      throw new ApiError("RATE_LIMITED", `At most ${settings.queryConcurrency} SQL queries run at once on this server; retry shortly`);
    }
    running += 1;
    try {
      const result = await runScopedQuery(context.db.sql, body.query, { environmentIds, ...window }, {
        statementTimeoutMs: settings.queryTimeoutMs,
        maxRows: settings.queryMaxRows,
        maxBytes: settings.queryMaxBytes,
        workMem: "8MB",
      });
      if (body.format === "csv") return { format: "csv" as const, results: queryResultCsv(result), truncated: result.truncated };
      return { format: "json" as const, results: result.rows, truncated: result.truncated };
    } catch (error) {
      if (error instanceof QueryRefused) {
        throw new ApiError(error.reason === "sql" ? "VALIDATION_FAILED" : "UNPROCESSABLE", `query: ${error.message}`);
      }
      throw error;
    } finally {
      running -= 1;
    }
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
