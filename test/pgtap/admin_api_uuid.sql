-- The admin API (shared/admin_api.psql) on a shop whose customer ids are
-- uuid, as a viewer, an editor and a role with neither segmentation role;
-- then the calls that take a uuid id as such.
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
CALL pg_temp.build_shop('uuid', loyal => '11111111-1111-4111-8111-111111111111', newcomer => '22222222-2222-4222-8222-222222222222', lapsed => '33333333-3333-4333-8333-333333333333', browser => '44444444-4444-4444-8444-444444444444', ghost => '99999999-9999-4999-8999-999999999999');
CALL pg_temp.build_admin_fixture('uuid', ARRAY['00000000-0000-0000-0000-000000000009', '00000000-0000-0000-0000-000000000010', 'ffffffff-0000-0000-0000-000000000000', '10000000-0000-0000-0000-000000000000', '9fffffff-ffff-ffff-ffff-ffffffffffff', 'a0000000-0000-0000-0000-000000000000', '0a000000-0000-0000-0000-000000000000', 'f0000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', '55555555-5555-5555-5555-555555555555']);

SELECT plan(129 + 5);

SELECT * FROM pg_temp.test_admin_api();

-- uuid keys: pages follow the uuid order; a uuid, or its text in any case,
-- names the key.
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'),
                                                                     '00000000-0000-0000-0000-000000000009'::uuid, 2)),
          ARRAY['00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-000000000010'],
          'after ...09 come ...0a and ...10');
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'),
                                                                     '9FFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 1)),
          ARRAY['a0000000-0000-0000-0000-000000000000'], 'the text of a uuid in upper case names the uuid');
SELECT throws_ok(format($$SELECT * FROM segmentation.segment_members(%s, 'not-a-uuid')$$, pg_temp.seg('Paged')),
                 '22P02', 'customer id "not-a-uuid" is not a valid uuid', 'text that is no uuid is 22P02');
SELECT throws_ok(format($$SELECT * FROM segmentation.segment_members(%s, 5)$$, pg_temp.seg('Paged')), '42804',
                 'a bigint cannot name a customer: customer keys of this shop have type uuid', 'a number is 42804');
SELECT is(segmentation.explain_match('11111111-1111-4111-8111-111111111111'::uuid, pg_temp.seg('High Value'))->'member',
          'true'::jsonb, 'explain_match() takes a uuid');

SELECT * FROM finish();
ROLLBACK;
