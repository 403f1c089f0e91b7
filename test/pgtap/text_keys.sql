-- The segmentation suite for a shop whose customer ids are text ('user123'):
-- the shared tests (shared/segmentation_suite.psql), then every function
-- called with a text literal, with a bigint (customer '42') and with a uuid
-- (a customer whose id is the text of a uuid). Text ids are taken exactly.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SET LOCAL TimeZone = 'UTC';

\ir shared/segmentation_suite.psql
CALL pg_temp.build_shop('text', loyal => 'user123', newcomer => 'user456', lapsed => 'user789', browser => 'user000',
                        ghost => 'nobody');

SELECT plan(124 + 34);

SELECT * FROM pg_temp.test_create_segment();
SELECT * FROM pg_temp.test_get_all_segments();
SELECT * FROM pg_temp.test_calculate_automatic_segments();
SELECT * FROM pg_temp.test_assign_automatic_segments();
SELECT * FROM pg_temp.test_assign_manual_segment();
SELECT * FROM pg_temp.test_remove_manual_segment();
SELECT * FROM pg_temp.test_tracking_errors();

------------------------------------------------------------------------------
-- text keys
------------------------------------------------------------------------------

SELECT col_type_is('segmentation', 'customer_metrics', 'customer_id', 'text',
                   'tracking a text key keeps customer_metrics.customer_id text');
SELECT col_type_is('segmentation', 'assignments', 'customer_id', 'text',
                   'tracking a text key keeps assignments.customer_id text');
SELECT col_type_is('segmentation', 'assignment_log', 'customer_id', 'text',
                   'tracking a text key keeps assignment_log.customer_id text');

-- Customer '42': GOLD for 90 days, one order three days ago.
-- Customer 'a0eebc99-...': no loyalty level, customer for 15 days, one order yesterday.
INSERT INTO shop.customers (id, created_at, loyalty_level) VALUES
    ('42', now() - interval '90 days', 'GOLD'),
    ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now() - interval '15 days', NULL);
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES
    ('42', 80.00, now() - interval '3 days'),
    ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 20.00, now() - interval '1 day');

-- A text literal
SELECT is(segmentation.segment_match('user123', '{"loyaltyLevels": ["GOLD"], "minOrders": 6}'), true,
          'segment_match() takes the text literal ''user123''');
SELECT is(segmentation.calculate_automatic_segments('user123'), pg_temp.segs('High Value', 'Gold Club'),
          'calculate_automatic_segments() takes the text literal ''user123''');
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments('user123')), ARRAY['Gold Club', 'High Value'],
          'customer_segments() takes the text literal ''user123''');
SELECT is(segmentation.assign_manual_segment('user123', pg_temp.seg('Employees')), true,
          'assign_manual_segment() takes the text literal ''user123''');
SELECT is(segmentation.remove_manual_segment('user123', pg_temp.seg('Employees'), 'by text'), true,
          'remove_manual_segment() takes the text literal ''user123''');
SELECT results_eq($$SELECT added, removed FROM segmentation.assign_automatic_segments('user123')$$,
                  $$VALUES ('{}'::bigint[], '{}'::bigint[])$$,
                  'assign_automatic_segments() takes the text literal ''user123''');

-- A bigint names customer '42'.
SELECT is(segmentation.segment_match(42, '{"loyaltyLevels": ["GOLD"], "maxOrders": 1}'), true,
          'segment_match() takes the number 42 for customer ''42''');
SELECT is(segmentation.calculate_automatic_segments(42), pg_temp.segs('Gold Club'),
          'calculate_automatic_segments() takes the number 42 for customer ''42''');
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments(42)), ARRAY['Gold Club'],
          'customer_segments() takes the number 42 for customer ''42''');
SELECT is(segmentation.assign_manual_segment(42, pg_temp.seg('VIP')), true,
          'assign_manual_segment() takes the number 42 for customer ''42''');
SELECT is(segmentation.assign_manual_segment('42', pg_temp.seg('VIP')), false,
          'the text literal ''42'' names the same customer, already a VIP');
SELECT is(segmentation.remove_manual_segment(42::bigint, pg_temp.seg('VIP'), 'by number'), true,
          'remove_manual_segment() takes the number 42 for customer ''42''');
SELECT results_eq($$SELECT customer_id, action, reason FROM segmentation.assignment_log
                    WHERE customer_id = '42' AND cause = 'manual' ORDER BY id$$,
                  $$VALUES ('42'::text, 'added', NULL::text), ('42', 'removed', 'by number')$$,
                  'the log holds the text id ''42''');

-- A uuid names the customer whose id is its text.
SELECT is(segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"maxTenureDays": 30}'), true,
          'segment_match() takes a uuid');
SELECT is(segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
          pg_temp.segs('New'),
          'calculate_automatic_segments() takes a uuid');
SELECT is(ARRAY(SELECT name FROM segmentation.customer_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)),
          ARRAY['New'],
          'customer_segments() takes a uuid');
SELECT is(segmentation.assign_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, pg_temp.seg('VIP')), true,
          'assign_manual_segment() takes a uuid');
SELECT is(segmentation.assign_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', pg_temp.seg('VIP')), false,
          'the uuid''s text names the same customer, already a VIP');
SELECT is(segmentation.remove_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, pg_temp.seg('VIP')), true,
          'remove_manual_segment() takes a uuid');
SELECT is(segmentation.remove_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', pg_temp.seg('VIP')), false,
          'the uuid''s text names the same customer, no longer a VIP');

-- assign_automatic_segments, on membership left stale on purpose.
DO $$ BEGIN PERFORM segmentation.set_live_evaluation('shop.customers', false); END $$;
UPDATE shop.customers SET loyalty_level = 'SILVER' WHERE id = '42';
UPDATE shop.customers SET loyalty_level = 'GOLD' WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
SELECT results_eq($$SELECT added, removed FROM segmentation.assign_automatic_segments(42)$$,
                  $$VALUES ('{}'::bigint[], ARRAY[pg_temp.seg('Gold Club')])$$,
                  'assign_automatic_segments() takes the number 42 for customer ''42''');
SELECT results_eq($$SELECT added, removed FROM segmentation.assign_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$,
                  $$VALUES (ARRAY[pg_temp.seg('Gold Club')], '{}'::bigint[])$$,
                  'assign_automatic_segments() takes a uuid');
DO $$ BEGIN PERFORM segmentation.set_live_evaluation('shop.customers', true); END $$;
SELECT is(pg_temp.members('Gold Club'), ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'user123', 'user456'],
          'Gold Club now has the uuid-named customer and the GOLD customers of the shared tests, not ''42''');

-- Text ids are taken exactly: no trimming, no case folding, no number syntax.
SELECT throws_ok($$SELECT segmentation.calculate_automatic_segments('USER123')$$, '42704',
                 'cannot calculate segments: customer "USER123" does not exist',
                 'ids are case sensitive: ''USER123'' is not ''user123''');
SELECT throws_ok($$SELECT segmentation.customer_segments(' user123')$$, '42704',
                 'cannot list segments: customer " user123" does not exist',
                 'ids are not trimmed: '' user123'' is not ''user123''');
SELECT throws_ok($$SELECT segmentation.segment_match('042', '{}')$$, '42704',
                 'cannot match customer: customer "042" does not exist',
                 'the text ''042'' is not customer ''42''');
SELECT is(segmentation.segment_match(042, '{"loyaltyLevels": ["SILVER"]}'), true,
          'but the number 042 is 42, customer ''42''');
SELECT throws_ok($$SELECT * FROM segmentation.assign_automatic_segments('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')$$,
                 '42704',
                 'cannot assign automatic segments: customer "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11" does not exist',
                 'the upper-case text of the uuid is another (unknown) customer');
SELECT is(segmentation.calculate_automatic_segments('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid),
          pg_temp.segs('New', 'Gold Club'),
          'but a uuid value written in upper case is the uuid, whose text is lower case');
SELECT throws_ok(format('SELECT segmentation.remove_manual_segment(43, %s)', pg_temp.seg('VIP')), '42704',
                 format('cannot remove segment %s from customer "43": customer "43" does not exist', pg_temp.seg('VIP')),
                 'remove_manual_segment() refuses the number of a customer that does not exist');
SELECT is(pg_temp.state(), '6 segments, 6 customers, 9 assignments (2 manual), 25 log rows',
          'after all the refused calls, the state is as the successful calls left it');

SELECT * FROM finish();
ROLLBACK;
