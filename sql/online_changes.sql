-- Changing segments online (README "Changing segments online"): the
-- procedures end where a plain transactional edit would (membership equal to
-- a from-scratch evaluation), refuse what they cannot do with a documented
-- SQLSTATE, can be finished after an interruption, and are the editors'.
-- Their concurrency (order writes are not held up) is in
-- test/isolation/specs/online_segment_change.spec.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

CREATE FUNCTION pg_temp.attempt(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE SCHEMA online;
CREATE TABLE online.orders (id serial PRIMARY KEY, customer_id bigint, amount numeric(10,2), ordered_at timestamptz);
-- 25,000 customers: three steps of 10,000. Values without the clock in them.
INSERT INTO online.orders (customer_id, amount, ordered_at)
SELECT g % 25000 + 1, (g * 7919) % 500, '2024-01-01'::timestamptz + (g % 700) * interval '1 day'
FROM generate_series(1, 60000) g;
SELECT segmentation.track_orders('online.orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 600}', true) AS big,
       segmentation.create_segment('Many', '{"minOrders": 3}', true) AS many,
       segmentation.create_segment('VIP', '{}', false) AS vip;

-- Membership of a segment against a fresh evaluation of its criteria in force.
CREATE FUNCTION pg_temp.differences(segment bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (
        (SELECT m.customer_id FROM segmentation.customer_metrics m, segmentation.segments s
         WHERE s.id = segment AND segmentation.segment_match(m, s.criteria)
         EXCEPT SELECT customer_id FROM segmentation.assignments WHERE segment_id = segment)
        UNION ALL
        (SELECT customer_id FROM segmentation.assignments WHERE segment_id = segment
         EXCEPT SELECT m.customer_id FROM segmentation.customer_metrics m, segmentation.segments s
         WHERE s.id = segment AND segmentation.segment_match(m, s.criteria))) d $$;

-- Creating: populated in steps, the same members as a fresh evaluation.
CALL segmentation.create_segment_concurrently('Mid', '{"minLifetimeValue": 300, "maxLifetimeValue": 900}', 'online');
SELECT id, name, description, criteria, pending_change, pending_criteria FROM segmentation.segments WHERE name = 'Mid';
SELECT count(*) > 1000 AS many_members, pg_temp.differences(4) AS differences
FROM segmentation.assignments WHERE segment_id = 4;

-- Redefining: moves customers both ways, logged with cause definition.
SELECT max(id) AS log_before FROM segmentation.assignment_log \gset
CALL segmentation.update_segment_concurrently(1, '{"minLifetimeValue": 500, "minOrders": 3}');
SELECT criteria, pending_change, pending_criteria FROM segmentation.segments WHERE id = 1;
SELECT pg_temp.differences(1) AS differences,
       count(*) FILTER (WHERE action = 'added') > 0 AS some_added,
       count(*) FILTER (WHERE action = 'removed') > 0 AS some_removed
FROM segmentation.assignment_log WHERE segment_id = 1 AND cause = 'definition' AND id > :log_before;
-- The same edit made plainly gives the same membership.
CREATE TEMP TABLE online_members AS SELECT customer_id FROM segmentation.assignments WHERE segment_id = 1;
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 600}' WHERE id = 1;
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 500, "minOrders": 3}' WHERE id = 1;
SELECT count(*) AS plain_vs_online FROM (
    (SELECT customer_id FROM online_members EXCEPT SELECT customer_id FROM segmentation.assignments WHERE segment_id = 1)
    UNION ALL
    (SELECT customer_id FROM segmentation.assignments WHERE segment_id = 1 EXCEPT SELECT customer_id FROM online_members)) d;

-- Deleting: the assignments go in steps, logged with the actor, then the row.
SET segmentation.actor = 'alice@example.com';
SELECT count(*) AS many_members FROM segmentation.assignments WHERE segment_id = 2 \gset
CALL segmentation.delete_segment_concurrently(2);
SELECT count(*) AS segments_left FROM segmentation.segments WHERE id = 2;
SELECT count(*) AS assignments_left FROM segmentation.assignments WHERE segment_id = 2;
SELECT count(*) = :many_members AS every_removal_logged, min(actor) AS actor
FROM segmentation.assignment_log WHERE segment_id = 2 AND action = 'removed' AND cause = 'definition';
RESET segmentation.actor;
-- The steps of a deletion go through the members in key order, each
-- starting after the last one the step before removed: they remove every
-- row (none left for the completion), each once, in several steps.
SELECT segmentation.create_segment('Many again', '{"minOrders": 3}', true) AS again \gset
SELECT count(*) AS again_members FROM segmentation.assignments WHERE segment_id = :again \gset
SELECT coalesce(max(id), 0) AS log_mark FROM segmentation.assignment_log \gset
SELECT segmentation.start_segment_change('deleting', :again, NULL, NULL, NULL);
CREATE TEMP TABLE deletion_steps (step int, next text, left_after bigint);
DO $$
DECLARE
    segment bigint := (SELECT id FROM segmentation.segments WHERE name = 'Many again');
    next text;
    step int := 0;
BEGIN
    LOOP
        next := segmentation.segment_change_step(segment, next);
        step := step + 1;
        INSERT INTO deletion_steps
        SELECT step, next, count(*) FROM segmentation.assignments WHERE segment_id = segment;
        EXIT WHEN next IS NULL OR step > 100;
    END LOOP;
END $$;
SELECT :again_members > 2 * 2500 AS more_than_two_steps_of_members,
       count(*) AS steps, min(left_after) AS left_at_the_end,
       bool_and(next IS NOT NULL OR step = (SELECT max(step) FROM deletion_steps)) AS null_only_at_the_end
FROM deletion_steps;
SELECT count(*) = :again_members AS each_removed_once, count(DISTINCT customer_id) = :again_members AS all_distinct
FROM segmentation.assignment_log WHERE segment_id = :again AND action = 'removed' AND id > :log_mark;
CALL segmentation.finish_segment_change(:again);
SELECT count(*) AS again_left FROM segmentation.segments WHERE id = :again;

-- Interrupted after the change was put in force (here: started by hand), a
-- change is completed by finish_segment_change; meanwhile plain edits of
-- the criteria are refused, renames are not, and verify() says what it skips.
SELECT segmentation.start_segment_change('redefining', 4, NULL, '{"minOrders": 4}', NULL);
SELECT pg_temp.attempt($$UPDATE segmentation.segments SET criteria = '{"minOrders": 5}' WHERE id = 4$$);
SELECT pg_temp.attempt($$UPDATE segmentation.segments SET pending_criteria = '{"minOrders": 5}' WHERE id = 4$$);
SELECT pg_temp.attempt($$UPDATE segmentation.segments SET pending_change = NULL, pending_criteria = NULL WHERE id = 4$$);
SELECT pg_temp.attempt($$UPDATE segmentation.segments SET name = 'Middle' WHERE id = 4$$);
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(4, '{"minOrders": 6}')$$);
SET client_min_messages = notice;
SELECT count(*) AS drift FROM segmentation.verify();
SET client_min_messages = warning;
CALL segmentation.finish_segment_change(4);
SELECT name, criteria, pending_change FROM segmentation.segments WHERE id = 4;
SELECT pg_temp.differences(4) AS differences;
SELECT pg_temp.attempt($$CALL segmentation.finish_segment_change(4)$$);

-- A segment that refers to the one changing moves with it, in the same steps;
-- a referenced segment cannot be deleted online, as plainly.
SELECT segmentation.create_segment('Mid fans', '{"inSegment": 4}', true) AS fans \gset
SELECT count(*) AS fans_before FROM segmentation.assignments WHERE segment_id = :fans \gset
CALL segmentation.update_segment_concurrently(4, '{"minOrders": 3}');
SELECT count(*) <> :fans_before AS fans_moved,
       count(*) = (SELECT count(*) FROM segmentation.assignments WHERE segment_id = 4) AS fans_are_mid
FROM segmentation.assignments WHERE segment_id = :fans;
SELECT count(*) AS drift FROM segmentation.verify();
SELECT pg_temp.attempt($$CALL segmentation.delete_segment_concurrently(4)$$);
SELECT pending_change FROM segmentation.segments WHERE id = 4;
DELETE FROM segmentation.segments WHERE id = :fans;

-- Refusals.
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(3, '{"minOrders": 1}')$$);  -- manual
SELECT pg_temp.attempt($$CALL segmentation.delete_segment_concurrently(3)$$);
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(99, '{"minOrders": 1}')$$);
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(1, '{"minOrdrs": 1}')$$);
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(1, NULL)$$);
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(NULL, '{}')$$);
SELECT pg_temp.attempt($$CALL segmentation.create_segment_concurrently('Big', '{}')$$);
SELECT pg_temp.attempt($$CALL segmentation.create_segment_concurrently(' ', '{}')$$);
SELECT pg_temp.attempt($$UPDATE segmentation.segments SET pending_change = 'creating' WHERE id = 1$$);
SELECT pg_temp.attempt($$UPDATE segmentation.segments SET pending_change = 'deleting', criteria = '{}' WHERE id = 1$$);
SELECT pg_temp.attempt($$SELECT segmentation.segment_change_step(1, NULL)$$);
-- In a transaction block: PostgreSQL refuses a procedure that commits, and nothing changed.
BEGIN;
CALL segmentation.update_segment_concurrently(1, '{"minOrders": 1}');
ROLLBACK;
SELECT criteria, pending_change FROM segmentation.segments WHERE id = 1;

-- Editors only.
CREATE ROLE online_viewer IN ROLE segmentation_viewer;
CREATE ROLE online_editor IN ROLE segmentation_editor;
SET ROLE online_viewer;
SELECT pg_temp.attempt($$CALL segmentation.update_segment_concurrently(1, '{"minOrders": 1}')$$);
RESET ROLE;
SET ROLE online_editor;
CALL segmentation.update_segment_concurrently(1, '{"minOrders": 2}');
RESET ROLE;
SELECT criteria FROM segmentation.segments WHERE id = 1;

SELECT count(*) AS drift FROM segmentation.verify();

SELECT segmentation.untrack_orders();
DELETE FROM segmentation.segments;
TRUNCATE segmentation.assignment_log;
DROP ROLE online_viewer, online_editor;
DROP SCHEMA online CASCADE;
