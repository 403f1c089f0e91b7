-- Live membership: segments follow every order, customer and definition
-- change inside the changing transaction, and the log says why.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Segment ids appear below: start them from 1 whatever ran before.
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2), ordered_at timestamptz);
CREATE INDEX ON orders (customer_id);
INSERT INTO customers VALUES (1, now() - interval '400 days', 'GOLD'), (2, now() - interval '400 days', 'SILVER'),
                             (3, now() - interval '5 days', NULL);
INSERT INTO orders (customer_id, amount, ordered_at) VALUES
    (1, 600, now() - interval '200 days'), (1, 500, now() - interval '150 days'),
    (2, 50, now() - interval '300 days');
SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at');

CREATE VIEW membership AS
    SELECT a.customer_id, s.name, a.is_automatic FROM segmentation.assignments a
    JOIN segmentation.segments s ON s.id = a.segment_id ORDER BY 1, 2;
CREATE VIEW history AS
    SELECT l.customer_id, s.name, l.action, l.cause, l.actor, l.reason FROM segmentation.assignment_log l
    LEFT JOIN segmentation.segments s ON s.id = l.segment_id ORDER BY l.id;

-- A new automatic segment is populated in the creating transaction, and
-- a rollback takes it away again.
BEGIN;
SELECT segmentation.create_segment('Regulars', '{"minOrders": 3}', true) > 0 AS created;
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) > 0 AS created;
SELECT * FROM membership;
ROLLBACK;
SELECT count(*) AS assignments_after_rollback FROM segmentation.assignments;

SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) AS big \gset
SELECT segmentation.create_segment('Regulars', '{"minOrders": 3}', true) AS regulars \gset
INSERT INTO segmentation.segments (name, criteria, is_automatic)  -- plain SQL works the same
VALUES ('Lapsed', '{"minDaysSinceLastPurchase": 90}', true);
SELECT segmentation.create_segment('VIP', '{}', false) AS vip \gset
SELECT segmentation.assign_manual_segment(2, :vip);
SELECT * FROM membership;

-- Orders move customers in and out before the statement returns. Five
-- orders in one statement cross "Regulars" once: one log entry, not five.
INSERT INTO orders (customer_id, amount, ordered_at) SELECT 2, 1, now() FROM generate_series(1, 5);
SELECT * FROM membership;
DELETE FROM orders WHERE customer_id = 1 AND amount = 600;
SELECT * FROM membership WHERE customer_id = 1;
SELECT customer_id, name, action, cause FROM history WHERE cause = 'order';

-- Metrics are maintained incrementally: an order is added to its customer's
-- totals without reading the customer's other orders (no scan of the orders
-- table or its indexes), and so is a removal, unless the order held the
-- customer's first or last time: then that customer's orders are read, once.
-- (The counters are this backend's, counted from the transaction's start.)
CREATE FUNCTION pg_temp.order_scans() RETURNS bigint LANGUAGE sql AS $$
    SELECT pg_stat_get_xact_numscans('orders'::regclass) + coalesce(sum(pg_stat_get_xact_numscans(indexrelid)), 0)
    FROM pg_index WHERE indrelid = 'orders'::regclass
$$;
BEGIN;
SELECT pg_temp.order_scans() AS scans \gset
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (2, 5, now() - interval '1 day');
SELECT pg_temp.order_scans() - :scans AS scans_for_an_insert;
DELETE FROM orders WHERE customer_id = 2 AND amount = 5;        -- one scan: the statement's own
SELECT pg_temp.order_scans() - :scans AS scans_after_a_delete;
DELETE FROM orders WHERE customer_id = 2 AND amount = 1;        -- the latest orders: one more, to find the new last
SELECT pg_temp.order_scans() - :scans AS scans_after_deleting_the_latest;
SELECT order_count, last_order_at < now() - interval '299 days' AS last_is_the_old_one
FROM segmentation.customer_metrics WHERE customer_id = 2;
ROLLBACK;

-- A customer's loyalty tier or creation time changing re-evaluates it.
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true) AS gold \gset
UPDATE customers SET tier = 'GOLD' WHERE id = 3;
UPDATE customers SET tier = 'SILVER' WHERE id = 1;
SELECT * FROM membership WHERE name = 'Gold';

-- Editing criteria re-evaluates that segment only. A planted error in
-- another segment stays (verify() still reports it), and manual
-- assignments are never touched.
DELETE FROM segmentation.assignments WHERE segment_id = :gold;
UPDATE segmentation.segments SET criteria = '{"minOrders": 1}' WHERE id = :regulars;
SELECT * FROM membership;
SELECT customer_id, problem FROM segmentation.verify();
SELECT * FROM segmentation.assign_automatic_segments(3);
SELECT count(*) AS drift FROM segmentation.verify();

-- A segment is automatic or manual for life; its edits are stamped.
UPDATE segmentation.segments SET is_automatic = true WHERE id = :vip;
SELECT updated_at > created_at AS stamped FROM segmentation.segments WHERE id = :regulars;

-- Deleting a segment removes its assignments, manual ones included, and logs it.
DELETE FROM segmentation.segments WHERE id = :vip;
SELECT customer_id, action, cause FROM segmentation.assignment_log WHERE segment_id = :vip ORDER BY id;
SELECT count(*) AS vip_assignments FROM segmentation.assignments WHERE segment_id = :vip;

-- Without live evaluation (bulk loads) metrics stay exact, membership
-- waits, and the customers are due for refresh_due().
SELECT segmentation.set_live_evaluation('orders', false);
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (3, 2000, now());
SELECT lifetime_value, reevaluate_at FROM segmentation.customer_metrics WHERE customer_id = 3;
SELECT * FROM membership WHERE customer_id = 3;
-- A segment created meanwhile is evaluated for everyone, but only that
-- segment: due customers stay due for the rest (customer 1 is made due by
-- time here, as if its next change had passed).
BEGIN;
UPDATE segmentation.customer_metrics SET reevaluate_at = now() - interval '1 hour' WHERE customer_id = 1;
SELECT segmentation.create_segment('Tiered', '{"loyaltyLevels": ["GOLD", "SILVER"]}', true) > 0 AS created;
SELECT customer_id, reevaluate_at <= now() AS still_due FROM segmentation.customer_metrics ORDER BY 1;
ROLLBACK;
SELECT customers, added, removed FROM segmentation.refresh_due();
SELECT * FROM membership WHERE customer_id = 3;
SELECT segmentation.set_live_evaluation('orders', true);
SELECT segmentation.set_live_evaluation('membership', true);

-- refresh_all() with nothing to change changes nothing.
SELECT customers, added, removed FROM segmentation.refresh_all();

-- Time alone: customer 3 lapses 90 days after its last order. refresh_due()
-- at an instant past that moves it (evaluated as of that instant).
-- (in exact days: calendar dates would move with the time of day and daylight saving)
SELECT round(extract(epoch FROM reevaluate_at - now()) / 86400) AS days_until_due FROM segmentation.customer_metrics WHERE customer_id = 3;
SELECT customers, added, removed FROM segmentation.refresh_due(now() + interval '89 days');
SELECT customers, added, removed FROM segmentation.refresh_due(now() + interval '91 days');
SELECT name FROM segmentation.customer_segments(3) ORDER BY name;
SELECT customer_id, name, action, cause FROM history WHERE cause IN ('time', 'refresh');

-- Members of a segment over time, replayed from the log.
SELECT members FROM segmentation.member_counts(:big, now() - interval '1 minute', now(), interval '1 minute');

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP VIEW membership, history;
DROP TABLE customers, orders;
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
