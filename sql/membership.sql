-- Segment membership in criteria: inSegment / notInSegment of manual and
-- automatic segments, checked when stored (existence, cycles), protected
-- from deletion while referred to, evaluated in the order of the
-- references, and kept live: every change that moves a customer into or out
-- of a referred segment moves it in the dependent segments in the same
-- statement. verify() checks it all.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

CREATE TABLE m_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE m_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2),
                       ordered_at timestamptz);
INSERT INTO m_customers VALUES (1, now() - interval '400 days', 'GOLD'), (2, now() - interval '400 days', 'SILVER'),
                               (3, now() - interval '400 days', NULL), (4, now() - interval '400 days', 'GOLD');
INSERT INTO m_orders (customer_id, amount, ordered_at) VALUES
    (1, 600, now() - interval '200 days'), (1, 500, now() - interval '150 days'),
    (2, 50, now() - interval '300 days'), (4, 2000, now() - interval '10 days');
SELECT segmentation.track_customers('m_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('m_orders', 'customer_id', 'amount', 'ordered_at');

CREATE VIEW membership AS
    SELECT a.customer_id, s.name FROM segmentation.assignments a
    JOIN segmentation.segments s ON s.id = a.segment_id ORDER BY 1, 2;
CREATE VIEW history AS
    SELECT l.customer_id, s.name, l.action, l.cause FROM segmentation.assignment_log l
    LEFT JOIN segmentation.segments s ON s.id = l.segment_id ORDER BY l.id;

-- 1 Big (automatic), 2 VIP (manual), 3 Big VIPs = in Big and in VIP,
-- 4 Big strangers = in Big, in no VIP segment, 5 Gold VIPs = gold and (in
-- "Big VIPs" or in "VIP"), a chain through three segments.
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true);
SELECT segmentation.create_segment('VIP', '{}', false);
SELECT segmentation.assign_manual_segment(1, 2);
SELECT segmentation.create_segment('Big VIPs', '{"inSegment": 1, "all": [{"inSegment": [2]}]}', true);
SELECT segmentation.create_segment('Big strangers', '{"inSegment": 1, "notInSegment": [2, 3]}', true);
SELECT segmentation.create_segment('Gold VIPs', '{"loyaltyLevels": ["GOLD"], "any": [{"inSegment": 3}, {"inSegment": 2}]}', true);
SELECT * FROM membership;

-- Evaluation follows references, not ids: a segment may refer to a later one.
INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Placeholder', '{"minOrders": 1000}', true);
UPDATE segmentation.segments SET criteria = '{"inSegment": 3}' WHERE id = 1;  -- Big := Big VIPs: a cycle
UPDATE segmentation.segments SET criteria = '{"notInSegment": 7}' WHERE name = 'Placeholder';  -- 7 does not exist yet
UPDATE segmentation.segments SET criteria = '{"notInSegment": 5}' WHERE name = 'Placeholder';
SELECT * FROM membership WHERE name = 'Placeholder';

-- Stored criteria are checked whatever writes them.
SELECT segmentation.create_segment('Loop', '{"inSegment": 99}', true);
INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Nowhere', '{"any": [{"notInSegment": [1, 42]}]}', true);
UPDATE segmentation.segments SET criteria = '{"not": {"inSegment": 4}}' WHERE name = 'Big strangers';
UPDATE segmentation.segments SET criteria = '{"inSegment": 5}' WHERE name = 'Big';
SELECT segmentation.create_segment('Bad', '{"inSegment": []}', true);
SELECT segmentation.create_segment('Bad', '{"inSegment": "1"}', true);
SELECT segmentation.create_segment('Bad', '{"any": [{"notInSegment": [1, 2.5]}]}', true);
SELECT segmentation.check_criteria('{"inSegment": 12345}');  -- syntax only: existence is checked when stored
SELECT count(*) AS segments FROM segmentation.segments;

-- Deleting a segment others refer to is refused, naming them, by any path.
DELETE FROM segmentation.segments WHERE id = 2;
DELETE FROM segmentation.segments WHERE id = 1;
BEGIN;
TRUNCATE segmentation.segments;  -- everything goes: nothing left to refer
SELECT count(*) AS segments, (SELECT count(*) FROM segmentation.assignments) AS assignments FROM segmentation.segments;
ROLLBACK;
BEGIN;
DELETE FROM segmentation.segments WHERE id IN (3, 5, 6);  -- Big strangers still refers to Big VIPs
ROLLBACK;
BEGIN;
DELETE FROM segmentation.segments WHERE id IN (3, 4, 5, 6);
DELETE FROM segmentation.segments WHERE id = 2;
SELECT name FROM segmentation.segments ORDER BY id;
ROLLBACK;

-- Live: an order moves customer 2 into Big, hence into Big strangers
-- (not a VIP), in the same statement.
INSERT INTO m_orders (customer_id, amount, ordered_at) VALUES (2, 1000, now() - interval '1 day');
SELECT * FROM membership WHERE customer_id = 2;
-- A manual assignment moves it out of Big strangers and into Big VIPs.
SELECT segmentation.assign_manual_segment(2, 2);
SELECT * FROM membership WHERE customer_id = 2;
SELECT segmentation.remove_manual_segment(2, 2, 'test');
SELECT * FROM membership WHERE customer_id = 2;
-- A customer change: customer 2 turns GOLD; not a VIP, it stays out of
-- Gold VIPs until the manual assignment, which moves it through three levels
-- (Big VIPs, then Gold VIPs, then out of Placeholder).
UPDATE m_customers SET tier = 'GOLD' WHERE id = 2;
SELECT * FROM membership WHERE customer_id = 2;
SELECT segmentation.assign_manual_segment(2, 2);
SELECT * FROM membership WHERE customer_id = 2;
-- A definition change cascades: Big now needs 5,000; customers leave Big and
-- every segment built on it, in the same statement.
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 5000}' WHERE name = 'Big';
SELECT * FROM membership;
SELECT customer_id, name, action, cause FROM history WHERE cause IN ('definition', 'manual') ORDER BY 1, 2, 3;
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 1000}' WHERE name = 'Big';
-- Order deletes cascade as well.
DELETE FROM m_orders WHERE customer_id = 4;
SELECT * FROM membership WHERE customer_id = 4;

-- Matching by id sees the customer's segments; over a metrics row it cannot.
SELECT segmentation.segment_match(1, '{"inSegment": 3}') AS one_in_big_vips,
       segmentation.segment_match(2, '{"notInSegment": 2}') AS two_not_vip,
       segmentation.segment_match(3, '{"inSegment": [1, 2]}') AS three_in_big_or_vip;
SELECT segmentation.segment_match(1, '{"inSegment": 77}');
SELECT segmentation.segment_match(m, '{"inSegment": 1}') FROM segmentation.customer_metrics m WHERE customer_id = 1;
SELECT count(*) FROM segmentation.customer_metrics m JOIN segmentation.segments s
    ON s.is_automatic AND segmentation.segment_match(m, s.criteria);
SELECT segmentation.calculate_automatic_segments(1), segmentation.calculate_automatic_segments(2);

-- refresh_all and verify agree with the live state, and verify finds drift
-- in a dependent segment.
SELECT * FROM segmentation.refresh_all();
SELECT * FROM segmentation.verify();
SET session_replication_role = replica;
DELETE FROM segmentation.assignments WHERE customer_id = 1 AND segment_id = 3;
SET session_replication_role = DEFAULT;
SELECT * FROM segmentation.verify();
SELECT * FROM segmentation.refresh_all();
SELECT * FROM segmentation.verify();

DROP VIEW membership, history;
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DELETE FROM segmentation.segments WHERE criteria::text LIKE '%Segment%';
DELETE FROM segmentation.segments;
DROP TABLE m_customers, m_orders;
