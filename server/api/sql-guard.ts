// The first line of defence for POST /api/v1/query: the text is parsed with Postgres's own parser
// and refused unless it is one plain read (SELECT, WITH … SELECT, VALUES) over the ratchet_api
// views and the query's own CTEs, calling no function that reads settings, files, other databases
// or runs SQL of its own. The role, the read-only transaction and row-level security stand behind
// it (docs/sql.md); this check is what keeps `set_config('role', …)` and friends out.
import { loadModule, parseSync } from "libpg-query";

export const queryableViews = ["runs", "attempts", "events", "batches", "waitpoints", "schedules", "queues", "tasks"] as const;

const views: ReadonlySet<string> = new Set(queryableViews);

/** Functions that change or read settings, sleep, lock, touch files, large objects or run SQL. */
const refusedFunctions = new Set([
  "set_config", "current_setting", "nextval", "setval", "currval", "lastval",
  "loread", "lowrite", "ts_stat", "ts_rewrite", "dblink", "version",
]);
const refusedPatterns = [/^pg_/, /^lo_/, /^dblink/, /_to_xml/, /^query_to_/, /^txid_/, /^binary_upgrade/, /^brin_/, /^gin_/];
const allowedPgFunctions = new Set(["pg_typeof"]);

function isRefusedFunction(bare: string): boolean {
  return refusedFunctions.has(bare) || (refusedPatterns.some((pattern) => pattern.test(bare)) && !allowedPgFunctions.has(bare));
}

let loaded: Promise<void> | null = null;

/** The parser is WebAssembly: load it once before the first check. */
export function loadSqlParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

type Node = Record<string, unknown>;

function functionName(call: Node): string {
  const parts = (call.funcname as Node[] | undefined) ?? [];
  return parts.map((part) => String((part.String as Node | undefined)?.sval ?? "")).join(".").toLowerCase();
}

function cteNames(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) cteNames(item, into);
  } else if (node !== null && typeof node === "object") {
    for (const [key, value] of Object.entries(node as Node)) {
      if (key === "CommonTableExpr") into.add(String((value as Node).ctename).toLowerCase());
      cteNames(value, into);
    }
  }
}

/** Null when the text may run; otherwise why not, in words for the caller. */
export function sqlProblem(text: string): string | null {
  let tree: { stmts?: Array<{ stmt: Node }> };
  try {
    tree = parseSync(text) as typeof tree;
  } catch (error) {
    return `The query is not valid SQL: ${(error as Error).message}`;
  }
  const statements = tree.stmts ?? [];
  if (statements.length !== 1) return "Send exactly one statement";
  const statement = statements[0]!.stmt;
  if (!("SelectStmt" in statement)) return `Only SELECT queries may run, not ${Object.keys(statement)[0]}`;

  const ctes = new Set<string>();
  cteNames(statement, ctes);
  const problems: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node as Node)) {
      if (key.endsWith("Stmt") && key !== "SelectStmt") problems.push(`Only SELECT queries may run, not ${key}`);
      if (key === "SelectStmt") {
        const select = value as Node;
        if (select.lockingClause) problems.push("Row locks (FOR UPDATE, FOR SHARE) are not allowed");
        if (select.intoClause) problems.push("SELECT INTO is not allowed");
      }
      if (key === "RangeVar") {
        const range = value as Node;
        const name = String(range.relname).toLowerCase();
        const schema = range.schemaname === undefined ? null : String(range.schemaname).toLowerCase();
        const known = schema === null ? views.has(name) || ctes.has(name) : schema === "ratchet_api" && views.has(name);
        if (!known) problems.push(`Unknown table ${schema ? `${schema}.` : ""}${name}: query ${queryableViews.join(", ")}`);
      }
      if (key === "FuncCall") {
        const name = functionName(value as Node);
        const qualifiedElsewhere = name.includes(".") && !name.startsWith("pg_catalog.") && !name.startsWith("ratchet_api.");
        if (qualifiedElsewhere || isRefusedFunction(name.split(".").at(-1)!)) problems.push(`The function ${name} is not allowed in queries`);
      }
      // `row.f` is Postgres's functional notation for f(row): names of refused functions are refused there too.
      if (key === "ColumnRef" || key === "A_Indirection") {
        const parts = key === "ColumnRef" ? (value as Node).fields : (value as Node).indirection;
        for (const part of (parts as Node[] | undefined) ?? []) {
          const name = (part.String as Node | undefined)?.sval;
          if (typeof name === "string" && isRefusedFunction(name.toLowerCase())) problems.push(`The function ${name} is not allowed in queries`);
        }
      }
      visit(value);
    }
  };
  visit(statement);
  return problems[0] ?? null;
}
