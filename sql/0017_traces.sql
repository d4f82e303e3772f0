-- Traces: every run belongs to the trace of its root run, whose id is the root run's UUID as 32 hex
-- digits (a valid W3C trace id), so no run needs a trace column and a child continues its parent's
-- trace by its root_run_id. Events (logs and spans) carry the trace id so that a whole tree's
-- events, and spans received over OTLP, are read by trace. See docs/tracing.md.
--
-- Nullable and added, not renamed: events written before this migration simply have no trace id
-- (reading a trace also reads its runs' events by run id).
alter table ratchet.events add column trace_id text check (trace_id ~ '^[0-9a-f]{32}$');

create index events_trace_idx on ratchet.events (trace_id, "time") where trace_id is not null;

-- Reading a trace reads every run of the tree by its root.
create index runs_root_idx on ratchet.runs (root_run_id) where root_run_id is not null;
