-- Who may do what: the extension's two roles and everyone else.
--
--   segmentation_viewer  USAGE on the schema, SELECT on the tables, EXECUTE on
--                        the read functions
--   segmentation_editor  the viewer's rights, INSERT/UPDATE/DELETE on segments
--                        and EXECUTE on the functions that write
--   PUBLIC               nothing; tracking stays with the extension's owner
--
-- Every API function and every kind of direct table access is tried as a
-- member of each role, as a role with no rights at all, and as an "outsider"
-- that may use the schema but holds neither role (so that the refusal it gets
-- is the function's or the table's own, not the schema's). Then: what an
-- editor's plain SQL does, that an application role without any segmentation
-- role still keeps metrics and membership live through the triggers, and that
-- an editor or the owner of a tracked table cannot break the extension's
-- invariants or borrow its rights.
--
-- Roles are created inside the transaction; the ROLLBACK at the end removes
-- them with the extension and everything else. (segmentation_viewer and
-- segmentation_editor may already exist in the cluster: the install script
-- creates them only when missing.)
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SET LOCAL TimeZone = 'UTC';

SELECT plan(470);

------------------------------------------------------------------------------
-- Roles and a shop owned by an application role
------------------------------------------------------------------------------

CREATE ROLE segmentation_trust_viewer NOLOGIN IN ROLE segmentation_viewer;
CREATE ROLE segmentation_trust_editor NOLOGIN IN ROLE segmentation_editor;
CREATE ROLE segmentation_trust_nobody NOLOGIN;
CREATE ROLE segmentation_trust_outsider NOLOGIN;
GRANT USAGE ON SCHEMA segmentation TO segmentation_trust_outsider;
-- Writes the shop's tables; has no segmentation role.
CREATE ROLE segmentation_trust_app NOLOGIN;
-- Owns the shop's tables (as applications usually do); not a superuser.
CREATE ROLE segmentation_trust_shop_owner NOLOGIN;

CREATE SCHEMA shop AUTHORIZATION segmentation_trust_shop_owner;
SET LOCAL ROLE segmentation_trust_shop_owner;
CREATE TABLE shop.customers (id text PRIMARY KEY, created_at timestamptz NOT NULL, loyalty_level text);
CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                          customer_id text NOT NULL REFERENCES shop.customers,
                          amount numeric(12,2) NOT NULL, ordered_at timestamptz NOT NULL);
GRANT USAGE ON SCHEMA shop TO segmentation_trust_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON shop.customers, shop.orders TO segmentation_trust_app;
-- '42': GOLD for 400 days, 1100.00 in two orders; 'user1': SILVER, one small
-- order; the uuid-named customer: no level, no orders.
INSERT INTO shop.customers VALUES
    ('42', now() - interval '400 days', 'GOLD'),
    ('user1', now() - interval '100 days', 'SILVER'),
    ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now() - interval '15 days', NULL);
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES
    ('42', 600.00, now() - interval '30 days'), ('42', 500.00, now() - interval '20 days'),
    ('user1', 20.00, now() - interval '10 days');
RESET ROLE;

-- The extension's owner tracks them.
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level') AS tracked_customers,
       segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at') AS tracked_orders \gset
-- Segment ids start at 1: the extension was created in this transaction.
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) AS big \gset
SELECT segmentation.create_segment('VIP', '{}', false) AS vip \gset
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true) AS gold \gset

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

-- Runs a statement as a role: 'ok', or the error as 'SQLSTATE: message'.
-- (pgTAP itself must run as the session's role, which owns its temporary
-- tables, so the role is switched only around the statement.)
CREATE FUNCTION pg_temp.try_as(who name, statement text) RETURNS text
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_catalog.set_config('role', who, true);
    BEGIN
        EXECUTE statement;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_catalog.set_config('role', 'none', true);
        RETURN SQLSTATE || ': ' || SQLERRM;
    END;
    PERFORM pg_catalog.set_config('role', 'none', true);
    RETURN 'ok';
END $fn$;

-- The first column of the first row a statement returns, as a role.
CREATE FUNCTION pg_temp.value_as(who name, statement text) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    result text;
BEGIN
    PERFORM pg_catalog.set_config('role', who, true);
    BEGIN
        EXECUTE statement INTO result;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_catalog.set_config('role', 'none', true);
        RETURN SQLSTATE || ': ' || SQLERRM;
    END;
    PERFORM pg_catalog.set_config('role', 'none', true);
    RETURN result;
END $fn$;

-- The members of a segment, as sorted text.
CREATE FUNCTION pg_temp.members(segment_name text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(a.customer_id::text ORDER BY a.customer_id::text), '{}')
    FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
    WHERE s.name = segment_name
$$;

-- Every problem verify() reports, as text (empty: no drift).
CREATE FUNCTION pg_temp.drift() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(format('%s %s: expected %s, actual %s', customer_id, problem, expected, actual)
                              ORDER BY customer_id, problem, actual), '{}')
    FROM segmentation.verify()
$$;

SELECT is(ARRAY(SELECT name FROM segmentation.segments ORDER BY id), ARRAY['Big', 'VIP', 'Gold'],
          'the fixture''s segments have ids 1, 2 and 3');

------------------------------------------------------------------------------
-- The matrix: every API function and every table operation, for each role
------------------------------------------------------------------------------

-- Every function a role could call, with a call that succeeds when allowed.
-- level: viewer (read functions), editor (functions that write), owner
-- (tracking: the extension's owner only).
CREATE TEMPORARY TABLE api (ord serial, fn text, level text, call text);
INSERT INTO api (fn, level, call) VALUES
    ('check_criteria(jsonb)', 'viewer', $$SELECT segmentation.check_criteria('{"minOrders": 1}')$$),
    ('get_all_segments()', 'viewer', $$SELECT * FROM segmentation.get_all_segments()$$),
    ('segment_match(segmentation.customer_metrics,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.segment_match(ROW('42', 1100, 2, now(), now(), now(), 'GOLD', NULL, NULL, NULL, NULL)::segmentation.customer_metrics,
                                         '{"minOrders": 1}')$$),
    ('segment_match(text,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.segment_match('42'::text, '{"minOrders": 1}')$$),
    ('segment_match(bigint,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.segment_match(42::bigint, '{"minOrders": 1}')$$),
    ('segment_match(uuid,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{}')$$),
    ('calculate_automatic_segments(text,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.calculate_automatic_segments('42'::text)$$),
    ('calculate_automatic_segments(bigint,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.calculate_automatic_segments(42::bigint)$$),
    ('calculate_automatic_segments(uuid,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$),
    ('segment_match_values(numeric,bigint,timestamp with time zone,timestamp with time zone,text,jsonb,jsonb,timestamp with time zone)',
     'viewer', $$SELECT segmentation.segment_match_values(1100, 2, now(), now(), 'GOLD', NULL, '{"minOrders": 1}', now())$$),
    ('segment_match_rows(tid,xid,numeric,bigint,timestamp with time zone,timestamp with time zone,text,jsonb,jsonb,tid,xid,timestamp with time zone)',
     'viewer', $$SELECT segmentation.segment_match_rows('(0,1)', '2', 1100, 2, now(), now(), 'GOLD', NULL, '{"minOrders": 1}',
                                                     '(0,1)', '2', now())$$),
    ('elapsed_at_least(timestamp with time zone,timestamp with time zone,bigint)', 'viewer',
     $$SELECT segmentation.elapsed_at_least(now() - interval '1 day', now(), 0)$$),
    ('elapsed_at_most(timestamp with time zone,timestamp with time zone,bigint)', 'viewer',
     $$SELECT segmentation.elapsed_at_most(now() - interval '1 day', now(), 0)$$),
    ('frequency_at_least(bigint,timestamp with time zone,timestamp with time zone,numeric)', 'viewer',
     $$SELECT segmentation.frequency_at_least(3, now() - interval '9 days', now(), 0.5)$$),
    ('frequency_at_most(bigint,timestamp with time zone,timestamp with time zone,numeric)', 'viewer',
     $$SELECT segmentation.frequency_at_most(3, now() - interval '9 days', now(), 0.5)$$),
    ('customer_segments(text)', 'viewer', $$SELECT * FROM segmentation.customer_segments('42'::text)$$),
    ('customer_segments(bigint)', 'viewer', $$SELECT * FROM segmentation.customer_segments(42::bigint)$$),
    ('customer_segments(uuid)', 'viewer',
     $$SELECT * FROM segmentation.customer_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$),
    ('next_change_at(segmentation.customer_metrics,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.next_change_at(ROW('42', 1100, 2, now(), now(), now(), 'GOLD', NULL, NULL, NULL, NULL)::segmentation.customer_metrics)$$),
    -- The overloads for rows of another type with customer_metrics' columns
    -- (on Citus, a shard's rows), and the helper of preview on Citus.
    ('segment_match(record,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.segment_match(r, '{"minOrders": 1}')
       FROM (SELECT '42'::text AS customer_id, 1100::numeric AS lifetime_value, 2::bigint AS order_count,
                    now() AS last_order_at, now() AS customer_since, 'GOLD'::text AS loyalty_level) r$$),
    ('next_change_at(record,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.next_change_at(r)
       FROM (SELECT '42'::text AS customer_id, 1100::numeric AS lifetime_value, 2::bigint AS order_count,
                    now() AS last_order_at, now() AS customer_since, 'GOLD'::text AS loyalty_level) r$$),
    ('metrics_distributed()', 'viewer', $$SELECT segmentation.metrics_distributed()$$),
    ('member_counts(bigint,timestamp with time zone,timestamp with time zone,interval)', 'viewer',
     $$SELECT * FROM segmentation.member_counts(1, now() - interval '1 hour', now(), interval '1 hour')$$),
    ('verify(timestamp with time zone)', 'viewer', $$SELECT * FROM segmentation.verify()$$),
    ('segment_sizes(bigint[])', 'viewer', $$SELECT * FROM segmentation.segment_sizes()$$),
    ('segment_members(bigint,text,integer)', 'viewer', $$SELECT * FROM segmentation.segment_members(1, '42'::text)$$),
    ('segment_members(bigint,bigint,integer)', 'viewer', $$SELECT * FROM segmentation.segment_members(1, 42::bigint)$$),
    ('segment_members(bigint,uuid,integer)', 'viewer',
     $$SELECT * FROM segmentation.segment_members(1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$),
    ('preview(jsonb,timestamp with time zone,integer)', 'viewer', $$SELECT * FROM segmentation.preview('{"minOrders": 1}')$$),
    ('preview_change(bigint,jsonb,timestamp with time zone,integer)', 'viewer',
     $$SELECT * FROM segmentation.preview_change(1, '{"minOrders": 1}')$$),
    ('explain_match(text,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.explain_match('42'::text, '{"minOrders": 1}'::jsonb)$$),
    ('explain_match(bigint,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.explain_match(42::bigint, '{"minOrders": 1}'::jsonb)$$),
    ('explain_match(uuid,jsonb,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.explain_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"minOrders": 1}'::jsonb)$$),
    ('explain_match(text,bigint,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.explain_match('42'::text, 1::bigint)$$),
    ('explain_match(bigint,bigint,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.explain_match(42::bigint, 1::bigint)$$),
    ('explain_match(uuid,bigint,timestamp with time zone)', 'viewer',
     $$SELECT segmentation.explain_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 1::bigint)$$),
    ('create_segment(text,jsonb,boolean,text)', 'editor',
     $$SELECT segmentation.create_segment('No orders yet', '{"maxOrders": 0}', true, 'made by an editor')$$),
    ('update_segment(bigint,text,jsonb,text)', 'editor',
     $$SELECT segmentation.update_segment(3, description => 'edited by ' || current_user)$$),
    ('delete_segment(bigint)', 'editor', $$SELECT segmentation.delete_segment(
         segmentation.create_segment('Doomed of ' || current_user, '{}', false))$$),
    ('assign_automatic_segments(text)', 'editor', $$SELECT * FROM segmentation.assign_automatic_segments('42'::text)$$),
    ('assign_automatic_segments(bigint)', 'editor', $$SELECT * FROM segmentation.assign_automatic_segments(42::bigint)$$),
    ('assign_automatic_segments(uuid)', 'editor',
     $$SELECT * FROM segmentation.assign_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$),
    ('assign_manual_segment(text,bigint)', 'editor', $$SELECT segmentation.assign_manual_segment('user1'::text, 2)$$),
    ('assign_manual_segment(bigint,bigint)', 'editor', $$SELECT segmentation.assign_manual_segment(42::bigint, 2)$$),
    ('assign_manual_segment(uuid,bigint)', 'editor',
     $$SELECT segmentation.assign_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 2)$$),
    ('remove_manual_segment(text,bigint,text)', 'editor',
     $$SELECT segmentation.remove_manual_segment('user1'::text, 2, 'matrix')$$),
    ('remove_manual_segment(bigint,bigint,text)', 'editor',
     $$SELECT segmentation.remove_manual_segment(42::bigint, 2, 'matrix')$$),
    ('remove_manual_segment(uuid,bigint,text)', 'editor',
     $$SELECT segmentation.remove_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 2, 'matrix')$$),
    -- Overrides: called on the manual segment VIP, which they refuse past the
    -- privilege check (allowed_outcome), so the matrix changes nothing.
    ('include_customer(text,bigint,text)', 'editor', $$SELECT segmentation.include_customer('42'::text, 2, 'matrix')$$),
    ('include_customer(bigint,bigint,text)', 'editor', $$SELECT segmentation.include_customer(42::bigint, 2, 'matrix')$$),
    ('include_customer(uuid,bigint,text)', 'editor',
     $$SELECT segmentation.include_customer('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 2, 'matrix')$$),
    ('exclude_customer(text,bigint,text)', 'editor', $$SELECT segmentation.exclude_customer('42'::text, 2, 'matrix')$$),
    ('exclude_customer(bigint,bigint,text)', 'editor', $$SELECT segmentation.exclude_customer(42::bigint, 2, 'matrix')$$),
    ('exclude_customer(uuid,bigint,text)', 'editor',
     $$SELECT segmentation.exclude_customer('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 2, 'matrix')$$),
    ('remove_override(text,bigint,text)', 'editor', $$SELECT segmentation.remove_override('42'::text, 2, 'matrix')$$),
    ('remove_override(bigint,bigint,text)', 'editor', $$SELECT segmentation.remove_override(42::bigint, 2, 'matrix')$$),
    ('remove_override(uuid,bigint,text)', 'editor',
     $$SELECT segmentation.remove_override('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 2, 'matrix')$$),
    ('refresh_all()', 'editor', $$SELECT * FROM segmentation.refresh_all()$$),
    ('refresh_due(timestamp with time zone)', 'editor', $$SELECT * FROM segmentation.refresh_due()$$),
    ('schedule_refresh(text)', 'editor', $$SELECT segmentation.schedule_refresh('*/10 * * * *')$$),
    ('unschedule_refresh()', 'editor', $$SELECT segmentation.unschedule_refresh()$$),
    ('deliver_notifications()', 'editor', $$SELECT segmentation.deliver_notifications()$$),
    -- Online changes: called for a segment that does not exist, so an allowed
    -- call gets past the privilege check and stops at once (the procedures
    -- cannot commit inside the matrix's exception block; create_segment_concurrently
    -- gets that far, and its insert is rolled back).
    ('segment_change_step(bigint,text)', 'editor', $$SELECT segmentation.segment_change_step(999999, NULL)$$),
    ('start_segment_change(text,bigint,text,jsonb,text)', 'editor',
     $$SELECT segmentation.start_segment_change('redefining', 999999, NULL, '{}', NULL)$$),
    ('complete_segment_change(bigint)', 'editor', $$SELECT segmentation.complete_segment_change(999999)$$),
    ('finish_segment_change(bigint)', 'editor', $$CALL segmentation.finish_segment_change(999999)$$),
    ('create_segment_concurrently(text,jsonb,text,bigint)', 'editor',
     $$CALL segmentation.create_segment_concurrently('Online', '{"minOrders": 1}')$$),
    ('update_segment_concurrently(bigint,jsonb)', 'editor',
     $$CALL segmentation.update_segment_concurrently(999999, '{"minOrders": 1}')$$),
    ('delete_segment_concurrently(bigint)', 'editor', $$CALL segmentation.delete_segment_concurrently(999999)$$),
    -- Tables are named by OID: the roles need no rights on schema shop to be refused.
    ('track_customers(regclass,name,name,name)', 'owner',
     format($$SELECT segmentation.track_customers(%s::oid::regclass, 'id', 'created_at', 'loyalty_level')$$,
            'shop.customers'::regclass::oid)),
    ('track_orders(regclass,name,name,name)', 'owner',
     format($$SELECT segmentation.track_orders(%s::oid::regclass, 'customer_id', 'amount', 'ordered_at')$$,
            'shop.orders'::regclass::oid)),
    ('track_customer_attributes(name[])', 'owner', $$SELECT segmentation.track_customer_attributes('{}')$$),
    ('untrack_customers()', 'owner', $$SELECT segmentation.untrack_customers()$$),
    ('untrack_orders()', 'owner', $$SELECT segmentation.untrack_orders()$$),
    ('set_live_evaluation(regclass,boolean)', 'owner',
     format($$SELECT segmentation.set_live_evaluation(%s::oid::regclass, false)$$, 'shop.orders'::regclass::oid));

-- What an allowed call returns: schedule_refresh() gets past the privilege
-- check and then needs pg_cron, which this database may not have.
CREATE FUNCTION pg_temp.allowed_outcome(fn text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN fn = 'schedule_refresh(text)' AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')
                THEN '55000: segmentation.schedule_refresh() needs the pg_cron extension, which is not installed in this database'
                WHEN fn = 'create_segment_concurrently(text,jsonb,text,bigint)'
                THEN '2D000: invalid transaction termination'
                WHEN fn IN ('segment_change_step(bigint,text)', 'start_segment_change(text,bigint,text,jsonb,text)',
                            'complete_segment_change(bigint)', 'finish_segment_change(bigint)',
                            'update_segment_concurrently(bigint,jsonb)', 'delete_segment_concurrently(bigint)')
                THEN '42704: segment 999999 does not exist'
                WHEN fn ~ '^(include_customer|exclude_customer|remove_override)\('
                THEN format('55000: %s customer "%s"%s: segment 2 ("VIP") is manual',
                            CASE split_part(fn, '(', 1) WHEN 'include_customer' THEN 'cannot include'
                                 WHEN 'exclude_customer' THEN 'cannot exclude'
                                 ELSE 'cannot remove the override of segment 2 for' END,
                            CASE WHEN fn LIKE '%(uuid%' THEN 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' ELSE '42' END,
                            CASE split_part(fn, '(', 1) WHEN 'include_customer' THEN ' in segment 2'
                                 WHEN 'exclude_customer' THEN ' from segment 2' ELSE '' END)
                ELSE 'ok' END
$$;

-- Direct access to each table. Editors may write segments; nobody may write
-- the others, and nobody may TRUNCATE.
CREATE TEMPORARY TABLE table_access (ord serial, tbl text, operation text, statement text);
INSERT INTO table_access (tbl, operation, statement) VALUES
    ('segments', 'SELECT', 'SELECT count(*) FROM segmentation.segments'),
    ('segments', 'INSERT', $$INSERT INTO segmentation.segments (name, criteria, is_automatic)
                             VALUES ('Inserted by ' || current_user, '{}', false)$$),
    ('segments', 'UPDATE', $$UPDATE segmentation.segments SET description = 'edited by ' || current_user$$),
    ('segments', 'DELETE', $$DELETE FROM segmentation.segments WHERE name = 'Inserted by ' || current_user$$),
    ('segments', 'TRUNCATE', 'TRUNCATE segmentation.segments'),
    ('assignments', 'SELECT', 'SELECT count(*) FROM segmentation.assignments'),
    ('assignments', 'INSERT', $$INSERT INTO segmentation.assignments (customer_id, segment_id, is_automatic)
                                VALUES ('user1', 2, false)$$),
    ('assignments', 'UPDATE', $$UPDATE segmentation.assignments SET assigned_by = 'intruder'$$),
    ('assignments', 'DELETE', 'DELETE FROM segmentation.assignments'),
    ('assignments', 'TRUNCATE', 'TRUNCATE segmentation.assignments'),
    ('assignment_log', 'SELECT', 'SELECT count(*) FROM segmentation.assignment_log'),
    ('assignment_log', 'INSERT', $$INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause)
                                   VALUES ('user1', 2, 'added', false, 'manual')$$),
    ('assignment_log', 'UPDATE', $$UPDATE segmentation.assignment_log SET actor = 'intruder'$$),
    ('assignment_log', 'DELETE', 'DELETE FROM segmentation.assignment_log'),
    ('assignment_log', 'TRUNCATE', 'TRUNCATE segmentation.assignment_log'),
    ('customer_metrics', 'SELECT', 'SELECT count(*) FROM segmentation.customer_metrics'),
    ('customer_metrics', 'INSERT', $$INSERT INTO segmentation.customer_metrics (customer_id) VALUES ('intruder')$$),
    ('customer_metrics', 'UPDATE', 'UPDATE segmentation.customer_metrics SET lifetime_value = 0'),
    ('customer_metrics', 'DELETE', 'DELETE FROM segmentation.customer_metrics'),
    ('customer_metrics', 'TRUNCATE', 'TRUNCATE segmentation.customer_metrics'),
    ('tracked_tables', 'SELECT', 'SELECT count(*) FROM segmentation.tracked_tables'),
    ('tracked_tables', 'INSERT', $$INSERT INTO segmentation.tracked_tables (kind, relation, customer_column, time_column)
                                   VALUES ('customers', 'pg_catalog.pg_class'::regclass, 'oid', 'oid')$$),
    ('tracked_tables', 'UPDATE', 'UPDATE segmentation.tracked_tables SET live = false'),
    ('tracked_tables', 'DELETE', 'DELETE FROM segmentation.tracked_tables'),
    ('tracked_tables', 'TRUNCATE', 'TRUNCATE segmentation.tracked_tables'),
    ('overrides', 'SELECT', 'SELECT count(*) FROM segmentation.overrides'),
    ('overrides', 'INSERT', $$INSERT INTO segmentation.overrides (customer_id, segment_id, included)
                              VALUES ('user1', 1, true)$$),
    ('overrides', 'UPDATE', 'UPDATE segmentation.overrides SET included = false'),
    ('overrides', 'DELETE', 'DELETE FROM segmentation.overrides'),
    ('overrides', 'TRUNCATE', 'TRUNCATE segmentation.overrides');

CREATE TEMPORARY TABLE roles (ord int, who name, label text, rank int);
INSERT INTO roles VALUES
    (1, 'segmentation_trust_viewer', 'a viewer', 1),
    (2, 'segmentation_trust_editor', 'an editor', 2),
    (3, 'segmentation_trust_nobody', 'a role without rights', 0),
    (4, 'segmentation_trust_outsider', 'a role with USAGE on the schema only', 0);

SELECT set_eq(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'segmentation'::regnamespace
        AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)$$,
    $$SELECT 'segmentation.' || fn FROM pg_temp.api$$,
    'the matrix covers every callable function of the extension');

CREATE FUNCTION pg_temp.run_matrix() RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    a record;
    t record;
    needed int;
    expected text;
BEGIN
    FOR r IN SELECT * FROM pg_temp.roles ORDER BY ord LOOP
        FOR a IN SELECT * FROM pg_temp.api ORDER BY ord LOOP
            needed := CASE a.level WHEN 'viewer' THEN 1 WHEN 'editor' THEN 2 ELSE 3 END;
            expected := CASE
                WHEN r.who = 'segmentation_trust_nobody' THEN '42501: permission denied for schema segmentation'
                WHEN r.rank >= needed THEN pg_temp.allowed_outcome(a.fn)
                ELSE '42501: permission denied for ' || CASE WHEN a.call LIKE 'CALL %' THEN 'procedure ' ELSE 'function ' END
                     || split_part(a.fn, '(', 1) END;
            RETURN NEXT is(pg_temp.try_as(r.who, a.call), expected,
                           format('%s: %s %s', r.label, a.fn,
                                  CASE WHEN expected LIKE '42501%' THEN 'is refused' ELSE 'is allowed' END));
        END LOOP;
        FOR t IN SELECT * FROM pg_temp.table_access ORDER BY ord LOOP
            expected := CASE
                WHEN r.who = 'segmentation_trust_nobody' THEN '42501: permission denied for schema segmentation'
                WHEN t.operation = 'SELECT' AND r.rank >= 1 THEN 'ok'
                WHEN t.tbl = 'segments' AND t.operation IN ('INSERT', 'UPDATE', 'DELETE') AND r.rank >= 2 THEN 'ok'
                ELSE '42501: permission denied for table ' || t.tbl END;
            RETURN NEXT is(pg_temp.try_as(r.who, t.statement), expected,
                           format('%s: %s on segmentation.%s %s', r.label, t.operation, t.tbl,
                                  CASE WHEN expected LIKE '42501%' THEN 'is refused' ELSE 'is allowed' END));
        END LOOP;
    END LOOP;
END $fn$;

SELECT * FROM pg_temp.run_matrix();

-- The planner turns segment_match(m, constant criteria) into comparisons and
-- helper calls; a viewer may run what it becomes.
SELECT is(pg_temp.value_as('segmentation_trust_viewer',
              $$SELECT count(*) FROM segmentation.customer_metrics m
                WHERE segmentation.segment_match(m, '{"maxDaysSinceLastPurchase": 30, "minPurchaseFrequency": 0.01}')$$),
          (SELECT count(*)::text FROM segmentation.customer_metrics m
           WHERE segmentation.segment_match(ROW(m.*)::segmentation.customer_metrics,
                                            '{"maxDaysSinceLastPurchase": 30, "minPurchaseFrequency": 0.01}')),
          'a viewer matches constant criteria over customer_metrics, planner helpers included');

-- Trigger functions cannot be called, only fired; still, nobody holds
-- EXECUTE on them (nor on anything else of the extension's) but its owner.
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                WHERE p.pronamespace = 'segmentation'::regnamespace
                  AND p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype)
                  AND has_function_privilege(r.who, p.oid, 'EXECUTE') ORDER BY 1),
          '{}'::text[], format('%s holds EXECUTE on no trigger function', r.label))
FROM pg_temp.roles r ORDER BY r.ord;
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'segmentation'::regnamespace
                  AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1),
          '{}'::text[], 'PUBLIC holds EXECUTE on no function of the extension');
SELECT is(ARRAY(SELECT format('%s %s', c.relname, p.privilege) FROM pg_class c,
                unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(privilege)
                WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'S')
                  AND has_table_privilege('public', c.oid, p.privilege) ORDER BY 1),
          '{}'::text[], 'PUBLIC holds no privilege on the extension''s tables');
SELECT is(has_schema_privilege('public', 'segmentation', 'USAGE'), false, 'PUBLIC may not use the schema');

------------------------------------------------------------------------------
-- What the allowed calls did, and what the refused ones did not
------------------------------------------------------------------------------

SELECT is(pg_temp.value_as('segmentation_trust_viewer',
                           $$SELECT string_agg(name, ', ') FROM segmentation.customer_segments('42')$$),
          'Big, Gold', 'a viewer reads a customer''s segments through customer_segments()');
SELECT is(pg_temp.value_as('segmentation_trust_viewer', $$SELECT count(*) FROM segmentation.verify()$$), '0',
          'a viewer runs verify() (which reads the shop''s tables with the extension''s rights)');
SELECT is(pg_temp.members('No orders yet'), ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
          'the editor''s create_segment() populated the new automatic segment');
SELECT results_eq(
    $$SELECT customer_id, action, actor, reason FROM segmentation.assignment_log WHERE cause = 'manual' ORDER BY id$$,
    $$VALUES ('user1'::text, 'added', 'segmentation_trust_editor'::text, NULL::text),
             ('42', 'added', 'segmentation_trust_editor', NULL),
             ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'added', 'segmentation_trust_editor', NULL),
             ('user1', 'removed', 'segmentation_trust_editor', 'matrix'),
             ('42', 'removed', 'segmentation_trust_editor', 'matrix'),
             ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'removed', 'segmentation_trust_editor', 'matrix')$$,
    'only the editor''s manual assignments and removals happened, logged with the editor as the actor');
SELECT results_eq(
    $$SELECT name, description FROM segmentation.segments ORDER BY id$$,
    $$VALUES ('Big'::text, 'edited by segmentation_trust_editor'::text), ('VIP', 'edited by segmentation_trust_editor'),
             ('Gold', 'edited by segmentation_trust_editor'), ('No orders yet', 'edited by segmentation_trust_editor')$$,
    'only the editor changed segments; its plain INSERT was deleted again by its DELETE');
SELECT is((SELECT format('%s customers, %s assignments, %s tracked, %s of them live',
                         (SELECT count(*) FROM segmentation.customer_metrics),
                         (SELECT count(*) FROM segmentation.assignments),
                         (SELECT count(*) FROM segmentation.tracked_tables),
                         (SELECT count(*) FROM segmentation.tracked_tables WHERE live))),
          '3 customers, 3 assignments, 2 tracked, 2 of them live',
          'the refused writes changed no metrics, assignments or tracking');
SELECT is(pg_temp.drift(), '{}'::text[], 'after the matrix verify() finds no drift');

------------------------------------------------------------------------------
-- An editor's plain SQL on segments runs the triggers with the extension's
-- rights: the editor needs no privilege on assignments or the log.
------------------------------------------------------------------------------

SELECT is(pg_temp.try_as('segmentation_trust_editor',
                         $$INSERT INTO segmentation.segments (name, criteria, is_automatic)
                           VALUES ('Editor gold', '{"loyaltyLevels": ["GOLD"]}', true)$$),
          'ok', 'an editor inserts an automatic segment with plain SQL');
SELECT id AS editor_gold FROM segmentation.segments WHERE name = 'Editor gold' \gset
SELECT is(pg_temp.members('Editor gold'), ARRAY['42'], 'the inserted segment is populated in the same statement');
SELECT is((SELECT array_agg(format('%s %s %s', l.customer_id, l.action, l.cause)) FROM segmentation.assignment_log l
           WHERE l.segment_id = :editor_gold),
          ARRAY['42 added definition'], 'and the population is logged as caused by the definition');
SELECT is(pg_temp.try_as('segmentation_trust_editor',
                         $$UPDATE segmentation.segments SET criteria = '{"loyaltyLevels": ["SILVER"]}'
                           WHERE name = 'Editor gold'$$),
          'ok', 'an editor changes the criteria with plain SQL');
SELECT is(pg_temp.members('Editor gold'), ARRAY['user1'], 'the edited segment is re-evaluated in the same statement');
SELECT is(pg_temp.try_as('segmentation_trust_editor', $$UPDATE segmentation.segments SET is_automatic = false
                                                        WHERE name = 'Editor gold'$$),
          format('55000: segment %s cannot change from automatic to manual', :editor_gold),
          'an editor cannot change a segment''s kind either');
SELECT is(pg_temp.try_as('segmentation_trust_editor', $$DELETE FROM segmentation.segments WHERE name = 'Editor gold'$$),
          'ok', 'an editor deletes the segment with plain SQL');
SELECT is((SELECT count(*) FROM segmentation.assignments WHERE segment_id = :editor_gold)::int, 0,
          'its assignments went with it');
SELECT is((SELECT array_agg(format('%s %s %s', customer_id, action, cause) ORDER BY customer_id, id)
           FROM segmentation.assignment_log WHERE segment_id = :editor_gold),
          ARRAY['42 added definition', '42 removed definition', 'user1 added definition', 'user1 removed definition'],
          'and every entry and exit is logged');
SELECT is(pg_temp.try_as('segmentation_trust_editor', $$UPDATE segmentation.segments SET id = 100 WHERE name = 'Big'$$),
          '428C9: column "id" can only be updated to DEFAULT', 'an editor cannot choose a segment''s id');

------------------------------------------------------------------------------
-- An application role with INSERT on the shop's orders but no segmentation
-- role keeps metrics and membership live: the triggers are SECURITY DEFINER.
------------------------------------------------------------------------------

SELECT is(pg_temp.try_as('segmentation_trust_app', 'SELECT count(*) FROM segmentation.customer_metrics'),
          '42501: permission denied for schema segmentation', 'the application role cannot read the extension''s tables');
SELECT is(pg_temp.try_as('segmentation_trust_app',
                         $$INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES ('user1', 2000.00, now())$$),
          'ok', 'the application role inserts an order');
SELECT results_eq($$SELECT lifetime_value, order_count FROM segmentation.customer_metrics WHERE customer_id = 'user1'$$,
                  $$VALUES (2020.00::numeric, 2::bigint)$$, 'the order is in the customer''s metrics');
SELECT is(pg_temp.members('Big'), ARRAY['42', 'user1'], 'and moved the customer into Big in the same statement');
SELECT is((SELECT format('%s %s, actor %s', action, cause, coalesce(actor, 'none')) FROM segmentation.assignment_log
           WHERE customer_id = 'user1' AND segment_id = 1 ORDER BY id DESC LIMIT 1),
          'added order, actor none', 'logged as an automatic addition caused by an order');
SELECT is(pg_temp.try_as('segmentation_trust_app',
                         $$UPDATE shop.orders SET amount = 200.00 WHERE customer_id = 'user1' AND amount = 2000.00$$),
          'ok', 'the application role corrects the amount');
SELECT is(pg_temp.members('Big'), ARRAY['42'], 'which takes the customer out of Big again');
SELECT is(pg_temp.try_as('segmentation_trust_app',
                         $$INSERT INTO shop.customers VALUES ('newbie', now() - interval '1 day', 'GOLD')$$),
          'ok', 'the application role inserts a customer');
SELECT is(pg_temp.members('Gold'), ARRAY['42', 'newbie'], 'who is evaluated at once');
SELECT is(pg_temp.try_as('segmentation_trust_app', $$DELETE FROM shop.orders WHERE customer_id = '42'$$),
          'ok', 'the application role deletes orders');
SELECT results_eq($$SELECT lifetime_value, order_count, last_order_at FROM segmentation.customer_metrics
                    WHERE customer_id = '42'$$,
                  $$VALUES (0::numeric, 0::bigint, NULL::timestamptz)$$, 'and the metrics follow');
SELECT is(pg_temp.try_as('segmentation_trust_app', 'TRUNCATE shop.orders'), 'ok', 'the application role truncates orders');
SELECT is((SELECT sum(order_count) FROM segmentation.customer_metrics)::int, 0, 'every order metric is back to zero');
SELECT is(pg_temp.drift(), '{}'::text[], 'after the application role''s writes verify() finds no drift');

------------------------------------------------------------------------------
-- Integrity against an editor's plain SQL. Each scenario runs in a savepoint
-- that is rolled back; its results are kept in psql variables and checked
-- afterwards (pgTAP's own bookkeeping must not be rolled back).
------------------------------------------------------------------------------

INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES ('42', 1500.00, now());
SELECT segmentation.assign_manual_segment('user1', 2) AS vip_assigned \gset

-- Restores are recognised by check_function_bodies = off, which any role may
-- set. An editor must not be able to use it to delete segments and leave
-- their assignments behind, unlogged, or to add an automatic segment nobody
-- is in.
SAVEPOINT restore_mode;
SELECT segmentation.create_segment('Doomed', '{"minOrders": 1}', true) AS doomed \gset
SELECT pg_temp.try_as('segmentation_trust_editor',
                      $$SELECT set_config('check_function_bodies', 'off', true);
                        DELETE FROM segmentation.segments WHERE name IN ('Doomed', 'VIP');
                        INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Everyone', '{}', true);
                        SELECT set_config('check_function_bodies', 'on', true)$$) AS restore_mode_outcome,
       (SELECT count(*) FROM segmentation.assignment_log WHERE action = 'removed' AND cause = 'definition') AS log_before
\gset
SELECT (SELECT count(*) FROM segmentation.assignments a
        WHERE NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.id = a.segment_id)) AS restore_mode_orphans,
       pg_temp.members('Everyone') AS restore_mode_everyone,
       (SELECT count(*) FROM segmentation.assignment_log WHERE action = 'removed' AND cause = 'definition')
           - :log_before AS restore_mode_logged_exits,
       pg_temp.drift() AS restore_mode_drift
\gset
ROLLBACK TO SAVEPOINT restore_mode;
SELECT is(:'restore_mode_outcome'::text, 'ok', 'an editor deletes and inserts segments with check_function_bodies = off');
SELECT is(:restore_mode_orphans::int, 0, 'no assignment of a deleted segment is left behind');
SELECT is(:restore_mode_logged_exits::int, 2, 'the exits of Doomed''s and VIP''s members are logged');
SELECT is(:'restore_mode_everyone'::text, '{42,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,newbie,user1}',
          'the inserted automatic segment is populated');
SELECT is(:'restore_mode_drift'::text, '{}', 'verify() finds no drift after the editor''s statements');

-- A segment's id is its identity: assignments and the log refer to it. An
-- editor's UPDATE ... SET id = DEFAULT must not orphan them (it may be
-- refused, or the assignments may follow).
SAVEPOINT renumbering;
SELECT pg_temp.try_as('segmentation_trust_editor',
                      $$UPDATE segmentation.segments SET id = DEFAULT WHERE name IN ('Big', 'VIP')$$) AS renumber_outcome
\gset
SELECT ARRAY(SELECT format('%s %s: expected %s, actual %s', customer_id, problem, expected, actual) FROM segmentation.verify()
             WHERE problem IN ('orphan assignment', 'membership') ORDER BY customer_id, problem, actual) AS renumber_problems
\gset
ROLLBACK TO SAVEPOINT renumbering;
SELECT is(:'renumber_problems'::text, '{}',
          format('renumbering segments orphans no assignment and keeps every member (the UPDATE gave: %s)',
                 :'renumber_outcome'));

------------------------------------------------------------------------------
-- The owner of a tracked table is not the extension's owner: whatever it does
-- to its table, the triggers (which run with the extension's rights) must not
-- run code of its choosing.
------------------------------------------------------------------------------

CREATE TABLE public.segmentation_trust_escalation (who name, superuser boolean);
GRANT INSERT ON public.segmentation_trust_escalation TO PUBLIC;
GRANT CREATE ON SCHEMA public TO segmentation_trust_shop_owner;
SET LOCAL ROLE segmentation_trust_shop_owner;
CREATE TYPE public.segmentation_trust_box AS (value numeric);
CREATE FUNCTION public.segmentation_trust_record() RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO public.segmentation_trust_escalation
    SELECT current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user
$fn$;
CREATE FUNCTION public.segmentation_trust_to_numeric(public.segmentation_trust_box) RETURNS numeric
LANGUAGE plpgsql AS $fn$ BEGIN PERFORM public.segmentation_trust_record(); RETURN ($1).value; END $fn$;
CREATE FUNCTION public.segmentation_trust_to_text(public.segmentation_trust_box) RETURNS text
LANGUAGE plpgsql AS $fn$ BEGIN PERFORM public.segmentation_trust_record(); RETURN ($1).value::text; END $fn$;
CREATE CAST (public.segmentation_trust_box AS numeric) WITH FUNCTION public.segmentation_trust_to_numeric(public.segmentation_trust_box);
CREATE CAST (public.segmentation_trust_box AS text) WITH FUNCTION public.segmentation_trust_to_text(public.segmentation_trust_box);
RESET ROLE;

-- Retyping the tracked amount column to a type whose cast to numeric is the
-- owner's function, then inserting an order; a viewer then runs verify(),
-- which reads the table with the extension's rights too.
SAVEPOINT retyped_amount;
SELECT lifetime_value AS lifetime_before FROM segmentation.customer_metrics WHERE customer_id = 'user1' \gset
SELECT pg_temp.try_as('segmentation_trust_shop_owner',
                      $$ALTER TABLE shop.orders ALTER COLUMN amount TYPE public.segmentation_trust_box
                        USING ROW(amount)::public.segmentation_trust_box$$) AS retype_outcome \gset
SELECT pg_temp.try_as('segmentation_trust_shop_owner',
                      $$INSERT INTO shop.orders (customer_id, amount, ordered_at)
                        VALUES ('user1', ROW(5)::public.segmentation_trust_box, now())$$) AS retyped_insert \gset
SELECT lifetime_value AS lifetime_after FROM segmentation.customer_metrics WHERE customer_id = 'user1' \gset
SELECT pg_temp.try_as('segmentation_trust_viewer', 'SELECT * FROM segmentation.verify()') AS retyped_verify \gset
SELECT ARRAY(SELECT format('%s (superuser: %s)', who, superuser) FROM public.segmentation_trust_escalation) AS retype_ran
\gset
ROLLBACK TO SAVEPOINT retyped_amount;
SELECT is(:'retype_ran'::text, '{}',
          format('the extension never runs the table owner''s cast of a retyped amount column '
                 '(retype: %s; insert: %s; verify() as a viewer: %s)', :'retype_outcome', :'retyped_insert', :'retyped_verify'));
SELECT ok(:'retype_outcome' <> 'ok' OR :'retyped_insert' <> 'ok' OR :lifetime_after = :lifetime_before + 5,
          format('an order inserted after the retype counts exactly (lifetime value %s before, %s after adding 5)',
                 :'lifetime_before', :'lifetime_after'));

-- Renaming the tracked loyalty column and adding another of the old name and
-- the owner's type.
SAVEPOINT replaced_column;
SELECT pg_temp.try_as('segmentation_trust_shop_owner',
                      $$ALTER TABLE shop.customers RENAME COLUMN loyalty_level TO old_level;
                        ALTER TABLE shop.customers ADD COLUMN loyalty_level public.segmentation_trust_box$$) AS replace_outcome
\gset
SELECT pg_temp.try_as('segmentation_trust_shop_owner',
                      $$INSERT INTO shop.customers (id, created_at, loyalty_level)
                        VALUES ('sneaky', now(), ROW(1)::public.segmentation_trust_box)$$) AS replaced_insert \gset
SELECT ARRAY(SELECT format('%s (superuser: %s)', who, superuser) FROM public.segmentation_trust_escalation) AS replace_ran
\gset
ROLLBACK TO SAVEPOINT replaced_column;
SELECT is(:'replace_ran'::text, '{}',
          format('the triggers never run the table owner''s cast of a replaced loyalty column (rename and add: %s; insert: %s)',
                 :'replace_outcome', :'replaced_insert'));

SELECT * FROM finish();
ROLLBACK;
