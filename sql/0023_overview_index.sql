-- The dashboard's overview and tasks page read an environment's finished runs by when they finished:
-- runs per minute by final status, p50/p95 duration by task. The retention sweeper's index on
-- (environment_id, finished_at) now carries the status, task and start time as well, so those
-- charts are index-only scans of the time range asked for (finished runs rarely change again, so
-- their pages stay all-visible) instead of a heap fetch per run. Same key and predicate: the
-- sweeper's plan does not change. The columns added were indexed already or change only with the
-- status, so updates that were HOT stay HOT.
drop index ratchet.runs_finished_idx;

create index runs_finished_idx on ratchet.runs (environment_id, finished_at)
  include (status, task_identifier, started_at)
  where finished_at is not null
    and status in ('COMPLETED', 'CANCELED', 'FAILED', 'CRASHED', 'SYSTEM_FAILURE', 'EXPIRED', 'TIMED_OUT');
