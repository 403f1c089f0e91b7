-- search_path hijacking: a role that may CREATE in a schema on the search_path
-- (here public, which it puts FIRST, before pg_catalog) plants look-alikes of
-- what the extension's SQL uses: functions (now(), btrim(), ...), aggregates
-- (count, sum, min, max, array_agg), operators (= <> <= >= + - || for the
-- types the extension compares), types (domains named numeric, bigint, ...)
-- and relations named like the extension's tables and its triggers'
-- transition tables, also in pg_temp. Then it uses the API as an editor and
-- fires every trigger; the extension's owner tracks and untracks under the
-- same search_path. Every planted object records that it ran, when armed:
-- none may ever run, and every result must be what it would be without them.
--
-- Inside the armed sections the test's own statements qualify what they use
-- (OPERATOR(pg_catalog.=), pg_catalog.count(*)) and keep results in psql
-- variables; pgTAP checks them after the search_path is reset.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SET LOCAL TimeZone = 'UTC';

SELECT plan(42);

------------------------------------------------------------------------------
-- The catalog: pinned search paths, nothing for PUBLIC
------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prosecdef
                  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
                ORDER BY 1),
          '{}'::text[],
          'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT ok((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prosecdef) >= 30,
          'and there are SECURITY DEFINER functions to check');
-- Two trigger functions run as the invoker without a SET clause (the other
-- such functions are pure evaluators that read no table): the orders
-- trigger, whose SQL switches to the owner and pins search_path in C
-- (spi::OwnerConnection; the armed orders below check that switch), and
-- segments_touched, which runs no SQL.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'segmentation'::regnamespace AND NOT p.prosecdef AND p.proconfig IS NULL
                  AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype
                ORDER BY 1),
          '{segmentation.orders_changed(),segmentation.segments_touched()}'::text[],
          'of the trigger functions, only orders_changed and segments_touched run as the invoker with the caller''s search_path');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                WHERE p.pronamespace = 'segmentation'::regnamespace AND l.lanname <> 'c' AND p.prokind <> 'p'
                  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
                ORDER BY 1),
          '{}'::text[],
          'every function written in SQL or PL/pgSQL pins its search_path, SECURITY DEFINER or not');
-- Procedures that commit (the online changes) cannot have a SET clause nor be
-- SECURITY DEFINER (PostgreSQL forbids transaction control in either): they
-- run with the caller's rights and search_path, name everything with its
-- schema, and do their work through SECURITY DEFINER functions, checked above.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prokind = 'p' AND (p.prosecdef OR p.proconfig IS NOT NULL)
                ORDER BY 1),
          '{}'::text[],
          'the procedures run with the caller''s rights');
SELECT ok((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prokind = 'p') >= 4,
          'and there are procedures to check');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'segmentation'::regnamespace
                  AND has_function_privilege('public', p.oid, 'EXECUTE')
                ORDER BY 1),
          '{}'::text[],
          'PUBLIC may execute no function of the extension');

------------------------------------------------------------------------------
-- The attacker, the shop, and what records a hijack
------------------------------------------------------------------------------

-- An editor that may also write the shop's tables and create in public.
CREATE ROLE segmentation_trust_attacker NOLOGIN IN ROLE segmentation_editor;
GRANT CREATE, USAGE ON SCHEMA public TO segmentation_trust_attacker;

CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, loyalty_level text);
CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
                          amount numeric(12,2) NOT NULL, ordered_at timestamptz NOT NULL);
GRANT USAGE ON SCHEMA shop TO segmentation_trust_attacker;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON shop.customers, shop.orders TO segmentation_trust_attacker;
INSERT INTO shop.customers VALUES (1, now() - interval '400 days', 'GOLD'), (2, now() - interval '100 days', 'SILVER'),
                                  (3, now() - interval '5 days', NULL);
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES
    (1, 600.00, now() - interval '60 days'), (1, 500.00, now() - interval '40 days'), (2, 20.00, now() - interval '10 days');
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level') AS tracked_customers,
       segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at') AS tracked_orders \gset
-- Instants the armed sections use, as text (they must not call now() there).
SELECT (now() - interval '1 day')::text AS yesterday, (now() + interval '1 day')::text AS tomorrow \gset

-- Planted objects record here, while armed.
CREATE TABLE public.segmentation_trust_armed (armed boolean NOT NULL);
INSERT INTO public.segmentation_trust_armed VALUES (false);
CREATE TABLE public.segmentation_trust_hijacks (what text, by_role name, superuser boolean);
CREATE TABLE public.segmentation_trust_captured (what text, outcome text);
GRANT SELECT, UPDATE ON public.segmentation_trust_armed TO PUBLIC;
GRANT INSERT ON public.segmentation_trust_hijacks, public.segmentation_trust_captured TO PUBLIC;

SET LOCAL ROLE segmentation_trust_attacker;

CREATE FUNCTION public.segmentation_trust_ran(what pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql AS $fn$
BEGIN
    IF (SELECT a.armed FROM public.segmentation_trust_armed a) THEN
        INSERT INTO public.segmentation_trust_hijacks
        SELECT what, current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    END IF;
    RETURN true;
END $fn$;

-- Functions and aggregates, each doing what the original does after recording.
CREATE FUNCTION public.now() RETURNS pg_catalog.timestamptz LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.now()'); RETURN pg_catalog.now(); END $fn$;
CREATE FUNCTION public.btrim(pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.btrim(text)'); RETURN pg_catalog.btrim($1); END $fn$;
CREATE FUNCTION public.quote_literal(pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.quote_literal(text)'); RETURN pg_catalog.quote_literal($1); END $fn$;
CREATE FUNCTION public.current_database() RETURNS pg_catalog.name LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.current_database()'); RETURN pg_catalog.current_database(); END $fn$;
CREATE FUNCTION public.set_config(pg_catalog.text, pg_catalog.text, pg_catalog.bool) RETURNS pg_catalog.text
LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.set_config()'); RETURN pg_catalog.set_config($1, $2, $3); END $fn$;
CREATE FUNCTION public.current_setting(pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.current_setting()'); RETURN pg_catalog.current_setting($1); END $fn$;
CREATE FUNCTION public.unnest(pg_catalog.int8[]) RETURNS SETOF pg_catalog.int8 LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.unnest(bigint[])'); RETURN QUERY SELECT pg_catalog.unnest($1); END $fn$;
CREATE FUNCTION public.generate_series(pg_catalog.timestamptz, pg_catalog.timestamptz, pg_catalog.interval)
RETURNS SETOF pg_catalog.timestamptz LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.segmentation_trust_ran('function public.generate_series()');
    RETURN QUERY SELECT pg_catalog.generate_series($1, $2, $3);
END $fn$;
CREATE FUNCTION public.pg_event_trigger_dropped_objects(
    OUT classid pg_catalog.oid, OUT objid pg_catalog.oid, OUT objsubid pg_catalog.int4, OUT original pg_catalog.bool,
    OUT normal pg_catalog.bool, OUT is_temporary pg_catalog.bool, OUT object_type pg_catalog.text,
    OUT schema_name pg_catalog.text, OUT object_name pg_catalog.text, OUT object_identity pg_catalog.text,
    OUT address_names pg_catalog.text[], OUT address_args pg_catalog.text[])
RETURNS SETOF record LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function public.pg_event_trigger_dropped_objects()'); END $fn$;

CREATE FUNCTION public.segmentation_trust_step0(state pg_catalog.int8) RETURNS pg_catalog.int8 LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('aggregate public.count(*)'); RETURN state; END $fn$;
CREATE AGGREGATE public.count(*) (SFUNC = public.segmentation_trust_step0, STYPE = pg_catalog.int8, INITCOND = '0');
DO $do$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT * FROM (VALUES ('sum', 'numeric'), ('min', 'timestamptz'), ('max', 'timestamptz'),
                                   ('array_agg', 'int8'), ('array_agg', 'text')) AS t(agg, arg) LOOP
        EXECUTE format($f$CREATE FUNCTION public.%I(state pg_catalog.int8, value pg_catalog.%s) RETURNS pg_catalog.int8
                          LANGUAGE plpgsql AS $body$
                          BEGIN PERFORM public.segmentation_trust_ran(%L); RETURN state; END $body$$f$,
                       'segmentation_trust_' || a.agg || '_' || a.arg, a.arg,
                       format('aggregate public.%s(%s)', a.agg, a.arg));
        EXECUTE format('CREATE AGGREGATE public.%I(pg_catalog.%s) (SFUNC = public.%I, STYPE = pg_catalog.int8, INITCOND = %L)',
                       a.agg, a.arg, 'segmentation_trust_' || a.agg || '_' || a.arg, '0');
    END LOOP;
END $do$;

-- Operators for the types the extension compares, computes and concatenates.
DO $do$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT * FROM (VALUES
        ('=', 'text', 'text', 'pg_catalog.texteq', 'bool'),
        ('=', 'int8', 'int8', 'pg_catalog.int8eq', 'bool'),
        ('=', 'timestamptz', 'timestamptz', 'pg_catalog.timestamptz_eq', 'bool'),
        ('=', 'oid', 'oid', 'pg_catalog.oideq', 'bool'),
        ('=', 'bool', 'bool', 'pg_catalog.booleq', 'bool'),
        ('=', 'jsonb', 'jsonb', 'pg_catalog.jsonb_eq', 'bool'),
        ('=', 'numeric', 'numeric', 'pg_catalog.numeric_eq', 'bool'),
        ('<>', 'text', 'text', 'pg_catalog.textne', 'bool'),
        ('<>', 'numeric', 'numeric', 'pg_catalog.numeric_ne', 'bool'),
        ('<>', 'int8[]', 'int8[]', 'pg_catalog.array_ne', 'bool'),
        ('<=', 'timestamptz', 'timestamptz', 'pg_catalog.timestamptz_le', 'bool'),
        ('>=', 'timestamptz', 'timestamptz', 'pg_catalog.timestamptz_ge', 'bool'),
        ('>', 'timestamptz', 'timestamptz', 'pg_catalog.timestamptz_gt', 'bool'),
        ('+', 'numeric', 'numeric', 'pg_catalog.numeric_add', 'numeric'),
        ('-', 'numeric', 'numeric', 'pg_catalog.numeric_sub', 'numeric'),
        ('+', 'int8', 'int8', 'pg_catalog.int8pl', 'int8'),
        ('-', 'int8', 'int8', 'pg_catalog.int8mi', 'int8'),
        ('||', 'text', 'text', 'pg_catalog.textcat', 'text')
    ) AS t(op, lhs, rhs, impl, result)
    LOOP
        EXECUTE format($f$CREATE FUNCTION public.%I(pg_catalog.%s, pg_catalog.%s) RETURNS pg_catalog.%s
                          LANGUAGE plpgsql AS $body$
                          BEGIN
                              PERFORM public.segmentation_trust_ran(%L);
                              RETURN %s($1, $2);
                          END $body$$f$,
                       'segmentation_trust_op_' || md5(o.op || o.lhs || o.rhs), o.lhs, o.rhs, o.result,
                       format('operator public.%s(%s, %s)', o.op, o.lhs, o.rhs), o.impl);
        EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = pg_catalog.%s, RIGHTARG = pg_catalog.%s, FUNCTION = public.%I)',
                       o.op, o.lhs, o.rhs, 'segmentation_trust_op_' || md5(o.op || o.lhs || o.rhs));
    END LOOP;
END $do$;

-- Types named like the ones the extension casts to: each is a domain whose
-- check records that a value was cast to it.
DO $do$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['numeric', 'bigint', 'timestamptz', 'text', 'jsonb', 'boolean', 'interval', 'uuid',
                             'name', 'regclass', 'oid', 'integer'] LOOP
        EXECUTE format('CREATE DOMAIN public.%I AS pg_catalog.%s CHECK (public.segmentation_trust_ran(%L))',
                       t, (SELECT typ.typname FROM pg_catalog.pg_type typ WHERE typ.oid = pg_catalog.to_regtype(t)), 'type public.' || t);
    END LOOP;
END $do$;

-- Relations named like the extension's tables and its triggers' transition
-- tables, in public and in this session's pg_temp.
DO $do$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['segments', 'assignments', 'assignment_log', 'customer_metrics', 'tracked_tables',
                             'segmentation_new', 'segmentation_old', 'orders', 'customers'] LOOP
        EXECUTE format('CREATE VIEW public.%I AS SELECT NULL::pg_catalog.int8 AS id WHERE public.segmentation_trust_ran(%L)',
                       r, 'relation public.' || r);
        EXECUTE format('CREATE TEMPORARY VIEW %I AS SELECT NULL::pg_catalog.int8 AS id WHERE public.segmentation_trust_ran(%L)',
                       r, 'relation pg_temp.' || r);
    END LOOP;
END $do$;
CREATE FUNCTION pg_temp.now() RETURNS pg_catalog.timestamptz LANGUAGE plpgsql AS $fn$
BEGIN PERFORM public.segmentation_trust_ran('function pg_temp.now()'); RETURN pg_catalog.now(); END $fn$;

-- A table of the attacker's, to drop under the hijacked search_path.
CREATE TABLE public.segmentation_trust_scratch (x int);

RESET ROLE;

CREATE FUNCTION pg_temp.hijacks() RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(pg_catalog.array_agg(DISTINCT format('%s (as %s%s)', what, by_role, CASE WHEN superuser THEN ', a superuser' ELSE '' END)),
                    '{}')
    FROM public.segmentation_trust_hijacks
$$;

CREATE FUNCTION pg_temp.members(segment_name text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(a.customer_id::text, ',' ORDER BY a.customer_id), '')
    FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
    WHERE s.name = segment_name
$$;

-- The planted objects are live: outside the extension, with public first,
-- they are what an unqualified name means (so they would run if the
-- extension's SQL used the caller's search_path).
UPDATE public.segmentation_trust_armed SET armed = true;
SET LOCAL search_path = public, pg_catalog;
SELECT now() IS NOT NULL AS planted_now, btrim(' x ') AS planted_btrim,
       ('a'::pg_catalog.text = 'a'::pg_catalog.text) AS planted_eq,
       (SELECT count(*) FROM pg_catalog.pg_class WHERE relname OPERATOR(pg_catalog.=) 'pg_class') AS planted_count,
       ('2025-01-01'::timestamptz IS NOT NULL) AS planted_type,
       (SELECT pg_catalog.count(*) FROM segments) AS planted_relation \gset
RESET search_path;
UPDATE public.segmentation_trust_armed SET armed = false;
SELECT is(pg_temp.hijacks(),
          ARRAY['aggregate public.count(*) (as postgres, a superuser)', 'function public.btrim(text) (as postgres, a superuser)',
                'function public.now() (as postgres, a superuser)',
                'operator public.=(text, text) (as postgres, a superuser)',
                'relation pg_temp.segments (as postgres, a superuser)',
                'type public.timestamptz (as postgres, a superuser)'],
          'the planted objects work: called unqualified with public first, they run and record it');
TRUNCATE public.segmentation_trust_hijacks;

------------------------------------------------------------------------------
-- Armed: the attacker uses the API as an editor and fires every trigger.
------------------------------------------------------------------------------

UPDATE public.segmentation_trust_armed SET armed = true;
SET LOCAL ROLE segmentation_trust_attacker;
SET LOCAL search_path = public, pg_catalog;

SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) AS big \gset
SELECT segmentation.create_segment('VIP', '{}', false, 'by hand') AS vip \gset
INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Gold', '{"loyaltyLevels": ["GOLD"]}', true);
SELECT segmentation.create_segment('Lapsing', '{"minDaysSinceLastPurchase": 30}', true) AS lapsing \gset
UPDATE segmentation.segments SET criteria = '{"loyaltyLevels": ["GOLD", "SILVER"]}' WHERE name OPERATOR(pg_catalog.=) 'Gold';
INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Doomed', '{}', true);
DELETE FROM segmentation.segments WHERE name OPERATOR(pg_catalog.=) 'Doomed';
SELECT segmentation.check_criteria('{"minOrders": 1, "any": [{"loyaltyLevels": ["GOLD"]}]}') AS checked,
       pg_catalog.string_agg(s.name, ',') AS all_segments FROM segmentation.get_all_segments() s \gset

-- Orders and customers: every trigger of the tracked tables.
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES (2, 2000.00, :'yesterday');
UPDATE shop.orders SET amount = 10.00 WHERE customer_id OPERATOR(pg_catalog.=) 1 AND amount OPERATOR(pg_catalog.=) 600.00;
DELETE FROM shop.orders WHERE customer_id OPERATOR(pg_catalog.=) 2 AND amount OPERATOR(pg_catalog.=) 20.00;
INSERT INTO shop.customers VALUES (4, :'yesterday', 'GOLD');
UPDATE shop.customers SET loyalty_level = 'SILVER' WHERE id OPERATOR(pg_catalog.=) 3;
DELETE FROM shop.customers WHERE id OPERATOR(pg_catalog.=) 4;

-- The rest of the API.
SELECT segmentation.assign_manual_segment(3, :vip) AS assigned,
       segmentation.remove_manual_segment('3', :vip, 'hijack test') AS removed,
       segmentation.assign_manual_segment('3'::pg_catalog.text, :vip) AS assigned_again \gset
SELECT segmentation.segment_match(1, '{"minOrders": 2}') AS match_by_bigint,
       segmentation.segment_match('1', '{"minOrders": 3}') AS match_by_text,
       segmentation.calculate_automatic_segments(1) AS calculated,
       pg_catalog.array_to_string(ARRAY(SELECT c.name FROM segmentation.customer_segments(1) c), ',') AS segments_of_1 \gset
SELECT a.added AS auto_added, a.removed AS auto_removed FROM segmentation.assign_automatic_segments(2) a \gset
SELECT r.customers AS refreshed, r.added AS refresh_added, r.removed AS refresh_removed FROM segmentation.refresh_all() r \gset
SELECT r.customers AS due FROM segmentation.refresh_due() r \gset
SELECT segmentation.segment_match(m, '{"minOrders": 2}') AS row_match, segmentation.next_change_at(m) IS NULL AS never_changes
FROM segmentation.customer_metrics m WHERE m.customer_id OPERATOR(pg_catalog.=) 1 \gset
SELECT pg_catalog.count(*) AS instants, pg_catalog.max(c.members) AS most_members
FROM segmentation.member_counts(:big, :'yesterday', :'tomorrow', '1 hour') c \gset
SELECT pg_catalog.count(*) AS armed_drift FROM segmentation.verify() \gset
SELECT segmentation.unschedule_refresh() AS unscheduled \gset
DO $do$
BEGIN
    PERFORM segmentation.schedule_refresh('*/5 * * * *');
    INSERT INTO public.segmentation_trust_captured VALUES ('schedule_refresh', 'scheduled');
EXCEPTION WHEN OTHERS THEN
    INSERT INTO public.segmentation_trust_captured VALUES ('schedule_refresh', SQLSTATE);
END $do$;

-- DDL fires the extension's event trigger.
DROP TABLE public.segmentation_trust_scratch;

RESET ROLE;
RESET search_path;
UPDATE public.segmentation_trust_armed SET armed = false;

SELECT is(pg_temp.hijacks(), '{}'::text[], 'no planted object ran while an editor used the API and fired the triggers');
SELECT is(:big::int, 1, 'create_segment() returned the first id');
SELECT is(:'all_segments'::text, 'Big,Gold,Lapsing,VIP', 'get_all_segments() lists the segments by name');
SELECT is(:'checked'::text, 't', 'check_criteria() accepted valid criteria');
SELECT is(pg_temp.members('Big'), '2', 'Big: customer 2 joined with an order, customer 1 left with a corrected amount');
SELECT is(pg_temp.members('Gold'), '1,2,3', 'Gold: re-evaluated with its new criteria, and customer 3 joined as SILVER');
SELECT is(pg_temp.members('Lapsing'), '1', 'Lapsing: the customer whose last order is 40 days old');
SELECT is(pg_temp.members('VIP'), '3', 'VIP: assigned, removed and assigned again by hand');
SELECT is((SELECT count(*) FROM segmentation.assignments a
           WHERE NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.id = a.segment_id))::int, 0,
          'the deleted segment took its assignments with it');
SELECT results_eq($$SELECT customer_id, lifetime_value, order_count, loyalty_level FROM segmentation.customer_metrics ORDER BY 1$$,
                  $$VALUES (1::bigint, 510.00::numeric, 2::bigint, 'GOLD'::text), (2, 2000.00, 1, 'SILVER'), (3, 0, 0, 'SILVER')$$,
                  'the metrics followed every order and customer statement');
SELECT is(format('%s %s %s', :'assigned', :'removed', :'assigned_again'), 't t t',
          'assign_manual_segment() and remove_manual_segment() returned true');
SELECT results_eq($$SELECT customer_id, action, actor, reason FROM segmentation.assignment_log
                    WHERE cause = 'manual' ORDER BY id$$,
                  $$VALUES (3::bigint, 'added', 'segmentation_trust_attacker'::text, NULL::text),
                           (3, 'removed', 'segmentation_trust_attacker', 'hijack test'),
                           (3, 'added', 'segmentation_trust_attacker', NULL)$$,
                  'the manual changes are logged with the attacker as the actor');
SELECT is(format('%s %s', :'match_by_bigint', :'match_by_text'), 't f', 'segment_match() by id answered correctly');
SELECT is(:'calculated'::text, format('{%s,%s}', (SELECT id FROM segmentation.segments WHERE name = 'Gold'), :lapsing),
          'calculate_automatic_segments() found Gold and Lapsing');
SELECT is(:'segments_of_1'::text, 'Gold,Lapsing', 'customer_segments() listed them by name');
SELECT is(format('added %s, removed %s', :'auto_added', :'auto_removed'), 'added {}, removed {}',
          'assign_automatic_segments() had nothing to do');
SELECT is(format('%s customers, %s added, %s removed', :'refreshed', :'refresh_added', :'refresh_removed'),
          '3 customers, 0 added, 0 removed', 'refresh_all() looked at everyone and changed nothing');
SELECT is(:due::int, 0, 'refresh_due() found nobody due');
SELECT is(format('%s %s', :'row_match', :'never_changes'), 't t',
          'segment_match() and next_change_at() on a customer_metrics row answered correctly');
SELECT is(format('%s instants, at most %s members', :'instants', :'most_members'), '49 instants, at most 1 members',
          'member_counts() replayed the log');
SELECT is(:armed_drift::int, 0, 'verify() found no drift');
SELECT is(:'unscheduled'::text, 'f', 'unschedule_refresh() had nothing to unschedule');
SELECT is((SELECT outcome FROM public.segmentation_trust_captured WHERE what = 'schedule_refresh'),
          CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN 'scheduled' ELSE '55000' END,
          'schedule_refresh() did what it does without planted objects');
SELECT is(to_regclass('public.segmentation_trust_scratch'), NULL,
          'the attacker dropped its own table (through the extension''s event trigger)');
SELECT is(pg_temp.hijacks(), '{}'::text[], 'no planted object ran during the checks either (they were disarmed)');

------------------------------------------------------------------------------
-- Armed: the extension's owner (a superuser) tracks and untracks under the
-- attacker's search_path. A planted object running here would run as a
-- superuser.
------------------------------------------------------------------------------

UPDATE public.segmentation_trust_armed SET armed = true;
SET LOCAL search_path = public, pg_catalog;
SELECT segmentation.set_live_evaluation('shop.orders', false) AS not_live \gset
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES (3, 5.00, :'yesterday');
SELECT segmentation.set_live_evaluation('shop.orders', true) AS live_again \gset
SELECT r.customers AS due_after_load FROM segmentation.refresh_due() r \gset
SELECT segmentation.untrack_orders() AS untracked_orders \gset
SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at') AS retracked_orders \gset
SELECT segmentation.untrack_customers() AS untracked_customers \gset
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level') AS retracked_customers \gset
TRUNCATE shop.orders;
DO $do$
BEGIN
    DROP TABLE shop.orders;
    INSERT INTO public.segmentation_trust_captured VALUES ('drop tracked table', 'dropped');
EXCEPTION WHEN OTHERS THEN
    INSERT INTO public.segmentation_trust_captured VALUES ('drop tracked table', SQLSTATE);
END $do$;
RESET search_path;
UPDATE public.segmentation_trust_armed SET armed = false;

SELECT is(pg_temp.hijacks(), '{}'::text[], 'no planted object ran while the owner tracked, untracked, loaded data and dropped a tracked table');
SELECT is((SELECT outcome FROM public.segmentation_trust_captured WHERE what = 'drop tracked table'), '2BP01',
          'the event trigger refused to drop the tracked orders table');
SELECT is(:due_after_load::int, 1, 'refresh_due() picked up the customer changed while orders were not live');
SELECT is(format('%s %s %s %s', :'untracked_orders', :'retracked_orders', :'untracked_customers', :'retracked_customers'),
          't 3 t 3', 'untracking and tracking again returned what they return without planted objects');
SELECT results_eq($$SELECT customer_id, lifetime_value, order_count FROM segmentation.customer_metrics ORDER BY 1$$,
                  $$VALUES (1::bigint, 0::numeric, 0::bigint), (2, 0, 0), (3, 0, 0)$$,
                  'TRUNCATE of the orders zeroed every order metric');
SELECT is(pg_temp.members('Big'), '', 'and Big lost its member');
SELECT is(pg_temp.members('Gold'), '1,2,3', 'while Gold (loyalty only) kept its members');
SELECT is((SELECT count(*) FROM segmentation.verify())::int, 0, 'verify() finds no drift at the end');
SELECT is((SELECT count(*) FROM public.segmentation_trust_hijacks)::int, 0, 'the hijack log is empty');

SELECT * FROM finish();
ROLLBACK;
