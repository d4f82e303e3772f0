// An environment's overview, its landing page: runs finished per minute by status, p50/p95 duration
// by task and queue depth, over the last hour or 24 hours (?range=1h|24h), drawn server-side as SVG
// with a table beside each chart.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { durationChart, durationText, overviewRanges, queueChart, runsChart, type OverviewRange } from "../../dashboard/overview-charts.ts";
import { ApiError } from "../../errors.ts";
import { overviewFinishedByBucket, overviewQueueDepths, overviewTaskActivity } from "../../storage/overview.ts";
import { render } from "./render.ts";
import type { ScopeOf } from "./render.ts";

type Params = { ref: string; env: string };

function readRange(query: Record<string, unknown>): OverviewRange {
  const key = query.range === undefined || query.range === "" ? "1h" : query.range;
  if (key !== "1h" && key !== "24h") throw new ApiError("VALIDATION_FAILED", "range: must be 1h or 24h");
  return overviewRanges[key];
}

export async function overviewPages(app: FastifyInstance, context: AppContext, scopeOf: ScopeOf): Promise<void> {
  const { clock } = context;

  app.get<{ Params: Params }>("/p/:ref/:env", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    return reply.redirect(`${scope.base}/overview`);
  });

  app.get<{ Params: Params; Querystring: Record<string, unknown> }>("/p/:ref/:env/overview", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    const db = context.reads.for(request);
    const range = readRange(request.query);
    const environmentId = scope.environment.environmentId;
    // Buckets end on a whole bucket, so the chart does not shift by a few seconds on each refresh.
    const step = range.bucketSeconds * 1000;
    const to = new Date(Math.ceil(clock.now().getTime() / step) * step);
    const from = new Date(to.getTime() - range.seconds * 1000);
    const [buckets, tasks, queues] = await Promise.all([
      overviewFinishedByBucket(db.sql, environmentId, { from, to }, range.bucketSeconds),
      overviewTaskActivity(db.sql, environmentId, { from, to }, 50),
      overviewQueueDepths(db.sql, environmentId, 20),
    ]);
    return render(
      request,
      reply,
      "overview",
      {
        title: "Overview",
        range,
        ranges: Object.values(overviewRanges).map((option) => ({ ...option, href: `${scope.base}/overview?range=${option.key}`, current: option.key === range.key })),
        runs: runsChart(buckets, range, from),
        durations: durationChart(tasks),
        tasks: tasks.slice(0, 12).map((task) => ({ task: task.task, total: task.total, p50: durationText(task.p50Ms), p95: durationText(task.p95Ms) })),
        queues: queueChart(queues),
        queueRows: queues,
      },
      scope,
      "overview",
    );
  });
}
