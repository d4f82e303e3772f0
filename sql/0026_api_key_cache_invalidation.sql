-- Servers cache what an API key resolves to (server/auth/api-key-cache.ts). Whatever can change
-- that answer notifies `ratchet_api_keys` in the same transaction, so every server drops its cache
-- when the change commits, whoever made it (a server, the CLI, plain SQL). Once per statement, not
-- per row: these tables change rarely, and a dropped cache refills with one lookup per key in use.
create function ratchet.notify_api_keys_changed() returns trigger language plpgsql as $$
begin
  perform pg_notify('ratchet_api_keys', '');
  return null;
end
$$;

create trigger api_keys_changed after update of revoked_at, environment_id, key_hash or delete on ratchet.api_keys
  for each statement execute function ratchet.notify_api_keys_changed();
create trigger environments_key_answer_changed after update of type, slug, concurrency_limit, project_id or delete on ratchet.environments
  for each statement execute function ratchet.notify_api_keys_changed();
create trigger projects_key_answer_changed after update of ref, name, organization_id or delete on ratchet.projects
  for each statement execute function ratchet.notify_api_keys_changed();
create trigger organizations_key_answer_changed after update of slug or delete on ratchet.organizations
  for each statement execute function ratchet.notify_api_keys_changed();
