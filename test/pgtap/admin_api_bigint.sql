-- The admin API (shared/admin_api.psql) on a shop whose customer ids are
-- bigint, as a viewer, an editor and a role with neither segmentation role;
-- then the calls that take a bigint id as such.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SET LOCAL TimeZone = 'UTC';
-- Removed by the ROLLBACK at the end.
CREATE ROLE admin_api_viewer NOLOGIN IN ROLE segmentation_viewer;
CREATE ROLE admin_api_editor NOLOGIN IN ROLE segmentation_editor;
CREATE ROLE admin_api_nobody NOLOGIN;

\ir shared/segmentation_suite.psql
\ir shared/admin_api.psql
CALL pg_temp.build_shop('bigint', loyal => '1001', newcomer => '1002', lapsed => '1003', browser => '1004', ghost => '999999');
CALL pg_temp.build_admin_fixture('bigint', ARRAY['9', '10', '11', '100', '2', '20', '3', '1', '12', '1000']);

SELECT plan(129 + 8);

SELECT * FROM pg_temp.test_admin_api();

-- bigint keys: pages follow the numbers, not their text; a number and its
-- text name the same key.
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'), 9, 3)),
          ARRAY['10', '11', '12'], 'after the number 9 come 10, 11 and 12: key order, not text order');
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'), '9', 3)),
          ARRAY['10', '11', '12'], 'the text ''9'' names the same key');
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'), 9::smallint, 1)),
          ARRAY['10'], 'so does a smallint');
SELECT throws_ok(format($$SELECT * FROM segmentation.segment_members(%s, '1e3')$$, pg_temp.seg('Paged')), '22P02',
                 'customer id "1e3" is not a valid bigint', 'an id that is no bigint is 22P02');
SELECT throws_ok(format($$SELECT * FROM segmentation.segment_members(%s, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)$$,
                        pg_temp.seg('Paged')), '42804',
                 'a uuid cannot name a customer: customer keys of this shop have type bigint',
                 'a uuid is 42804');
SELECT is(segmentation.explain_match(1001, pg_temp.seg('High Value'))->'member', 'true'::jsonb,
          'explain_match() takes the number 1001');
SELECT is(segmentation.explain_match(1001::bigint, '{"minOrders": 6}'::jsonb, now())->'matched', 'true'::jsonb,
          'explain_match() takes a bigint with criteria');
SELECT is(segmentation.explain_match('1001', '{"maxOrders": 5}'::jsonb)->'maxOrders'->'value', '6'::jsonb,
          'and its text');

SELECT * FROM finish();
ROLLBACK;
