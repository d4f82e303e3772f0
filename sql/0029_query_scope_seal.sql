-- Query scopes that also work on a read replica (a hot standby), where a transaction can write
-- nothing, so the scope row of 0016 cannot be inserted. The server puts the scope in a
-- transaction-local setting instead, sealed with a key only the tables' owner can read and bound to
-- this backend and this transaction's start: a caller who could set the setting (the parse check
-- refuses set_config, but the seal does not rely on it) cannot forge a seal, and one copied from an
-- earlier transaction no longer matches. A physical replica is a copy of this database, so the key,
-- these functions, the views and the roles are all there. docs/sql.md, layer 4.
create table ratchet.query_scope_key (
  singleton boolean primary key default true check (singleton),
  key bytea not null check (length(key) >= 30)
);
-- gen_random_uuid() draws from the server's strong random source: 244 random bits from two.
insert into ratchet.query_scope_key (key)
values (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
revoke all on ratchet.query_scope_key from public;

-- What the seal covers: this backend, this transaction's start (in microseconds, whatever TimeZone
-- says), and the environment ids as text. sha256(key || sha256(...)): no length extension.
create function ratchet.query_scope_mac(p_key bytea, p_environment_ids text) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select encode(sha256(p_key || sha256(convert_to(
    pg_backend_pid()::text || ';' || ((extract(epoch from transaction_timestamp()) * 1000000)::bigint)::text || ';' || p_environment_ids,
    'UTF8'))), 'hex')
$$;
revoke all on function ratchet.query_scope_mac(bytea, text) from public;

-- Called by the server, as itself, before it drops to ratchet_query; never granted to the query roles.
create function ratchet.query_scope_seal(p_environment_ids uuid[]) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select p_environment_ids::text || ';' || ratchet.query_scope_mac(k.key, p_environment_ids::text) from ratchet.query_scope_key k
$$;
revoke all on function ratchet.query_scope_seal(uuid[]) from public;

-- The row of 0016 first (servers of the previous version still write it during a rolling upgrade),
-- then the sealed setting; without either the scope is empty.
create or replace function ratchet.query_scope_environment_ids() returns uuid[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce(
    (select s.environment_ids from ratchet.query_scopes s where s.xid = pg_current_xact_id_if_assigned()),
    (select split_part(v.sealed, ';', 1)::uuid[]
      from (select current_setting('ratchet.query_scope', true) as sealed) v, ratchet.query_scope_key k
      where v.sealed like '{%};%' and split_part(v.sealed, ';', 2) = ratchet.query_scope_mac(k.key, split_part(v.sealed, ';', 1))),
    '{}'::uuid[])
$$;

-- The time window only narrows what the caller's scope shows (leaving it out shows all of history),
-- so it needs no seal: a transaction-local setting, or the row of 0016.
create or replace function ratchet.query_scope_time_from() returns timestamptz
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce(
    (select s.time_from from ratchet.query_scopes s where s.xid = pg_current_xact_id_if_assigned()),
    nullif(current_setting('ratchet.query_time_from', true), '')::timestamptz,
    '-infinity'::timestamptz)
$$;

create or replace function ratchet.query_scope_time_to() returns timestamptz
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce(
    (select s.time_to from ratchet.query_scopes s where s.xid = pg_current_xact_id_if_assigned()),
    nullif(current_setting('ratchet.query_time_to', true), '')::timestamptz,
    'infinity'::timestamptz)
$$;
