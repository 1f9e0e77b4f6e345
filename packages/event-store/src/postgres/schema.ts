/**
 * Versioned migrations of the PostgreSQL event store. Never edit a released migration: add one.
 * Each runs once per schema, in a transaction holding an advisory lock (see migrate.ts).
 */

/** Global positions are `transaction id × POSITIONS_PER_TRANSACTION + index within the transaction`. */
export const POSITIONS_PER_TRANSACTION = 1_000_000n;
/** The same as a number, for hot loops over safe-integer positions. */
export const POSITIONS_PER_TRANSACTION_NUMBER = Number(POSITIONS_PER_TRANSACTION);

export interface Migration {
  version: number;
  name: string;
  sql(schema: string): string;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) {
    throw new TypeError(`invalid schema name ${JSON.stringify(schema)}: use [a-z_][a-z0-9_]*`);
  }
}

export function notifyChannel(schema: string): string {
  return `tradecore_events_${schema}`;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'events, stream heads, seals, append function',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
create table ${s}.events (
  -- transaction id × ${POSITIONS_PER_TRANSACTION} + index: increasing in transaction-id order, so a
  -- reader bounded by pg_snapshot_xmin never skips a position that is still uncommitted.
  position        bigint primary key,
  transaction_id  xid8 not null default pg_current_xact_id(),
  stream          text not null,
  revision        bigint not null,
  event_id        uuid not null,
  type            text not null,
  data            jsonb not null,
  metadata        jsonb not null,
  -- SHA-256(previous event's hash in this stream ‖ RFC 8785 JSON of the event)
  hash            bytea not null,
  recorded_at     timestamptz not null default now(),
  constraint events_stream_revision_key unique (stream, revision),
  constraint events_event_id_key unique (event_id),
  constraint events_revision_check check (revision >= 0)
);

-- One row per stream: the head that appends compare-and-set (optimistic concurrency) and the
-- tip of its hash chain.
create table ${s}.streams (
  stream          text primary key,
  revision        bigint not null,
  last_position   bigint not null,
  last_hash       bytea not null
) with (fillfactor = 70);

-- Seals over global position ranges (from_position, to_position]: see docs/event-store.md.
create table ${s}.seals (
  seal_id         bigint primary key,
  from_position   bigint not null,
  to_position     bigint not null,
  event_count     integer not null,
  -- ordered (be64 position ‖ 32-byte event hash) of every event in the range
  manifest        bytea not null,
  previous_hash   bytea not null,
  hash            bytea not null,
  sealed_at       timestamptz not null default now()
);

-- Appends events to one stream in one statement: expected-revision check on the stream head
-- (row lock), per-stream hash chain, one multi-row insert.
-- p_mode: 0 = exact revision p_expected, 1 = no_stream, 2 = any, 3 = stream_exists.
-- status 0 = appended (revision = new last revision, last_position = its position);
-- status 1 = wrong expected revision (revision = actual, -1 for no stream).
create function ${s}.append_events(
  p_stream text, p_mode smallint, p_expected bigint, p_stream_json text,
  p_ids uuid[], p_types text[], p_type_json text[], p_data text[], p_metadata text[])
returns table (status smallint, revision bigint, last_position bigint)
language plpgsql as $fn$
declare
  n integer := coalesce(cardinality(p_ids), 0);
  v_rev bigint;
  v_prev bytea;
  v_last_pos bigint;
  v_existing boolean;
  v_hashes bytea[];
  v_h bytea;
  v_offset bigint;
  v_base bigint;
  i integer;
  v_attempts integer := 0;
begin
  if cardinality(p_types) is distinct from cardinality(p_ids) or cardinality(p_type_json) is distinct from cardinality(p_ids)
     or cardinality(p_data) is distinct from cardinality(p_ids) or cardinality(p_metadata) is distinct from cardinality(p_ids) then
    raise exception 'append_events: argument arrays differ in length' using errcode = '22023';
  end if;
  loop
    v_attempts := v_attempts + 1;
    if v_attempts > 3 then
      -- only reachable under REPEATABLE READ / SERIALIZABLE, where the new head stays invisible
      raise exception 'append_events: stream % was created concurrently', p_stream using errcode = '40001';
    end if;
    select h.revision, h.last_hash, h.last_position into v_rev, v_prev, v_last_pos
      from ${s}.streams h where h.stream = p_stream for update;
    v_existing := found;
    if v_existing then
      if p_mode = 1 or (p_mode = 0 and v_rev <> p_expected) then
        return query select 1::smallint, v_rev, v_last_pos;
        return;
      end if;
    else
      if p_mode = 0 or p_mode = 3 then
        return query select 1::smallint, -1::bigint, null::bigint;
        return;
      end if;
      v_rev := -1;
      v_prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    end if;
    if n = 0 then
      return query select 0::smallint, v_rev, coalesce(v_last_pos, 0);
      return;
    end if;

    v_offset := coalesce(nullif(current_setting('tradecore.event_store_offset', true), ''), '0')::bigint;
    if v_offset + n > ${POSITIONS_PER_TRANSACTION} then
      raise exception 'append_events: more than ${POSITIONS_PER_TRANSACTION} events in one transaction' using errcode = '54000';
    end if;
    v_base := pg_current_xact_id()::text::bigint * ${POSITIONS_PER_TRANSACTION} + v_offset;

    v_hashes := '{}';
    v_h := v_prev;
    for i in 1 .. n loop
      v_h := sha256(v_h || convert_to(
        '{"data":' || p_data[i] || ',"eventId":"' || p_ids[i]::text || '","metadata":' || p_metadata[i] ||
        ',"stream":' || p_stream_json || ',"streamRevision":' || (v_rev + i)::text ||
        ',"type":' || p_type_json[i] || '}', 'UTF8'));
      v_hashes[i] := v_h;
    end loop;

    if v_existing then
      update ${s}.streams h set revision = v_rev + n, last_position = v_base + n - 1, last_hash = v_h
        where h.stream = p_stream;
    else
      insert into ${s}.streams (stream, revision, last_position, last_hash)
        values (p_stream, v_rev + n, v_base + n - 1, v_h)
        on conflict do nothing;
      if not found then
        -- a concurrent writer created the stream first (we waited for it to commit)
        if p_mode = 1 then
          select h.revision, h.last_position into v_rev, v_last_pos from ${s}.streams h where h.stream = p_stream;
          return query select 1::smallint, coalesce(v_rev, -1), v_last_pos;
          return;
        end if;
        continue; -- 'any': lock the new head and chain onto it
      end if;
    end if;
    exit;
  end loop;

  perform set_config('tradecore.event_store_offset', (v_offset + n)::text, true);
  insert into ${s}.events (position, stream, revision, event_id, type, data, metadata, hash)
    select v_base + u.i - 1, p_stream, v_rev + u.i, u.id, u.t, u.d::jsonb, u.m::jsonb, u.h
      from unnest(p_ids, p_types, p_data, p_metadata, v_hashes) with ordinality as u(id, t, d, m, h, i);
  return query select 0::smallint, v_rev + n, v_base + n - 1;
end
$fn$;
`;
    },
  },
  {
    version: 2,
    name: 'append function takes JSON arrays (no array-literal escaping on the client)',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
drop function ${s}.append_events(text, smallint, bigint, text, uuid[], text[], text[], text[], text[]);

create function ${s}.append_events(
  p_stream text, p_mode smallint, p_expected bigint, p_stream_json text,
  p_id_list text, p_type_list json, p_data_list json, p_metadata_list json)
returns table (status smallint, revision bigint, last_position bigint)
language plpgsql as $fn$
declare
  -- ids: comma-separated; types, data, metadata: JSON arrays whose element texts are the
  -- RFC 8785 texts the client built (the json type keeps element text exactly as sent)
  p_ids uuid[] := string_to_array(p_id_list, ',')::uuid[];
  p_types text[];
  p_type_json text[];
  p_data text[];
  p_metadata text[];
  n integer := coalesce(cardinality(string_to_array(p_id_list, ',')), 0);
  v_rev bigint;
  v_prev bytea;
  v_last_pos bigint;
  v_existing boolean;
  v_hashes bytea[];
  v_h bytea;
  v_offset bigint;
  v_base bigint;
  i integer;
  v_attempts integer := 0;
begin
  select coalesce(array_agg(e #>> '{}' order by o), '{}'), coalesce(array_agg(e::text order by o), '{}')
    into p_types, p_type_json from json_array_elements(p_type_list) with ordinality as t(e, o);
  select coalesce(array_agg(e::text order by o), '{}') into p_data
    from json_array_elements(p_data_list) with ordinality as t(e, o);
  select coalesce(array_agg(e::text order by o), '{}') into p_metadata
    from json_array_elements(p_metadata_list) with ordinality as t(e, o);
  if cardinality(p_types) <> n or cardinality(p_data) <> n or cardinality(p_metadata) <> n then
    raise exception 'append_events: argument arrays differ in length' using errcode = '22023';
  end if;
  loop
    v_attempts := v_attempts + 1;
    if v_attempts > 3 then
      -- only reachable under REPEATABLE READ / SERIALIZABLE, where the new head stays invisible
      raise exception 'append_events: stream % was created concurrently', p_stream using errcode = '40001';
    end if;
    select h.revision, h.last_hash, h.last_position into v_rev, v_prev, v_last_pos
      from ${s}.streams h where h.stream = p_stream for update;
    v_existing := found;
    if v_existing then
      if p_mode = 1 or (p_mode = 0 and v_rev <> p_expected) then
        return query select 1::smallint, v_rev, v_last_pos;
        return;
      end if;
    else
      if p_mode = 0 or p_mode = 3 then
        return query select 1::smallint, -1::bigint, null::bigint;
        return;
      end if;
      v_rev := -1;
      v_prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    end if;
    if n = 0 then
      return query select 0::smallint, v_rev, coalesce(v_last_pos, 0);
      return;
    end if;

    v_offset := coalesce(nullif(current_setting('tradecore.event_store_offset', true), ''), '0')::bigint;
    if v_offset + n > ${POSITIONS_PER_TRANSACTION} then
      raise exception 'append_events: more than ${POSITIONS_PER_TRANSACTION} events in one transaction' using errcode = '54000';
    end if;
    v_base := pg_current_xact_id()::text::bigint * ${POSITIONS_PER_TRANSACTION} + v_offset;

    v_hashes := '{}';
    v_h := v_prev;
    for i in 1 .. n loop
      v_h := sha256(v_h || convert_to(
        '{"data":' || p_data[i] || ',"eventId":"' || p_ids[i]::text || '","metadata":' || p_metadata[i] ||
        ',"stream":' || p_stream_json || ',"streamRevision":' || (v_rev + i)::text ||
        ',"type":' || p_type_json[i] || '}', 'UTF8'));
      v_hashes[i] := v_h;
    end loop;

    if v_existing then
      update ${s}.streams h set revision = v_rev + n, last_position = v_base + n - 1, last_hash = v_h
        where h.stream = p_stream;
    else
      insert into ${s}.streams (stream, revision, last_position, last_hash)
        values (p_stream, v_rev + n, v_base + n - 1, v_h)
        on conflict do nothing;
      if not found then
        -- a concurrent writer created the stream first (we waited for it to commit)
        if p_mode = 1 then
          select h.revision, h.last_position into v_rev, v_last_pos from ${s}.streams h where h.stream = p_stream;
          return query select 1::smallint, coalesce(v_rev, -1), v_last_pos;
          return;
        end if;
        continue; -- 'any': lock the new head and chain onto it
      end if;
    end if;
    exit;
  end loop;

  perform set_config('tradecore.event_store_offset', (v_offset + n)::text, true);
  insert into ${s}.events (position, stream, revision, event_id, type, data, metadata, hash)
    select v_base + u.i - 1, p_stream, v_rev + u.i, u.id, u.t, u.d::jsonb, u.m::jsonb, u.h
      from unnest(p_ids, p_types, p_data, p_metadata, v_hashes) with ordinality as u(id, t, d, m, h, i);
  return query select 0::smallint, v_rev + n, v_base + n - 1;
end
$fn$;
`;
    },
  },
  {
    version: 3,
    name: 'append_batch: many appends in one transaction (group commit), each with its own outcome',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- Group commit: the appends queued while earlier ones were in flight, in ONE transaction (one
-- commit record, one WAL flush, one round trip). Each append keeps its own expected-revision check
-- and its own outcome; nothing an append finds makes another one fail:
--   status 0 = appended (revision = new last revision, last_position = its position);
--   status 1 = wrong expected revision (revision = actual, -1 for no stream);
--   status 2 = some of its event ids are stored already: the client decides idempotent retry or
--              conflict after the commit (nothing of this append was written);
--   status 3 = not appended here, append it alone: its stream was last written by a transaction
--              with a HIGHER transaction id than this one. Appending here would give the new events
--              lower positions than the stream's earlier ones (positions come from transaction ids,
--              and this transaction took its id before it reached this stream), breaking the
--              per-stream order in the global log.
-- Errors (a unique violation on an event id inserted concurrently, a deadlock) roll back the whole
-- batch; the client then appends each one alone, so an error still only fails its own append.
-- p_batch: JSON array of {k, s, sj, m, e, i, t, d, md}: k = index (processing order), s = stream,
-- sj = the same stream as JSON text, m = mode (0 exact e, 1 no_stream, 2 any, 3 stream_exists),
-- i = comma-separated event ids, t = types (JSON strings), d and md = RFC 8785 texts of data and
-- metadata. Declared json, not jsonb: json keeps each element's text exactly as the client sent
-- it, and that text is what gets hashed.
--
-- enable_seqscan is off inside: every lookup here is by a unique key, and PL/pgSQL keeps the plan
-- it made at its first calls for the whole session. The id check (event_id = any(...), under
-- EXISTS) planned while the table was small became a sequential scan, and stayed one while the
-- table grew (measured: a 32-append batch took 4 ms on a fresh table, 50 ms after 10,000 events).
create function ${s}.append_batch(p_batch json)
returns table (k integer, status smallint, revision bigint, last_position bigint)
language plpgsql
set enable_seqscan = off
as $fn$
declare
  a record;
  v_ids uuid[];
  n integer;
  v_rev bigint;
  v_prev bytea;
  v_last_pos bigint;
  v_existing boolean;
  v_h bytea;
  v_types text[];
  v_type_json text[];
  v_data text[];
  v_metadata text[];
  i integer;
  v_floor bigint;
  v_ceiling bigint;
  v_offset bigint := coalesce(nullif(current_setting('tradecore.event_store_offset', true), ''), '0')::bigint;
  r_pos bigint[] := '{}';
  r_stream text[] := '{}';
  r_rev bigint[] := '{}';
  r_id uuid[] := '{}';
  r_type text[] := '{}';
  r_data text[] := '{}';
  r_meta text[] := '{}';
  r_hash bytea[] := '{}';
begin
  -- This transaction's positions are [v_floor, v_ceiling).
  v_floor := pg_current_xact_id()::text::bigint * ${POSITIONS_PER_TRANSACTION};
  v_ceiling := v_floor + ${POSITIONS_PER_TRANSACTION};
  for a in
    select * from json_to_recordset(p_batch)
      as x(k integer, s text, sj json, m smallint, e bigint, i text, t json, d json, md json)
     order by x.k
  loop
    k := a.k;
    v_ids := case when a.i = '' then '{}'::uuid[] else string_to_array(a.i, ',')::uuid[] end;
    n := cardinality(v_ids);
    if n > 0 and exists (select 1 from ${s}.events ev where ev.event_id = any(v_ids)) then
      status := 2; revision := null; last_position := null;
      return next;
      continue;
    end if;
    select h.revision, h.last_hash, h.last_position into v_rev, v_prev, v_last_pos
      from ${s}.streams h where h.stream = a.s for update;
    v_existing := found;
    if v_existing then
      if v_last_pos >= v_ceiling then
        status := 3; revision := v_rev; last_position := v_last_pos;
        return next;
        continue;
      end if;
      if a.m = 1 or (a.m = 0 and v_rev <> a.e) then
        status := 1; revision := v_rev; last_position := v_last_pos;
        return next;
        continue;
      end if;
    else
      if a.m = 0 or a.m = 3 then
        status := 1; revision := -1; last_position := null;
        return next;
        continue;
      end if;
      v_rev := -1;
      v_prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    end if;
    if n = 0 then
      status := 0; revision := v_rev; last_position := coalesce(v_last_pos, 0);
      return next;
      continue;
    end if;
    if v_offset + n > ${POSITIONS_PER_TRANSACTION} then
      raise exception 'append_batch: more than ${POSITIONS_PER_TRANSACTION} events in one transaction' using errcode = '54000';
    end if;

    select coalesce(array_agg(e #>> '{}' order by o), '{}'), coalesce(array_agg(e::text order by o), '{}')
      into v_types, v_type_json from json_array_elements(a.t) with ordinality as t(e, o);
    select coalesce(array_agg(e::text order by o), '{}') into v_data
      from json_array_elements(a.d) with ordinality as t(e, o);
    select coalesce(array_agg(e::text order by o), '{}') into v_metadata
      from json_array_elements(a.md) with ordinality as t(e, o);
    if cardinality(v_types) <> n or cardinality(v_data) <> n or cardinality(v_metadata) <> n then
      raise exception 'append_batch: argument arrays differ in length' using errcode = '22023';
    end if;

    v_h := v_prev;
    for i in 1 .. n loop
      v_h := sha256(v_h || convert_to(
        '{"data":' || v_data[i] || ',"eventId":"' || v_ids[i]::text || '","metadata":' || v_metadata[i] ||
        ',"stream":' || a.sj::text || ',"streamRevision":' || (v_rev + i)::text ||
        ',"type":' || v_type_json[i] || '}', 'UTF8'));
      r_pos := r_pos || (v_floor + v_offset + i - 1);
      r_stream := r_stream || a.s;
      r_rev := r_rev || (v_rev + i);
      r_id := r_id || v_ids[i];
      r_type := r_type || v_types[i];
      r_data := r_data || v_data[i];
      r_meta := r_meta || v_metadata[i];
      r_hash := r_hash || v_h;
    end loop;

    if v_existing then
      update ${s}.streams h set revision = v_rev + n, last_position = v_floor + v_offset + n - 1, last_hash = v_h
        where h.stream = a.s;
    else
      insert into ${s}.streams (stream, revision, last_position, last_hash)
        values (a.s, v_rev + n, v_floor + v_offset + n - 1, v_h)
        on conflict do nothing;
      if not found then
        -- Another transaction created the stream meanwhile and committed (we waited for it): its
        -- transaction id may be higher than ours, so chaining onto it here is not safe.
        r_pos := r_pos[1 : cardinality(r_pos) - n];
        r_stream := r_stream[1 : cardinality(r_stream) - n];
        r_rev := r_rev[1 : cardinality(r_rev) - n];
        r_id := r_id[1 : cardinality(r_id) - n];
        r_type := r_type[1 : cardinality(r_type) - n];
        r_data := r_data[1 : cardinality(r_data) - n];
        r_meta := r_meta[1 : cardinality(r_meta) - n];
        r_hash := r_hash[1 : cardinality(r_hash) - n];
        if a.m = 1 then
          select h.revision, h.last_position into v_rev, v_last_pos from ${s}.streams h where h.stream = a.s;
          status := 1; revision := coalesce(v_rev, -1); last_position := v_last_pos;
        else
          status := 3; revision := null; last_position := null;
        end if;
        return next;
        continue;
      end if;
    end if;
    v_offset := v_offset + n;
    status := 0; revision := v_rev + n; last_position := v_floor + v_offset - 1;
    return next;
  end loop;

  if cardinality(r_id) > 0 then
    perform set_config('tradecore.event_store_offset', v_offset::text, true);
    insert into ${s}.events (position, stream, revision, event_id, type, data, metadata, hash)
      select u.p, u.st, u.r, u.id, u.t, u.d::jsonb, u.m::jsonb, u.h
        from unnest(r_pos, r_stream, r_rev, r_id, r_type, r_data, r_meta, r_hash) as u(p, st, r, id, t, d, m, h);
  end if;
end
$fn$;
`;
    },
  },
  {
    version: 4,
    name: 'append_batch: a stream head locked by another transaction is left to a lone append',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- Version 3's function (see there for the statuses), except that it never waits for a stream head
-- another transaction holds (FOR UPDATE SKIP LOCKED): that append gets status 3 and the client
-- appends it alone, so one long transaction elsewhere delays only the appends to its streams,
-- not everything batched with them.
create or replace function ${s}.append_batch(p_batch json)
returns table (k integer, status smallint, revision bigint, last_position bigint)
language plpgsql
set enable_seqscan = off
as $fn$
declare
  a record;
  v_ids uuid[];
  n integer;
  v_rev bigint;
  v_prev bytea;
  v_last_pos bigint;
  v_existing boolean;
  v_h bytea;
  v_types text[];
  v_type_json text[];
  v_data text[];
  v_metadata text[];
  i integer;
  v_floor bigint;
  v_ceiling bigint;
  v_offset bigint := coalesce(nullif(current_setting('tradecore.event_store_offset', true), ''), '0')::bigint;
  r_pos bigint[] := '{}';
  r_stream text[] := '{}';
  r_rev bigint[] := '{}';
  r_id uuid[] := '{}';
  r_type text[] := '{}';
  r_data text[] := '{}';
  r_meta text[] := '{}';
  r_hash bytea[] := '{}';
begin
  -- This transaction's positions are [v_floor, v_ceiling).
  v_floor := pg_current_xact_id()::text::bigint * ${POSITIONS_PER_TRANSACTION};
  v_ceiling := v_floor + ${POSITIONS_PER_TRANSACTION};
  for a in
    select * from json_to_recordset(p_batch)
      as x(k integer, s text, sj json, m smallint, e bigint, i text, t json, d json, md json)
     order by x.k
  loop
    k := a.k;
    v_ids := case when a.i = '' then '{}'::uuid[] else string_to_array(a.i, ',')::uuid[] end;
    n := cardinality(v_ids);
    if n > 0 and exists (select 1 from ${s}.events ev where ev.event_id = any(v_ids)) then
      status := 2; revision := null; last_position := null;
      return next;
      continue;
    end if;
    select h.revision, h.last_hash, h.last_position into v_rev, v_prev, v_last_pos
      from ${s}.streams h where h.stream = a.s for update skip locked;
    v_existing := found;
    if not v_existing and exists (select 1 from ${s}.streams h where h.stream = a.s) then
      -- Its head is locked by another transaction. Waiting here would hold up every append of the
      -- batch behind it: this one is appended alone instead (and waits there, on its own).
      status := 3; revision := null; last_position := null;
      return next;
      continue;
    end if;
    if v_existing then
      if v_last_pos >= v_ceiling then
        status := 3; revision := v_rev; last_position := v_last_pos;
        return next;
        continue;
      end if;
      if a.m = 1 or (a.m = 0 and v_rev <> a.e) then
        status := 1; revision := v_rev; last_position := v_last_pos;
        return next;
        continue;
      end if;
    else
      if a.m = 0 or a.m = 3 then
        status := 1; revision := -1; last_position := null;
        return next;
        continue;
      end if;
      v_rev := -1;
      v_prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    end if;
    if n = 0 then
      status := 0; revision := v_rev; last_position := coalesce(v_last_pos, 0);
      return next;
      continue;
    end if;
    if v_offset + n > ${POSITIONS_PER_TRANSACTION} then
      raise exception 'append_batch: more than ${POSITIONS_PER_TRANSACTION} events in one transaction' using errcode = '54000';
    end if;

    select coalesce(array_agg(e #>> '{}' order by o), '{}'), coalesce(array_agg(e::text order by o), '{}')
      into v_types, v_type_json from json_array_elements(a.t) with ordinality as t(e, o);
    select coalesce(array_agg(e::text order by o), '{}') into v_data
      from json_array_elements(a.d) with ordinality as t(e, o);
    select coalesce(array_agg(e::text order by o), '{}') into v_metadata
      from json_array_elements(a.md) with ordinality as t(e, o);
    if cardinality(v_types) <> n or cardinality(v_data) <> n or cardinality(v_metadata) <> n then
      raise exception 'append_batch: argument arrays differ in length' using errcode = '22023';
    end if;

    v_h := v_prev;
    for i in 1 .. n loop
      v_h := sha256(v_h || convert_to(
        '{"data":' || v_data[i] || ',"eventId":"' || v_ids[i]::text || '","metadata":' || v_metadata[i] ||
        ',"stream":' || a.sj::text || ',"streamRevision":' || (v_rev + i)::text ||
        ',"type":' || v_type_json[i] || '}', 'UTF8'));
      r_pos := r_pos || (v_floor + v_offset + i - 1);
      r_stream := r_stream || a.s;
      r_rev := r_rev || (v_rev + i);
      r_id := r_id || v_ids[i];
      r_type := r_type || v_types[i];
      r_data := r_data || v_data[i];
      r_meta := r_meta || v_metadata[i];
      r_hash := r_hash || v_h;
    end loop;

    if v_existing then
      update ${s}.streams h set revision = v_rev + n, last_position = v_floor + v_offset + n - 1, last_hash = v_h
        where h.stream = a.s;
    else
      insert into ${s}.streams (stream, revision, last_position, last_hash)
        values (a.s, v_rev + n, v_floor + v_offset + n - 1, v_h)
        on conflict do nothing;
      if not found then
        -- Another transaction created the stream meanwhile and committed (we waited for it): its
        -- transaction id may be higher than ours, so chaining onto it here is not safe.
        r_pos := r_pos[1 : cardinality(r_pos) - n];
        r_stream := r_stream[1 : cardinality(r_stream) - n];
        r_rev := r_rev[1 : cardinality(r_rev) - n];
        r_id := r_id[1 : cardinality(r_id) - n];
        r_type := r_type[1 : cardinality(r_type) - n];
        r_data := r_data[1 : cardinality(r_data) - n];
        r_meta := r_meta[1 : cardinality(r_meta) - n];
        r_hash := r_hash[1 : cardinality(r_hash) - n];
        if a.m = 1 then
          select h.revision, h.last_position into v_rev, v_last_pos from ${s}.streams h where h.stream = a.s;
          status := 1; revision := coalesce(v_rev, -1); last_position := v_last_pos;
        else
          status := 3; revision := null; last_position := null;
        end if;
        return next;
        continue;
      end if;
    end if;
    v_offset := v_offset + n;
    status := 0; revision := v_rev + n; last_position := v_floor + v_offset - 1;
    return next;
  end loop;

  if cardinality(r_id) > 0 then
    perform set_config('tradecore.event_store_offset', v_offset::text, true);
    insert into ${s}.events (position, stream, revision, event_id, type, data, metadata, hash)
      select u.p, u.st, u.r, u.id, u.t, u.d::jsonb, u.m::jsonb, u.h
        from unnest(r_pos, r_stream, r_rev, r_id, r_type, r_data, r_meta, r_hash) as u(p, st, r, id, t, d, m, h);
  end if;
end
$fn$;
`;
    },
  },
];
