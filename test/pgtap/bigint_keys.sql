-- The segmentation suite for a shop whose customer ids are bigint: the shared
-- tests (shared/segmentation_suite.psql), then every function called with
-- the text literal '42' and with the number 42, and the ids it refuses.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SET LOCAL TimeZone = 'UTC';

\ir shared/segmentation_suite.psql
CALL pg_temp.build_shop('bigint', loyal => '1001', newcomer => '1002', lapsed => '1003', browser => '1004',
                        ghost => '999999');

SELECT plan(124 + 34);

SELECT * FROM pg_temp.test_create_segment();
SELECT * FROM pg_temp.test_get_all_segments();
SELECT * FROM pg_temp.test_calculate_automatic_segments();
SELECT * FROM pg_temp.test_assign_automatic_segments();
SELECT * FROM pg_temp.test_assign_manual_segment();
SELECT * FROM pg_temp.test_remove_manual_segment();
SELECT * FROM pg_temp.test_tracking_errors();

------------------------------------------------------------------------------
-- bigint keys
------------------------------------------------------------------------------

SELECT col_type_is('segmentation', 'customer_metrics', 'customer_id', 'bigint',
                   'tracking a bigint key retypes customer_metrics.customer_id to bigint');
SELECT col_type_is('segmentation', 'assignments', 'customer_id', 'bigint',
                   'tracking a bigint key retypes assignments.customer_id to bigint');
SELECT col_type_is('segmentation', 'assignment_log', 'customer_id', 'bigint',
                   'tracking a bigint key retypes assignment_log.customer_id to bigint');

-- Customer 42: GOLD for 90 days, one order three days ago.
INSERT INTO shop.customers (id, created_at, loyalty_level) VALUES (42, now() - interval '90 days', 'GOLD');
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES (42, 80.00, now() - interval '3 days');

-- segment_match
SELECT is(segmentation.segment_match('42', '{"loyaltyLevels": ["GOLD"], "maxOrders": 1}'), true,
          'segment_match() takes the text literal ''42''');
SELECT is(segmentation.segment_match(42, '{"loyaltyLevels": ["GOLD"], "maxOrders": 1}'), true,
          'segment_match() takes the number 42');
SELECT is(segmentation.segment_match(42::bigint, '{"minOrders": 2}', now()), false,
          'segment_match() takes a bigint and an explicit as_of (and can say no)');

-- calculate_automatic_segments
SELECT is(segmentation.calculate_automatic_segments('42'), pg_temp.segs('Gold Club'),
          'calculate_automatic_segments() takes the text literal ''42''');
SELECT is(segmentation.calculate_automatic_segments(42), pg_temp.segs('Gold Club'),
          'calculate_automatic_segments() takes the number 42');
SELECT is(segmentation.calculate_automatic_segments(42::smallint, now() + interval '100 days'),
          pg_temp.segs('At Risk', 'Gold Club'),
          'calculate_automatic_segments() takes a smallint and an as_of (103 days after the last order)');

-- customer_segments
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments('42')), ARRAY['Gold Club'],
          'customer_segments() takes the text literal ''42''');
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments(42)), ARRAY['Gold Club'],
          'customer_segments() takes the number 42');

-- assign_manual_segment and remove_manual_segment: both spellings name one customer.
SELECT is(segmentation.assign_manual_segment('42', pg_temp.seg('VIP')), true,
          'assign_manual_segment() takes the text literal ''42''');
SELECT is(segmentation.assign_manual_segment(42, pg_temp.seg('VIP')), false,
          'assign_manual_segment() takes the number 42: the same customer, already a VIP');
SELECT is(segmentation.remove_manual_segment(42, pg_temp.seg('VIP'), 'typed by number'), true,
          'remove_manual_segment() takes the number 42');
SELECT is(segmentation.remove_manual_segment('42', pg_temp.seg('VIP')), false,
          'remove_manual_segment() takes the text literal ''42'': the same customer, no longer a VIP');
SELECT results_eq($$SELECT customer_id, action, reason FROM segmentation.assignment_log
                    WHERE customer_id = 42 AND cause = 'manual' ORDER BY id$$,
                  $$VALUES (42::bigint, 'added', NULL::text), (42, 'removed', 'typed by number')$$,
                  'the log holds the customer''s bigint id');

-- assign_automatic_segments, on membership left stale on purpose.
DO $$ BEGIN PERFORM segmentation.set_live_evaluation('shop.customers', false); END $$;
UPDATE shop.customers SET loyalty_level = 'SILVER' WHERE id = 42;
SELECT results_eq($$SELECT added, removed FROM segmentation.assign_automatic_segments('42')$$,
                  $$VALUES ('{}'::bigint[], ARRAY[pg_temp.seg('Gold Club')])$$,
                  'assign_automatic_segments() takes the text literal ''42''');
UPDATE shop.customers SET loyalty_level = 'GOLD' WHERE id = 42;
SELECT results_eq($$SELECT added, removed FROM segmentation.assign_automatic_segments(42)$$,
                  $$VALUES (ARRAY[pg_temp.seg('Gold Club')], '{}'::bigint[])$$,
                  'assign_automatic_segments() takes the number 42');
DO $$ BEGIN PERFORM segmentation.set_live_evaluation('shop.customers', true); END $$;

-- Ids that cannot be bigint.
SELECT throws_ok($$SELECT segmentation.segment_match('abc', '{}')$$, '22P02',
                 'customer id "abc" is not a valid bigint', 'segment_match() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('abc')$$, '22P02',
                 'customer id "abc" is not a valid bigint', 'calculate_automatic_segments() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.customer_segments('abc')$$, '22P02',
                 'customer id "abc" is not a valid bigint', 'customer_segments() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.assign_automatic_segments('abc')$$, '22P02',
                 'customer id "abc" is not a valid bigint', 'assign_automatic_segments() refuses ''abc''');
SELECT throws_ok(format('SELECT segmentation.assign_manual_segment(%L, %s)', 'abc', pg_temp.seg('VIP')), '22P02',
                 'customer id "abc" is not a valid bigint', 'assign_manual_segment() refuses ''abc''');
SELECT throws_ok(format('SELECT segmentation.remove_manual_segment(%L, %s)', 'abc', pg_temp.seg('VIP')), '22P02',
                 'customer id "abc" is not a valid bigint', 'remove_manual_segment() refuses ''abc''');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')$$, '22P02',
                 'customer id "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" is not a valid bigint',
                 'calculate_automatic_segments() refuses the text of a uuid');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('99999999999999999999')$$, '22003',
                 'customer id "99999999999999999999" is not a valid bigint',
                 'calculate_automatic_segments() refuses a number beyond bigint (out of range)');

SELECT throws_ok($$SELECT segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{}')$$, '42804',
                 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'segment_match() refuses a uuid');
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$,
                 '42804', 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'calculate_automatic_segments() refuses a uuid');
SELECT throws_ok($$SELECT segmentation.customer_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$, '42804',
                 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'customer_segments() refuses a uuid');
SELECT throws_ok($$SELECT segmentation.assign_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$,
                 '42804', 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'assign_automatic_segments() refuses a uuid');
SELECT throws_ok(format('SELECT segmentation.assign_manual_segment(%L::uuid, %s)',
                        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', pg_temp.seg('VIP')), '42804',
                 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'assign_manual_segment() refuses a uuid');
SELECT throws_ok(format('SELECT segmentation.remove_manual_segment(%L::uuid, %s)',
                        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', pg_temp.seg('VIP')), '42804',
                 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'remove_manual_segment() refuses a uuid');

SELECT throws_ok(format('SELECT segmentation.assign_manual_segment(43, %s)', pg_temp.seg('VIP')), '42704',
                 format('cannot assign segment %s to customer "43": customer "43" does not exist', pg_temp.seg('VIP')),
                 'assign_manual_segment() refuses the number of a customer that does not exist');
SELECT is(pg_temp.state(), '6 segments, 5 customers, 8 assignments (2 manual), 20 log rows',
          'after all the refused calls, the state is as the successful calls left it');

SELECT * FROM finish();
ROLLBACK;
