-- The segmentation suite for a shop whose customer ids are uuid: the shared
-- tests (shared/segmentation_suite.psql), then every function called with a
-- uuid value and with its text, and the ids it refuses.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SET LOCAL TimeZone = 'UTC';

\ir shared/segmentation_suite.psql
CALL pg_temp.build_shop('uuid',
                        loyal    => '1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b',
                        newcomer => '6ecd8c99-4036-403d-bf84-cf8400f67836',
                        lapsed   => '3f333df6-90a4-4fda-8dd3-9485d27cee36',
                        browser  => '9b2c6f1e-5a7d-4c8e-b1f0-2d3e4a5b6c7d',
                        ghost    => '00000000-0000-0000-0000-000000000000');

SELECT plan(124 + 33);

SELECT * FROM pg_temp.test_create_segment();
SELECT * FROM pg_temp.test_get_all_segments();
SELECT * FROM pg_temp.test_calculate_automatic_segments();
SELECT * FROM pg_temp.test_assign_automatic_segments();
SELECT * FROM pg_temp.test_assign_manual_segment();
SELECT * FROM pg_temp.test_remove_manual_segment();
SELECT * FROM pg_temp.test_tracking_errors();

------------------------------------------------------------------------------
-- uuid keys
------------------------------------------------------------------------------

SELECT col_type_is('segmentation', 'customer_metrics', 'customer_id', 'uuid',
                   'tracking a uuid key retypes customer_metrics.customer_id to uuid');
SELECT col_type_is('segmentation', 'assignments', 'customer_id', 'uuid',
                   'tracking a uuid key retypes assignments.customer_id to uuid');
SELECT col_type_is('segmentation', 'assignment_log', 'customer_id', 'uuid',
                   'tracking a uuid key retypes assignment_log.customer_id to uuid');

-- Customer a0eebc99-...: GOLD for 90 days, one order three days ago.
INSERT INTO shop.customers (id, created_at, loyalty_level)
VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now() - interval '90 days', 'GOLD');
INSERT INTO shop.orders (customer_id, amount, ordered_at)
VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 80.00, now() - interval '3 days');

-- segment_match
SELECT is(segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid,
                                     '{"loyaltyLevels": ["GOLD"], "maxOrders": 1}'), true,
          'segment_match() takes a uuid');
SELECT is(segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                                     '{"loyaltyLevels": ["GOLD"], "maxOrders": 1}'), true,
          'segment_match() takes the uuid''s text');
SELECT is(segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::text, '{"minOrders": 2}', now()), false,
          'segment_match() takes the uuid''s text and an explicit as_of (and can say no)');

-- calculate_automatic_segments
SELECT is(segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
          pg_temp.segs('Gold Club'),
          'calculate_automatic_segments() takes a uuid');
SELECT is(segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
          pg_temp.segs('Gold Club'),
          'calculate_automatic_segments() takes the uuid''s text');
SELECT is(segmentation.calculate_automatic_segments('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', now() + interval '100 days'),
          pg_temp.segs('At Risk', 'Gold Club'),
          'calculate_automatic_segments() takes the uuid''s text in upper case, and an as_of');

-- customer_segments
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)),
          ARRAY['Gold Club'],
          'customer_segments() takes a uuid');
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')),
          ARRAY['Gold Club'],
          'customer_segments() takes the uuid''s text');

-- assign_manual_segment and remove_manual_segment: both spellings name one customer.
SELECT is(segmentation.assign_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', pg_temp.seg('VIP')), true,
          'assign_manual_segment() takes the uuid''s text');
SELECT is(segmentation.assign_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, pg_temp.seg('VIP')), false,
          'assign_manual_segment() takes a uuid: the same customer, already a VIP');
SELECT is(segmentation.remove_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, pg_temp.seg('VIP'),
                                             'typed as uuid'), true,
          'remove_manual_segment() takes a uuid');
SELECT is(segmentation.remove_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', pg_temp.seg('VIP')), false,
          'remove_manual_segment() takes the uuid''s text: the same customer, no longer a VIP');
SELECT results_eq($$SELECT customer_id, action, reason FROM segmentation.assignment_log
                    WHERE customer_id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AND cause = 'manual' ORDER BY id$$,
                  $$VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'added', NULL::text),
                           ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'removed', 'typed as uuid')$$,
                  'the log holds the customer''s uuid');

-- assign_automatic_segments, on membership left stale on purpose.
DO $$ BEGIN PERFORM segmentation.set_live_evaluation('shop.customers', false); END $$;
UPDATE shop.customers SET loyalty_level = 'SILVER' WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
SELECT results_eq($$SELECT added, removed
                    FROM segmentation.assign_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')$$,
                  $$VALUES ('{}'::bigint[], ARRAY[pg_temp.seg('Gold Club')])$$,
                  'assign_automatic_segments() takes the uuid''s text');
UPDATE shop.customers SET loyalty_level = 'GOLD' WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
SELECT results_eq($$SELECT added, removed
                    FROM segmentation.assign_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$,
                  $$VALUES (ARRAY[pg_temp.seg('Gold Club')], '{}'::bigint[])$$,
                  'assign_automatic_segments() takes a uuid');
DO $$ BEGIN PERFORM segmentation.set_live_evaluation('shop.customers', true); END $$;

-- Ids that cannot be uuid.
SELECT throws_ok($$SELECT segmentation.segment_match('abc', '{}')$$, '22P02',
                 'customer id "abc" is not a valid uuid', 'segment_match() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('abc')$$, '22P02',
                 'customer id "abc" is not a valid uuid', 'calculate_automatic_segments() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.customer_segments('abc')$$, '22P02',
                 'customer id "abc" is not a valid uuid', 'customer_segments() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.assign_automatic_segments('abc')$$, '22P02',
                 'customer id "abc" is not a valid uuid', 'assign_automatic_segments() refuses ''abc''');
SELECT throws_ok(format('SELECT segmentation.assign_manual_segment(%L, %s)', 'abc', pg_temp.seg('VIP')), '22P02',
                 'customer id "abc" is not a valid uuid', 'assign_manual_segment() refuses ''abc''');
SELECT throws_ok(format('SELECT segmentation.remove_manual_segment(%L, %s)', 'abc', pg_temp.seg('VIP')), '22P02',
                 'customer id "abc" is not a valid uuid', 'remove_manual_segment() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('42')$$, '22P02',
                 'customer id "42" is not a valid uuid',
                 'calculate_automatic_segments() refuses the text of a number');

SELECT throws_ok($$SELECT segmentation.segment_match(42, '{}')$$, '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid',
                 'segment_match() refuses a number');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments(42)$$, '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid',
                 'calculate_automatic_segments() refuses a number');
SELECT throws_ok($$SELECT segmentation.customer_segments(42::bigint)$$, '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid',
                 'customer_segments() refuses a bigint');
SELECT throws_ok($$SELECT segmentation.assign_automatic_segments(42)$$, '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid',
                 'assign_automatic_segments() refuses a number');
SELECT throws_ok(format('SELECT segmentation.assign_manual_segment(42, %s)', pg_temp.seg('VIP')), '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid',
                 'assign_manual_segment() refuses a number');
SELECT throws_ok(format('SELECT segmentation.remove_manual_segment(42, %s)', pg_temp.seg('VIP')), '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid',
                 'remove_manual_segment() refuses a number');

SELECT throws_ok(format('SELECT segmentation.assign_manual_segment(%L::uuid, %s)',
                        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', pg_temp.seg('VIP')), '42704',
                 format('cannot assign segment %s to customer "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12": '
                        'customer "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12" does not exist', pg_temp.seg('VIP')),
                 'assign_manual_segment() refuses a uuid that is not a customer''s');
SELECT is(pg_temp.state(), '6 segments, 5 customers, 8 assignments (2 manual), 20 log rows',
          'after all the refused calls, the state is as the successful calls left it');

SELECT * FROM finish();
ROLLBACK;
