// The Query page's example queries: the ones docs/sql.md shows, each with the period it is meant for.
export interface QueryExample {
  key: string;
  title: string;
  query: string;
  period: string;
}

export const queryExamples: QueryExample[] = [
  {
    key: "failure-rate",
    title: "Failure rate by task, last 24 h",
    period: "24h",
    query: `select task_identifier,
  count(*) filter (where status = 'Failed')::float / count(*) as failure_rate,
  count(*) as runs
from runs
group by 1
order by 2 desc`,
  },
  {
    key: "p95-duration",
    title: "p95 duration by task",
    period: "7d",
    query: `select task_identifier,
  percentile_cont(0.95) within group (order by execution_duration) as p95_ms
from runs
where is_finished and execution_duration is not null
group by 1
order by 2 desc`,
  },
  {
    key: "slowest-runs",
    title: "Slowest runs",
    period: "7d",
    query: `select run_id, task_identifier, status, execution_duration
from runs
where execution_duration is not null
order by execution_duration desc
limit 20`,
  },
  {
    key: "runs-per-tag",
    title: "Runs per tag",
    period: "7d",
    query: `select tag, count(*) as runs
from runs, unnest(tags) as tag
group by 1
order by 2 desc`,
  },
  {
    key: "runs-per-hour",
    title: "Runs per hour (chart)",
    period: "24h",
    query: `select date_trunc('hour', triggered_at) as hour, count(*) as runs
from runs
group by 1
order by 1`,
  },
];
