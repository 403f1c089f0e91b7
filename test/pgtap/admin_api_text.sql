-- The admin API (shared/admin_api.psql) on a shop whose customer ids are
-- text, as a viewer, an editor and a role with neither segmentation role;
-- then the calls that take a text id as such.
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
CALL pg_temp.build_shop('text', loyal => 'user123', newcomer => 'user456', lapsed => 'user789', browser => 'user000', ghost => 'nobody');
CALL pg_temp.build_admin_fixture('text', ARRAY['b', 'a10', 'a9', 'A', 'a', 'Z1', 'z', '10', '9', 'b 2']);

SELECT plan(129 + 5);

SELECT * FROM pg_temp.test_admin_api();

-- text keys: taken exactly (case, spaces), in the column's collation order;
-- a number names the key spelled by its digits.
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'), 'a9', 3)),
          ARRAY(SELECT a.customer_id::text FROM segmentation.assignments a
                WHERE a.segment_id = pg_temp.seg('Paged') AND a.customer_id > 'a9' ORDER BY a.customer_id LIMIT 3),
          'after ''a9'': the next three keys in the key column''s order');
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'), 9, 2)),
          ARRAY(SELECT a.customer_id::text FROM segmentation.assignments a
                WHERE a.segment_id = pg_temp.seg('Paged') AND a.customer_id > '9' ORDER BY a.customer_id LIMIT 2),
          'the number 9 names the key ''9''');
SELECT is(ARRAY(SELECT customer_id FROM segmentation.segment_members(pg_temp.seg('Paged'), 'b 2'::varchar, 1)),
          ARRAY(SELECT a.customer_id::text FROM segmentation.assignments a
                WHERE a.segment_id = pg_temp.seg('Paged') AND a.customer_id > 'b 2' ORDER BY a.customer_id LIMIT 1),
          'a varchar is taken as it is, space included');
SELECT throws_ok($$SELECT segmentation.explain_match('USER123', '{}'::jsonb)$$, '42704',
                 'cannot explain a match: customer "USER123" does not exist', 'ids are case sensitive');
SELECT is(segmentation.explain_match('user123', pg_temp.seg('Gold Club'))->'member', 'true'::jsonb,
          'explain_match() takes the text id');

SELECT * FROM finish();
ROLLBACK;
