-- A plain edit of an automatic segment (create_segment, INSERT, UPDATE of its
-- criteria) re-evaluates that segment and the segments whose criteria refer
-- to it (inSegment, notInSegment), directly or through others, and nothing
-- else: other segments' assignments and log rows stay as they are, even when
-- they are out of date. In READ COMMITTED the trigger writes what its scan
-- found at once (the definitions lock keeps every other writer out); in
-- REPEATABLE READ it locks and re-reads the customers it changes. Customers
-- with overrides are read again with them. verify() checks the result.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

CREATE TABLE e_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE e_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2),
                       ordered_at timestamptz);
-- Lifetime values: 1: 100, 2: 300, 3: 600, 4: 1200, 5: none, 6: 2500.
INSERT INTO e_customers VALUES (1, now() - interval '400 days', 'GOLD'), (2, now() - interval '400 days', 'GOLD'),
                               (3, now() - interval '400 days', 'SILVER'), (4, now() - interval '400 days', 'GOLD'),
                               (5, now() - interval '400 days', 'GOLD'), (6, now() - interval '400 days', 'SILVER');
INSERT INTO e_orders (customer_id, amount, ordered_at) VALUES
    (1, 100, now() - interval '200 days'), (2, 300, now() - interval '100 days'),
    (3, 600, now() - interval '5 days'), (4, 1200, now() - interval '300 days'),
    (6, 2000, now() - interval '250 days'), (6, 500, now() - interval '6 days');
SELECT segmentation.track_customers('e_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('e_orders', 'customer_id', 'amount', 'ordered_at');

CREATE VIEW membership AS
    SELECT s.id AS segment, pg_catalog.array_agg(a.customer_id ORDER BY a.customer_id) AS customers
    FROM segmentation.segments s LEFT JOIN segmentation.assignments a ON a.segment_id = s.id
    GROUP BY s.id ORDER BY s.id;
CREATE TABLE mark (id bigint);
INSERT INTO mark VALUES (0);
-- The log rows written since the last mark, then a new mark.
CREATE FUNCTION logged_since_mark() RETURNS TABLE (customer_id bigint, segment_id bigint, action text, cause text)
LANGUAGE sql AS $$
    SELECT l.customer_id, l.segment_id, l.action, l.cause FROM segmentation.assignment_log l
    WHERE l.id > (SELECT id FROM mark) ORDER BY l.segment_id, l.customer_id, l.action
$$;
CREATE FUNCTION set_mark() RETURNS void
LANGUAGE sql AS $$ UPDATE mark SET id = (SELECT coalesce(max(id), 0) FROM segmentation.assignment_log) $$;

-- 1 Spenders; 2 Gold spenders, in 1; 3 Others, not in 2 (a chain through
-- two references); 4 Gold, which nothing edited refers to; 5 Gold whales,
-- in 4; 6 Recent, by time.
SELECT segmentation.create_segment('Spenders', '{"minLifetimeValue": 500}', true);
SELECT segmentation.create_segment('Gold spenders', '{"inSegment": 1, "loyaltyLevels": ["GOLD"]}', true);
SELECT segmentation.create_segment('Others', '{"notInSegment": 2}', true);
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true);
SELECT segmentation.create_segment('Gold whales', '{"inSegment": 4, "minLifetimeValue": 1000}', true);
SELECT segmentation.create_segment('Recent', '{"maxDaysSinceLastPurchase": 30}', true);
SELECT * FROM membership;
SELECT * FROM segmentation.verify();

-- Gold's criteria changed while triggers did not fire: its membership is out
-- of date (verify says so), and stays so through edits of other segments.
SET session_replication_role = replica;
UPDATE segmentation.segments SET criteria = '{"loyaltyLevels": ["SILVER"]}' WHERE id = 4;
RESET session_replication_role;
SELECT * FROM segmentation.verify() ORDER BY 1, 2, 3;
SELECT set_mark();

-- Editing Spenders moves customer 2 into it, hence into Gold spenders, hence
-- out of Others; Gold, Gold whales and Recent are not touched.
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 250}' WHERE id = 1;
SELECT * FROM membership;
SELECT * FROM logged_since_mark();
SELECT * FROM segmentation.verify() ORDER BY 1, 2, 3;  -- still only Gold's (and Gold whales') drift
SELECT set_mark();

-- The same in REPEATABLE READ (the customers changed are locked and re-read).
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 1000}' WHERE id = 1;
COMMIT;
SELECT * FROM membership;
SELECT * FROM logged_since_mark();
SELECT set_mark();

-- An edit of Gold spenders moves Others only, not Spenders, which it refers to.
UPDATE segmentation.segments SET criteria = '{"inSegment": 1}' WHERE id = 2;
SELECT * FROM membership;
SELECT * FROM logged_since_mark();
SELECT set_mark();

-- An override is kept through an edit: customer 1 stays in Gold spenders
-- and out of Others (read again with its overrides).
SELECT segmentation.include_customer(1, 2, 'test');
SELECT set_mark();
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 2000}' WHERE id = 1;
SELECT * FROM membership;
SELECT * FROM logged_since_mark();
SELECT set_mark();

-- A time-based segment's edit: members and due times as a full evaluation's.
UPDATE segmentation.segments SET criteria = '{"maxDaysSinceLastPurchase": 120}' WHERE id = 6;
SELECT * FROM membership WHERE segment = 6;
SELECT * FROM logged_since_mark();
SELECT set_mark();

-- A new segment referring to Spenders, by INSERT, is populated alone.
INSERT INTO segmentation.segments (name, criteria, is_automatic)
VALUES ('Silver spenders', '{"inSegment": 1, "loyaltyLevels": ["SILVER"]}', true);
SELECT * FROM membership WHERE segment = 7;
SELECT * FROM logged_since_mark();
SELECT set_mark();

-- Drift only where it was made; refresh_all mends it.
SELECT * FROM segmentation.verify() ORDER BY 1, 2, 3;
SELECT * FROM segmentation.refresh_all();
SELECT * FROM segmentation.verify();
SELECT * FROM membership WHERE segment IN (4, 5);

SELECT segmentation.remove_override(1, 2);
DROP VIEW membership;
DROP FUNCTION logged_since_mark(), set_mark();
DROP TABLE mark;
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DELETE FROM segmentation.segments WHERE criteria::text LIKE '%Segment%';
DELETE FROM segmentation.segments;
DROP TABLE e_customers, e_orders;
DELETE FROM segmentation.assignment_log;
