// A simple chart of a query result, drawn on the server as SVG geometry the template renders: the
// first column holding times is the x axis, the first numeric column the y axis (bars or a line).
// No chart when the result has no such pair.
import type { QueryResult } from "../storage/sql-queries.ts";

export interface QueryChart {
  type: "bar" | "line";
  width: number;
  height: number;
  xColumn: string;
  yColumn: string;
  bars: Array<{ x: number; y: number; width: number; height: number; label: string }>;
  /** The line's points as an SVG `points` attribute, and a dot on each (one point draws no line). */
  points: string;
  dots: Array<{ cx: number; cy: number; label: string }>;
  max: number;
  firstLabel: string;
  lastLabel: string;
  plot: { left: number; top: number; right: number; bottom: number };
}

const width = 640;
const height = 220;
const plot = { left: 48, top: 12, right: width - 12, bottom: height - 28 };

function asNumber(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  // bigint and numeric arrive as text; count(*) is a bigint.
  if (typeof value === "string" && /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(value)) return Number(value);
  return null;
}

function asTime(value: unknown): number | null {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
  return null;
}

function columnWhere(result: QueryResult, names: string[], test: (value: unknown) => number | null, except?: string): string | null {
  for (const name of names) {
    if (name === except) continue;
    const values = result.rows.map((row) => row[name]).filter((value) => value !== null && value !== undefined);
    if (values.length > 0 && values.every((value) => test(value) !== null)) return name;
  }
  return null;
}

export function queryChart(result: QueryResult, type: "bar" | "line"): QueryChart | null {
  if (result.rows.length === 0) return null;
  const names = result.columns.length > 0 ? result.columns.map((column) => column.name) : Object.keys(result.rows[0]!);
  const xColumn = columnWhere(result, names, asTime);
  if (!xColumn) return null;
  const yColumn = columnWhere(result, names, asNumber, xColumn);
  if (!yColumn) return null;
  const points = result.rows
    .map((row) => ({ t: asTime(row[xColumn]), v: asNumber(row[yColumn]) ?? 0 }))
    .filter((point): point is { t: number; v: number } => point.t !== null)
    .sort((a, b) => a.t - b.t);
  if (points.length === 0) return null;
  const max = Math.max(0, ...points.map((point) => point.v));
  const min = Math.min(0, ...points.map((point) => point.v));
  const span = max - min || 1;
  const plotWidth = plot.right - plot.left;
  const plotHeight = plot.bottom - plot.top;
  const y = (value: number) => plot.bottom - ((value - min) / span) * plotHeight;
  const slot = plotWidth / points.length;
  const bars = points.map((point, index) => {
    const top = y(Math.max(point.v, 0));
    const bottom = y(Math.min(point.v, 0));
    // A few points make wide slots: bars stay at most 40 units wide, centred in theirs.
    const barWidth = Math.max(1, Math.min(slot * 0.8, 40));
    return {
      x: plot.left + index * slot + (slot - barWidth) / 2,
      y: top,
      width: barWidth,
      height: Math.max(0, bottom - top),
      label: `${new Date(point.t).toISOString()}: ${point.v}`,
    };
  });
  const first = points[0]!.t;
  const last = points[points.length - 1]!.t;
  const timeSpan = last - first || 1;
  const dots = points.map((point) => ({
    cx: plot.left + (points.length === 1 ? plotWidth / 2 : ((point.t - first) / timeSpan) * plotWidth),
    cy: y(point.v),
    label: `${new Date(point.t).toISOString()}: ${point.v}`,
  }));
  const line = dots.map((dot) => `${dot.cx.toFixed(1)},${dot.cy.toFixed(1)}`).join(" ");
  return {
    type,
    width,
    height,
    xColumn,
    yColumn,
    bars,
    points: line,
    dots,
    max,
    firstLabel: new Date(first).toISOString().replace(".000Z", "Z"),
    lastLabel: new Date(last).toISOString().replace(".000Z", "Z"),
    plot,
  };
}
