-- A deployment that fails alerts every enabled channel of its environment, through the same
-- deliveries (retries, backoff, history) as run failures and backlogs.
alter table ratchet.alert_deliveries drop constraint alert_deliveries_kind_check;
alter table ratchet.alert_deliveries add constraint alert_deliveries_kind_check
  check (kind in ('run_failed', 'digest', 'queue_backlog', 'deployment_failed'));
