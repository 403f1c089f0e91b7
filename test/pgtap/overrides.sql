-- Overrides and inSegment through the API, as the roles use them: an editor
-- includes, excludes and removes overrides (the actor from
-- segmentation.actor, else the role); a viewer reads them (the overrides
-- table, customer_segments) but cannot make them; a role without rights gets
-- nothing. A uuid-keyed shop, so that keys of the third kind go through
-- every path (the regression tests use bigint keys).
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;

SELECT plan(19);

CREATE ROLE seg_ov_viewer NOLOGIN IN ROLE segmentation_viewer;
CREATE ROLE seg_ov_editor NOLOGIN IN ROLE segmentation_editor;
CREATE ROLE seg_ov_nobody NOLOGIN;

CREATE TABLE ov_customers (id uuid PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE ov_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id uuid, amount numeric, ordered_at timestamptz);
INSERT INTO ov_customers VALUES ('00000000-0000-0000-0000-000000000001', now() - interval '100 days', NULL),
                                ('00000000-0000-0000-0000-000000000002', now() - interval '100 days', NULL);
INSERT INTO ov_orders (customer_id, amount, ordered_at) VALUES ('00000000-0000-0000-0000-000000000001', 500, now() - interval '5 days');
SELECT segmentation.track_customers('ov_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('ov_orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.create_segment('Buyers', '{"minOrders": 1}', true) AS buyers \gset
SELECT segmentation.create_segment('Friends', '{}', false) AS friends \gset
SELECT segmentation.create_segment('Buyer friends', format('{"inSegment": %s, "all": [{"inSegment": [%s]}]}', :buyers, :friends)::jsonb, true) AS buyer_friends \gset

CREATE FUNCTION pg_temp.try_as(who name, statement text) RETURNS text
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
    RETURN coalesce(result, 'null');
END $fn$;
CREATE FUNCTION pg_temp.members(segment bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(right(customer_id::text, 1), ',' ORDER BY customer_id), '')
    FROM segmentation.assignments WHERE segment_id = segment
$$;

-- Who may.
SELECT is(pg_temp.try_as('seg_ov_nobody', format($$SELECT segmentation.exclude_customer('00000000-0000-0000-0000-000000000001'::uuid, %s)$$, :buyers)),
          '42501: permission denied for schema segmentation', 'a role without rights cannot exclude');
SELECT is(pg_temp.try_as('seg_ov_viewer', format($$SELECT segmentation.exclude_customer('00000000-0000-0000-0000-000000000001'::uuid, %s)$$, :buyers)),
          '42501: permission denied for function exclude_customer', 'a viewer cannot exclude');
SELECT is(pg_temp.try_as('seg_ov_viewer', format($$SELECT segmentation.include_customer('00000000-0000-0000-0000-000000000002'::uuid, %s)$$, :buyers)),
          '42501: permission denied for function include_customer', 'a viewer cannot include');
SELECT is(pg_temp.try_as('seg_ov_viewer', format($$SELECT segmentation.remove_override('00000000-0000-0000-0000-000000000002'::uuid, %s)$$, :buyers)),
          '42501: permission denied for function remove_override', 'a viewer cannot remove an override');
SELECT is(pg_temp.try_as('seg_ov_viewer', $$INSERT INTO segmentation.overrides (customer_id, segment_id, included)
                                            VALUES ('00000000-0000-0000-0000-000000000002', 1, true) RETURNING 1$$),
          '42501: permission denied for table overrides', 'nor write the overrides table');
SELECT is(pg_temp.members(:buyers), '1', 'nothing changed: customer 1 is the only buyer');

-- An editor, with an actor set by the application.
SELECT set_config('segmentation.actor', 'carol@example.com', true);
SELECT is(pg_temp.try_as('seg_ov_editor', format($$SELECT segmentation.exclude_customer('00000000-0000-0000-0000-000000000001'::uuid, %s, 'chargeback')$$, :buyers)),
          'true', 'an editor excludes customer 1 from Buyers');
SELECT set_config('segmentation.actor', '', true);
SELECT is(pg_temp.try_as('seg_ov_editor', format($$SELECT segmentation.include_customer('00000000-0000-0000-0000-000000000002'::uuid, %s, 'pre-order')$$, :buyers)),
          'true', 'and includes customer 2, who has no order');
SELECT is(pg_temp.members(:buyers), '2', 'Buyers follows the overrides');
SELECT is(pg_temp.try_as('seg_ov_editor', format($$SELECT segmentation.assign_manual_segment('00000000-0000-0000-0000-000000000002'::uuid, %s)$$, :friends)),
          'true', 'an editor makes customer 2 a friend');
SELECT is(pg_temp.members(:buyer_friends), '2', 'which cascades into Buyer friends (an included buyer)');
SELECT results_eq($$SELECT right(customer_id::text, 1), action, cause, actor, reason FROM segmentation.assignment_log
                    WHERE cause = 'override' ORDER BY id$$,
                  $$VALUES ('1', 'excluded', 'override', 'carol@example.com', 'chargeback'),
                           ('1', 'removed', 'override', 'carol@example.com', 'chargeback'),
                           ('2', 'included', 'override', 'seg_ov_editor', 'pre-order'),
                           ('2', 'added', 'override', 'seg_ov_editor', 'pre-order')$$,
                  'overrides and their effects are logged with the actor (the setting, else the role) and the reason');

-- A viewer reads them.
SELECT is(pg_temp.try_as('seg_ov_viewer', $$SELECT string_agg(right(customer_id::text, 1) || CASE WHEN included THEN '+' ELSE '-' END, ',' ORDER BY customer_id) FROM segmentation.overrides$$),
          '1-,2+', 'a viewer reads the overrides table');
SELECT is(pg_temp.try_as('seg_ov_viewer', $$SELECT string_agg(name || ':' || coalesce(override, ''), ',' ORDER BY name) FROM segmentation.customer_segments('00000000-0000-0000-0000-000000000001'::uuid)$$),
          'Buyers:excluded', 'customer_segments shows an exclusion (not a membership: no assigned_at)');
SELECT is(pg_temp.try_as('seg_ov_viewer', $$SELECT string_agg(name || ':' || coalesce(override, ''), ',' ORDER BY name) FROM segmentation.customer_segments('00000000-0000-0000-0000-000000000002'::uuid)$$),
          'Buyer friends:,Buyers:included,Friends:', 'and an inclusion');

-- Orders do not undo them; removing an override does, with the cascade.
INSERT INTO ov_orders (customer_id, amount, ordered_at) VALUES ('00000000-0000-0000-0000-000000000001', 5, now());
SELECT is(pg_temp.members(:buyers), '2', 'an order of the excluded customer leaves it out');
SELECT is(pg_temp.try_as('seg_ov_editor', format($$SELECT segmentation.remove_override('00000000-0000-0000-0000-000000000002'::uuid, %s, 'lapsed')$$, :buyers)),
          'true', 'an editor removes the inclusion');
SELECT is(pg_temp.members(:buyer_friends), '', 'customer 2 leaves Buyers and Buyer friends in the same statement');
SELECT is((SELECT count(*) FROM segmentation.verify())::int, 0, 'verify() finds no drift');

SELECT * FROM finish();
ROLLBACK;
