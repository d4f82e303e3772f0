-- How an attempt's long waits were suspended (docs/checkpoints.md): by a CRIU checkpoint of its
-- container, or by journal replay, and why replay where a checkpoint was possible in principle (CRIU
-- off or missing, the dump failed, a cap). Shown on the dashboard's run page.
alter table ratchet.attempts
  add column checkpoints integer not null default 0 check (checkpoints >= 0),
  add column checkpoint_fallback text check (length(checkpoint_fallback) <= 2000);

-- A finished run keeps no checkpoint, whatever path finished it (a completion, a cancel of a waiting
-- run, an expiry, a bulk action): deleting the rows unlinks their large objects (the trigger of 0018).
create function ratchet.runs_drop_checkpoints() returns trigger language plpgsql as $$
begin
  delete from ratchet.checkpoints where run_id = new.id;
  return null;
end
$$;

create trigger runs_drop_checkpoints after update of status on ratchet.runs
  for each row
  when (new.status in ('COMPLETED', 'CANCELED', 'FAILED', 'CRASHED', 'SYSTEM_FAILURE', 'EXPIRED', 'TIMED_OUT')
    and old.status is distinct from new.status)
  execute function ratchet.runs_drop_checkpoints();
