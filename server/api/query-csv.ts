// A query result as CSV (RFC 4180): a header of the column names, then one line per row. Dates are
// ISO 8601, JSON values their JSON text, NULL an empty field.
import type { QueryResult } from "../storage/sql-queries.ts";

function field(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text =
    value instanceof Date ? value.toISOString() : typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function queryResultCsv(result: QueryResult): string {
  const names = result.columns.map((column) => column.name);
  const lines = [names.map(field).join(",")];
  for (const row of result.rows) lines.push(names.map((name) => field(row[name])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
