-- An attempt whose process or container died ends CRASHED (with the reason in its error), so a run's
-- attempt history tells a crash that was retried apart from a task that threw. NOT VALID first, so
-- the check is added without holding the attempts table's write lock through a full scan.
alter table ratchet.attempts drop constraint attempts_status_check;
alter table ratchet.attempts add constraint attempts_status_check
  check (status in ('EXECUTING', 'COMPLETED', 'FAILED', 'CANCELED', 'CRASHED')) not valid;
alter table ratchet.attempts validate constraint attempts_status_check;
