-- Finished runs age out: each environment may keep them for its own number of days (null: the
-- server-wide RATCHET_RUN_RETENTION_DAYS). The sweeper walks this index oldest first, in small
-- batches, so a purge never scans the table nor holds locks for long.
alter table ratchet.environments add column run_retention_days integer
  check (run_retention_days between 1 and 36500);

create index runs_finished_idx on ratchet.runs (environment_id, finished_at)
  where finished_at is not null
    and status in ('COMPLETED', 'CANCELED', 'FAILED', 'CRASHED', 'SYSTEM_FAILURE', 'EXPIRED', 'TIMED_OUT');
