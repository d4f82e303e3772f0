-- complete_attempt_fast also answers what the attempt metrics need (the run's task and how long
-- the attempt ran), which the server otherwise read back with a query of its own after every
-- completion: one statement less per run on the hot path.
drop function ratchet.complete_attempt_fast(uuid, uuid, integer, text, text, text, timestamptz);

create function ratchet.complete_attempt_fast(
  p_environment_id uuid,
  p_run_id uuid,
  p_attempt_number integer,
  p_worker_id text,
  p_output text,
  p_output_type text,
  p_now timestamptz
) returns table (outcome text, environment_id uuid, task_identifier text, duration_seconds double precision)
language plpgsql as $$
#variable_conflict use_column
declare
  v_environment_id uuid;
  v_cancel_requested_at timestamptz;
  v_batch_id uuid;
  v_task_identifier text;
  v_attempt_began timestamptz;
begin
  select x.environment_id into v_environment_id from ratchet.executions x
  where x.run_id = p_run_id and x.attempt_number = p_attempt_number and x.worker_id = p_worker_id
    and x.environment_id = p_environment_id
  for update;
  if not found then
    return query select 'lost'::text, null::uuid, null::text, null::double precision;
    return;
  end if;

  select r.cancel_requested_at, r.batch_id into v_cancel_requested_at, v_batch_id
  from ratchet.runs r where r.id = p_run_id and r.environment_id = p_environment_id for update;
  if not found or v_cancel_requested_at is not null then
    return query select 'general'::text, v_environment_id, null::text, null::double precision;
    return;
  end if;
  if exists (select 1 from ratchet.waitpoints w
             where w.type = 'RUN' and w.completed_by_run_id = p_run_id and w.status = 'WAITING') then
    return query select 'general'::text, v_environment_id, null::text, null::double precision;
    return;
  end if;
  if v_batch_id is not null then
    perform 1 from ratchet.batches b where b.id = v_batch_id for share;
    if exists (select 1 from ratchet.waitpoints w
               where w.type = 'BATCH' and w.completed_by_batch_id = v_batch_id and w.status = 'WAITING') then
      return query select 'general'::text, v_environment_id, null::text, null::double precision;
      return;
    end if;
  end if;

  delete from ratchet.executions x
  where x.run_id = p_run_id and x.attempt_number = p_attempt_number and x.worker_id = p_worker_id
    and x.environment_id = p_environment_id;
  update ratchet.attempts a set status = 'COMPLETED', finished_at = p_now, error = null
  where a.run_id = p_run_id and a.number = p_attempt_number
  returning coalesce(a.started_at, a.created_at) into v_attempt_began;
  update ratchet.runs r set status = 'COMPLETED', output = p_output::json, output_type = p_output_type,
    error = null, finished_at = p_now, updated_at = p_now
  where r.id = p_run_id and r.environment_id = p_environment_id
  returning r.task_identifier into v_task_identifier;
  return query select 'completed'::text, v_environment_id, v_task_identifier,
    extract(epoch from (p_now - v_attempt_began))::double precision;
end;
$$;
