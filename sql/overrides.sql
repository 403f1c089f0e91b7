-- Overrides of automatic segments: include_customer / exclude_customer /
-- remove_override, logged with actor and reason, kept through every
-- re-evaluation (orders, customer changes, definition changes, refresh_all,
-- refresh_due), cascading to segments that refer to the overridden one,
-- shown in customer_segments and the overrides table, checked by verify().
\set SHOW_CONTEXT never
SET client_min_messages = warning;
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;
TRUNCATE segmentation.assignment_log;  -- this test reads the log: nothing of earlier tests in it

CREATE TABLE o_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE o_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2),
                       ordered_at timestamptz);
INSERT INTO o_customers SELECT g, now() - interval '400 days', NULL FROM generate_series(1, 4) g;
INSERT INTO o_orders (customer_id, amount, ordered_at) VALUES
    (1, 2000, now() - interval '10 days'), (2, 50, now() - interval '10 days');
SELECT segmentation.track_customers('o_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('o_orders', 'customer_id', 'amount', 'ordered_at');
CREATE VIEW membership AS
    SELECT a.customer_id, s.name FROM segmentation.assignments a
    JOIN segmentation.segments s ON s.id = a.segment_id ORDER BY 1, 2;
CREATE VIEW history AS
    SELECT l.customer_id, s.name, l.action, l.cause, l.actor, l.reason FROM segmentation.assignment_log l
    LEFT JOIN segmentation.segments s ON s.id = l.segment_id WHERE l.cause IN ('override', 'manual') ORDER BY l.id;

SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true);      -- 1
SELECT segmentation.create_segment('VIP', '{}', false);                              -- 2
SELECT segmentation.create_segment('Big fans', '{"inSegment": 1}', true);           -- 3
SELECT segmentation.create_segment('Lapsing', '{"minDaysSinceLastPurchase": 30}', true);  -- 4
SELECT * FROM membership;

-- Include 2 in Big (not big by its orders) and exclude 1 (big): the cascade
-- moves them in Big fans too, in the same statement.
SET segmentation.actor = 'alice@example.com';
SELECT segmentation.include_customer(2, 1, 'key account');
SELECT segmentation.include_customer(2, 1, 'again');  -- already: false, nothing logged
SELECT segmentation.exclude_customer(1, 1, 'fraud check');
SELECT * FROM membership;
SELECT customer_id, segment_id, included, actor, reason FROM segmentation.overrides ORDER BY 1, 2;
SELECT * FROM history;
SELECT segment_id, name, is_automatic, assigned_at IS NOT NULL AS assigned, override
FROM segmentation.customer_segments(1);
SELECT segment_id, name, is_automatic, assigned_at IS NOT NULL AS assigned, override
FROM segmentation.customer_segments(2);

-- Kept through every re-evaluation.
INSERT INTO o_orders (customer_id, amount, ordered_at) VALUES (1, 5000, now() - interval '1 day'),
                                                             (2, 1, now() - interval '1 day');
UPDATE o_customers SET tier = 'GOLD';
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 10}' WHERE name = 'Big';
SELECT * FROM membership;
SELECT * FROM segmentation.refresh_all();
SELECT * FROM segmentation.assign_automatic_segments(1);
SELECT segmentation.calculate_automatic_segments(1) AS one, segmentation.calculate_automatic_segments(2) AS two;
SELECT segmentation.segment_match(1, '{"inSegment": 1}') AS one_in_big, segmentation.segment_match(2, '{"inSegment": 1}') AS two_in_big;
SELECT * FROM segmentation.verify();
-- 100 days on, both are Lapsing; the overrides still hold.
SELECT * FROM segmentation.refresh_due(now() + interval '100 days');
SELECT * FROM membership;
SELECT * FROM segmentation.verify(now() + interval '100 days') ORDER BY 1;

-- An override switches: an excluded customer included instead.
SELECT segmentation.include_customer(1, 1, 'cleared');
SELECT * FROM membership WHERE customer_id = 1;
-- Removing it gives the criteria back their say (Big needs 10 now: still in).
RESET segmentation.actor;
SELECT segmentation.remove_override(1, 1, 'done');
SELECT segmentation.remove_override(1, 1, 'done');  -- none left: false
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 1000}' WHERE name = 'Big';
SELECT segmentation.remove_override(2, 1, NULL);    -- 2 is not big: it leaves Big and Big fans
SELECT * FROM membership;
SELECT customer_id, name, action, cause, actor IS NOT NULL AS has_actor, reason FROM history WHERE actor IS DISTINCT FROM 'alice@example.com';

-- Errors: a manual segment, unknown segment or customer, NULLs; nothing written.
SELECT segmentation.include_customer(1, 2, 'no');
SELECT segmentation.exclude_customer(1, 99, 'no');
SELECT segmentation.remove_override(77, 1, 'no');
SELECT segmentation.include_customer(1, NULL, 'no');
SELECT segmentation.include_customer(NULL::bigint, 1, 'no');
SELECT count(*) AS overrides FROM segmentation.overrides;

-- A customer's overrides go with it; a segment's with it.
SELECT segmentation.exclude_customer(3, 1, 'x'), segmentation.exclude_customer(4, 4, 'y'),
       segmentation.include_customer(4, 1, 'z');
DELETE FROM o_customers WHERE id = 3;
SELECT customer_id, segment_id FROM segmentation.overrides ORDER BY 1, 2;
BEGIN;
DELETE FROM segmentation.segments WHERE id = 4;
SELECT customer_id, segment_id FROM segmentation.overrides ORDER BY 1, 2;
ROLLBACK;
-- member_counts counts membership only, not the override actions.
SELECT members FROM segmentation.member_counts(1, now(), now(), interval '1 day');
SELECT count(*) AS big_members FROM segmentation.assignments WHERE segment_id = 1;

DROP VIEW membership, history;
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
SELECT count(*) AS overrides_left FROM segmentation.overrides;
DELETE FROM segmentation.segments WHERE id = 3;
DELETE FROM segmentation.segments;
DROP TABLE o_customers, o_orders;
