// One way to run a caller's SQL, for the API (POST /api/v1/query) and the dashboard's Query page
// alike: the parse check, the roles check, the time window, a per-server cap on queries at once
// (shared by both, so the page cannot take the pool the API is kept from) and the scoped run.
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../app-context.ts";
import { parseDurationMs } from "../engine/durations.ts";
import { ApiError } from "../errors.ts";
import { QueryRefused, queryRolesReady, runScopedQuery, type QueryResult } from "../storage/sql-queries.ts";
import { sqlProblem } from "./sql-guard.ts";

export interface QueryWindowInput {
  period?: string | null;
  from?: string | null;
  to?: string | null;
}

/** The time window: `period` back from now, or from/to; none means all of history. */
export function queryTimeWindow(input: QueryWindowInput, now: Date): { from: Date | null; to: Date | null } {
  if (input.period) {
    const ms = parseDurationMs(input.period);
    if (ms === null) throw new ApiError("VALIDATION_FAILED", 'period must be a duration like "1h", "7d" or "30m"');
    return { from: new Date(now.getTime() - ms), to: null };
  }
  const from = input.from ? new Date(input.from) : null;
  const to = input.to ? new Date(input.to) : null;
  if (from && to && from > to) throw new ApiError("VALIDATION_FAILED", "from must not be after to");
  return { from, to };
}

/** Queries running now, per server (per context): the API and the dashboard count together. */
const runningByContext = new WeakMap<AppContext, { running: number }>();

/**
 * Runs one query over the given environments, on the read replica when one is up (the primary
 * otherwise, and again on the primary if the replica's connection fails); every refusal is an
 * ApiError the caller can show.
 */
export async function executeScopedQuery(
  context: AppContext,
  request: FastifyRequest,
  text: string,
  environmentIds: string[],
  window: { from: Date | null; to: Date | null },
): Promise<QueryResult> {
  const problem = sqlProblem(text);
  if (problem) throw new ApiError("VALIDATION_FAILED", `query: ${problem}`);

  const settings = context.settings;
  let counter = runningByContext.get(context);
  if (!counter) runningByContext.set(context, (counter = { running: 0 }));
  if (counter.running >= settings.queryConcurrency) {
    throw new ApiError("RATE_LIMITED", `At most ${settings.queryConcurrency} SQL queries run at once on this server; retry shortly`);
  }
  counter.running += 1;
  try {
    return await context.reads.read(request, async (db) => {
      // The roles and views are part of the database, so a physical replica has them as the primary does.
      if (!(await queryRolesReady(db.sql))) {
        throw new ApiError("NOT_READY", "SQL queries are disabled on this server: its database roles are missing (see docs/sql.md)");
      }
      return runScopedQuery(db.sql, text, { environmentIds, ...window }, {
        statementTimeoutMs: settings.queryTimeoutMs,
        maxRows: settings.queryMaxRows,
        maxBytes: settings.queryMaxBytes,
        workMem: "8MB",
      });
    });
  } catch (error) {
    if (error instanceof QueryRefused) {
      throw new ApiError(error.reason === "sql" ? "VALIDATION_FAILED" : "UNPROCESSABLE", `query: ${error.message}`);
    }
    throw error;
  } finally {
    counter.running -= 1;
  }
}
