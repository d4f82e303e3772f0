// The geometry of the overview's charts, computed here so the templates only draw: SVG coordinates,
// axis ticks, a one-sentence summary for the chart's <desc> (what a screen reader hears), and the
// rows of the table each chart falls back to. Pure functions of the query rows.
import type { FinishedBucketRow, QueueDepthRow, TaskActivity } from "../storage/overview.ts";

/** Final statuses in the order they stack, with the class that colours them. */
const statusOrder = ["COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT", "EXPIRED", "CANCELED"] as const;

export const chartWidth = 720;
const plotLeft = 44;
const plotRight = 8;
const plotTop = 8;

export interface OverviewRange {
  key: "1h" | "24h";
  label: string;
  seconds: number;
  bucketSeconds: number;
  bucketLabel: string;
}

export const overviewRanges: Record<OverviewRange["key"], OverviewRange> = {
  "1h": { key: "1h", label: "Last hour", seconds: 3600, bucketSeconds: 60, bucketLabel: "minute" },
  "24h": { key: "24h", label: "Last 24 hours", seconds: 86_400, bucketSeconds: 900, bucketLabel: "15 minutes" },
};

/** A round number ≥ value for the top of an axis (1, 2, 5 × 10ⁿ). */
export function niceCeiling(value: number): number {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function hhmm(date: Date): string {
  return date.toISOString().slice(11, 16);
}

export function durationText(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const fixed = (value: number) => Number(value.toFixed(2));

export interface RunsChart {
  width: number;
  height: number;
  plot: { left: number; right: number; top: number; bottom: number };
  bars: Array<{ x: number; width: number; label: string; total: number; segments: Array<{ status: string; className: string; y: number; height: number; count: number }> }>;
  yTicks: Array<{ y: number; label: string }>;
  xTicks: Array<{ x: number; label: string; anchor: "start" | "middle" | "end" }>;
  legend: Array<{ status: string; className: string; count: number }>;
  summary: string;
  table: { statuses: string[]; rows: Array<{ label: string; counts: number[]; total: number }> };
  total: number;
}

/** Stacked bars of finished runs per bucket and status over the range. */
export function runsChart(rows: FinishedBucketRow[], range: OverviewRange, from: Date): RunsChart {
  const height = 200;
  const plot = { left: plotLeft, right: chartWidth - plotRight, top: plotTop, bottom: height - 24 };
  const bucketCount = Math.round(range.seconds / range.bucketSeconds);
  const counts = Array.from({ length: bucketCount }, () => new Map<string, number>());
  for (const row of rows) {
    const index = Math.floor((row.bucket.getTime() - from.getTime()) / 1000 / range.bucketSeconds);
    if (index >= 0 && index < bucketCount) counts[index]!.set(row.status, (counts[index]!.get(row.status) ?? 0) + row.count);
  }
  const known = new Set<string>(statusOrder);
  const statuses = [...statusOrder, ...new Set(rows.map((row) => row.status).filter((status) => !known.has(status)))]
    .filter((status) => rows.some((row) => row.status === status));
  const totals = counts.map((bucket) => [...bucket.values()].reduce((sum, n) => sum + n, 0));
  const top = niceCeiling(Math.max(0, ...totals));
  const plotHeight = plot.bottom - plot.top;
  const step = (plot.right - plot.left) / bucketCount;
  const bucketStart = (index: number) => new Date(from.getTime() + index * range.bucketSeconds * 1000);
  const bars = counts.flatMap((bucket, index) => {
    if (totals[index] === 0) return [];
    let base = plot.bottom;
    const segments = statuses.flatMap((status) => {
      const count = bucket.get(status) ?? 0;
      if (count === 0) return [];
      const segmentHeight = (count / top) * plotHeight;
      base -= segmentHeight;
      return [{ status, className: `chart-${status.toLowerCase()}`, y: fixed(base), height: fixed(Math.max(0.5, segmentHeight)), count }];
    });
    return [{ x: fixed(plot.left + index * step + step * 0.1), width: fixed(Math.max(1, step * 0.8)), label: hhmm(bucketStart(index)), total: totals[index]!, segments }];
  });
  // A line halfway only where it falls on a whole number of runs.
  const yTicks = (Number.isInteger(top / 2) ? [0, 0.5, 1] : [0, 1]).map((share) => ({ y: fixed(plot.bottom - share * plotHeight), label: String(share * top) }));
  const tickEvery = range.key === "1h" ? 15 : 4 * 6; // every 15 minutes, or every 6 hours
  const xTicks: RunsChart["xTicks"] = [];
  // The last label ends at the axis's end, so it is not cut off.
  for (let index = 0; index <= bucketCount; index += tickEvery) {
    xTicks.push({ x: fixed(plot.left + index * step), label: hhmm(bucketStart(index)), anchor: index === bucketCount ? ("end" as const) : ("middle" as const) });
  }
  const byStatus = statuses.map((status) => ({ status, className: `chart-${status.toLowerCase()}`, count: rows.filter((row) => row.status === status).reduce((sum, row) => sum + row.count, 0) }));
  const total = totals.reduce((sum, n) => sum + n, 0);
  const busiest = totals.indexOf(Math.max(...totals));
  const summary = total === 0
    ? `No runs finished in the ${range.label.toLowerCase()}.`
    : `${total} runs finished in the ${range.label.toLowerCase()}: ${byStatus.map((entry) => `${entry.count} ${entry.status}`).join(", ")}. ` +
      `The busiest ${range.bucketLabel} began at ${hhmm(bucketStart(busiest))} UTC with ${totals[busiest]}.`;
  const table = {
    statuses,
    rows: counts.flatMap((bucket, index) => (totals[index] === 0 ? [] : [{ label: hhmm(bucketStart(index)), counts: statuses.map((status) => bucket.get(status) ?? 0), total: totals[index]! }])),
  };
  return { width: chartWidth, height, plot, bars, yTicks, xTicks, legend: byStatus, summary, table, total };
}

export interface HorizontalChart {
  width: number;
  height: number;
  labelWidth: number;
  rows: Array<{ label: string; y: number; bars: Array<{ className: string; width: number; value: string }>; text: string }>;
  summary: string;
}

const rowHeight = 22;
const labelWidth = 200;

/** p95 (behind) and p50 (in front) duration of the busiest tasks, one row each. */
export function durationChart(tasks: TaskActivity[], limit = 12): HorizontalChart {
  const shown = tasks.filter((task) => task.p95Ms !== null).slice(0, limit);
  const top = Math.max(1, ...shown.map((task) => task.p95Ms ?? 0));
  const plotWidth = chartWidth - labelWidth - 90;
  const rows = shown.map((task, index) => ({
    label: task.task,
    y: index * rowHeight,
    bars: [
      { className: "chart-p95", width: fixed(Math.max(1, ((task.p95Ms ?? 0) / top) * plotWidth)), value: durationText(task.p95Ms) },
      { className: "chart-p50", width: fixed(Math.max(1, ((task.p50Ms ?? 0) / top) * plotWidth)), value: durationText(task.p50Ms) },
    ],
    text: `p50 ${durationText(task.p50Ms)} · p95 ${durationText(task.p95Ms)}`,
  }));
  const summary = shown.length === 0
    ? "No task finished a run that started in this range."
    : `Duration from start to finish of the ${shown.length === 1 ? "task" : `${shown.length} busiest tasks`}: ` +
      shown.map((task) => `${task.task} p50 ${durationText(task.p50Ms)}, p95 ${durationText(task.p95Ms)}`).join("; ") + ".";
  return { width: chartWidth, height: Math.max(rowHeight, rows.length * rowHeight), labelWidth, rows, summary };
}

/** Runs queued now per queue, deepest first. */
export function queueChart(queues: QueueDepthRow[]): HorizontalChart {
  const top = Math.max(1, ...queues.map((queue) => queue.queued));
  const plotWidth = chartWidth - labelWidth - 120;
  const rows = queues.map((queue, index) => ({
    label: queue.name,
    y: index * rowHeight,
    bars: [{ className: "chart-queued", width: fixed(queue.queued === 0 ? 0 : Math.max(1, (queue.queued / top) * plotWidth)), value: String(queue.queued) }],
    text: `${queue.queued} queued · ${queue.running} running`,
  }));
  const summary = queues.length === 0
    ? "No run is queued or running."
    : `Runs queued now: ${queues.map((queue) => `${queue.name} ${queue.queued} queued, ${queue.running} running`).join("; ")}.`;
  return { width: chartWidth, height: Math.max(rowHeight, rows.length * rowHeight), labelWidth, rows, summary };
}
