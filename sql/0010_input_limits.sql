-- Stored TTLs are read exactly as server/engine/durations.ts reads durations: ASCII digits only, the
-- same units, ASCII whitespace around the text ignored, seconds rounded half up to milliseconds, and
-- null (no TTL) past the longest duration, 3650 days, instead of overflowing bigint or timestamptz.
-- test/input-limits.test.ts feeds both the same inputs.
create or replace function ratchet.duration_ms(p_text text) returns bigint
language sql immutable as $$
  select case when v.ms is null or v.ms > 3650 * 86400000::numeric then null else v.ms::bigint end
  from (
    select case
      when t ~ '^[0-9]+(\.[0-9]+)?$' then round(t::numeric * 1000)
      when t ~ '^([0-9]+[wdhms])+$' then (
        select sum(m[1]::numeric * case m[2] when 'w' then 604800000 when 'd' then 86400000 when 'h' then 3600000
          when 'm' then 60000 else 1000 end)
        from regexp_matches(t, '([0-9]+)([wdhms])', 'g') as m)
    end as ms
    from (select btrim(p_text, E' \t\n\r\f\v') as t) x
  ) v
$$;
