-- A lease is the run, the attempt, the worker id AND the environment of the key that holds it.
--
-- Worker ids are chosen by workers and are not secret (the docs' example is "w-1"), so a key of
-- another environment or project could send a holder's id. complete_attempt_fast now takes the
-- caller's environment and matches it on the execution row, like every other lease query.
drop function ratchet.complete_attempt_fast(uuid, integer, text, text, text, timestamptz);

create function ratchet.complete_attempt_fast(
  p_environment_id uuid,
  p_run_id uuid,
  p_attempt_number integer,
  p_worker_id text,
  p_output text,
  p_output_type text,
  p_now timestamptz
) returns table (outcome text, environment_id uuid)
language plpgsql as $$
#variable_conflict use_column
declare
  v_environment_id uuid;
  v_cancel_requested_at timestamptz;
  v_batch_id uuid;
begin
  select x.environment_id into v_environment_id from ratchet.executions x
  where x.run_id = p_run_id and x.attempt_number = p_attempt_number and x.worker_id = p_worker_id
    and x.environment_id = p_environment_id
  for update;
  if not found then
    return query select 'lost'::text, null::uuid;
    return;
  end if;

  select r.cancel_requested_at, r.batch_id into v_cancel_requested_at, v_batch_id
  from ratchet.runs r where r.id = p_run_id and r.environment_id = p_environment_id for update;
  if not found or v_cancel_requested_at is not null then
    return query select 'general'::text, v_environment_id;
    return;
  end if;
  if exists (select 1 from ratchet.waitpoints w
             where w.type = 'RUN' and w.completed_by_run_id = p_run_id and w.status = 'WAITING') then
    return query select 'general'::text, v_environment_id;
    return;
  end if;
  if v_batch_id is not null then
    perform 1 from ratchet.batches b where b.id = v_batch_id for share;
    if exists (select 1 from ratchet.waitpoints w
               where w.type = 'BATCH' and w.completed_by_batch_id = v_batch_id and w.status = 'WAITING') then
      return query select 'general'::text, v_environment_id;
      return;
    end if;
  end if;

  delete from ratchet.executions x
  where x.run_id = p_run_id and x.attempt_number = p_attempt_number and x.worker_id = p_worker_id
    and x.environment_id = p_environment_id;
  update ratchet.attempts a set status = 'COMPLETED', finished_at = p_now, error = null
  where a.run_id = p_run_id and a.number = p_attempt_number;
  update ratchet.runs r set status = 'COMPLETED', output = p_output::json, output_type = p_output_type,
    error = null, finished_at = p_now, updated_at = p_now
  where r.id = p_run_id and r.environment_id = p_environment_id;
  return query select 'completed'::text, v_environment_id;
end;
$$;

-- Failed password sign-ins per email address, so that an account is locked for a while after a few
-- failures whichever server replica, and whichever client address, they come through (the per-address
-- rate limit is per process). Kept for any address typed, existing or not, so that a lockout tells
-- nothing about which accounts exist; only a SHA-256 of the lowercased address is stored (people type
-- passwords into the email field).
create table ratchet.sign_in_throttle (
  email_hash bytea primary key check (length(email_hash) = 32),
  -- Attempts begun in the current window that did not succeed (counted when they begin).
  failures integer not null default 0,
  window_started_at timestamptz not null,
  -- How many times this address was locked since it last signed in or went a day without failing.
  lockouts integer not null default 0,
  locked_until timestamptz,
  last_attempt_at timestamptz not null
);

create index sign_in_throttle_last_attempt_idx on ratchet.sign_in_throttle (last_attempt_at);
