-- A schedule's window (Trigger.dev's "cron spread"): each tick fires at a stable offset after its
-- nominal time, somewhere within the window ("30m", "2h", up to "24h", or "30%" of the interval to
-- the next tick), so many schedules on the same cron do not all fire at once. next_run_at stays the
-- nominal tick (the payload's timestamp); next_fire_at is when that tick fires, and what the
-- sweeper's due index orders by. Without a window the two are equal.
alter table ratchet.schedules add column run_window text check (length(run_window) between 1 and 16);
alter table ratchet.schedules add column next_fire_at timestamptz;
update ratchet.schedules set next_fire_at = next_run_at;

drop index ratchet.schedules_due_idx;
create index schedules_due_idx on ratchet.schedules (next_fire_at) where active;
