-- timestamp and date columns are read the same way in every session: a
-- timestamp as UTC wall time, a date as midnight UTC. Rows written under one
-- TimeZone give the same metrics, and verify() the same answer, under any
-- other: in the back-fill, the order and customer triggers (insert, update,
-- delete of a first or last order), refresh_all() and verify().
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Phase 1: customers with a date, orders with a timestamp.
SET TimeZone = 'Pacific/Auckland';
CREATE TABLE tz_customers (id bigint PRIMARY KEY, joined date, tier text);
CREATE TABLE tz_orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric, ordered_at timestamp);
INSERT INTO tz_customers VALUES (1, '2026-03-01', 'GOLD'), (2, '2026-03-02', NULL);
INSERT INTO tz_orders VALUES (1, 1, 10, '2026-03-10 01:00'), (2, 1, 20, '2026-03-12 23:30');
-- back-fill, under Auckland
SELECT segmentation.track_customers('tz_customers', 'id', 'joined', 'tier');
SELECT segmentation.track_orders('tz_orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.create_segment('tz big', '{"minLifetimeValue": 25}', true) > 0 AS created;

-- live writes, each under another zone
SET TimeZone = 'America/Los_Angeles';
INSERT INTO tz_orders VALUES (3, 2, 5, '2026-03-05 12:00'), (4, 2, 7, '2026-03-20 00:00');
SET TimeZone = 'Asia/Tokyo';
INSERT INTO tz_customers VALUES (3, '2026-02-28', 'SILVER');
INSERT INTO tz_orders VALUES (5, 3, 1, '2026-03-01 00:00');
UPDATE tz_customers SET joined = '2026-02-27' WHERE id = 2;
SET TimeZone = 'Pacific/Chatham';
DELETE FROM tz_orders WHERE id = 2;   -- customer 1's last order leaves: recomputed
INSERT INTO tz_orders VALUES (6, 1, 30, '2026-03-15 06:45');

-- The metrics, shown in UTC: the wall times of the rows, unchanged.
SET TimeZone = 'UTC';
SELECT customer_id, lifetime_value, order_count, first_order_at, last_order_at, customer_since
FROM segmentation.customer_metrics ORDER BY 1;

-- verify() is clean in every zone.
SET TimeZone = 'Pacific/Auckland';
SELECT * FROM segmentation.verify('2026-04-01 00:00+00');
SET TimeZone = 'America/Los_Angeles';
SELECT * FROM segmentation.verify('2026-04-01 00:00+00');
SET TimeZone = 'Asia/Kolkata';
SELECT * FROM segmentation.verify('2026-04-01 00:00+00');

-- A clock bound at an explicit instant: customer 2 joined 2026-02-27, 00:00
-- UTC, exactly 30 days before as_of.
SELECT m.customer_id FROM segmentation.customer_metrics m
WHERE segmentation.segment_match(m, '{"minTenureDays": 30}', '2026-03-29 00:00+00') ORDER BY 1;

-- refresh_all() under another zone changes nothing.
SET TimeZone = 'Pacific/Kiritimati';
SELECT * FROM segmentation.refresh_all();
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DELETE FROM segmentation.segments WHERE name = 'tz big';
DELETE FROM segmentation.assignment_log;  -- phase 2 has text keys

-- Phase 2: customers with a timestamp, orders with a date.
SET TimeZone = 'America/St_Johns';
CREATE TABLE tz_customers2 (id text PRIMARY KEY, joined timestamp);
CREATE TABLE tz_orders2 (id bigint PRIMARY KEY, customer_id text, amount integer, ordered_on date);
INSERT INTO tz_customers2 VALUES ('a', '2026-01-31 23:59:59.999999');
INSERT INTO tz_orders2 VALUES (1, 'a', 3, '2026-02-01');
SELECT segmentation.track_customers('tz_customers2', 'id', 'joined');
SELECT segmentation.track_orders('tz_orders2', 'customer_id', 'amount', 'ordered_on');
SET TimeZone = 'Asia/Kathmandu';
INSERT INTO tz_customers2 VALUES ('b', '2026-02-10 12:00');
INSERT INTO tz_orders2 VALUES (2, 'b', 4, '2026-02-11'), (3, 'a', 5, '2026-02-28');
UPDATE tz_orders2 SET ordered_on = '2026-02-27' WHERE id = 3;
SET TimeZone = 'UTC';
SELECT customer_id, lifetime_value, order_count, first_order_at, last_order_at, customer_since
FROM segmentation.customer_metrics ORDER BY 1;
SET TimeZone = 'America/St_Johns';
SELECT * FROM segmentation.verify('2026-04-01 00:00+00');
SET TimeZone = 'Pacific/Auckland';
SELECT * FROM segmentation.verify('2026-04-01 00:00+00');
SET TimeZone = 'Asia/Kathmandu';
SELECT * FROM segmentation.refresh_all();
SET TimeZone = 'UTC';
SELECT count(*) FROM segmentation.verify('2026-04-01 00:00+00');
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP TABLE tz_customers, tz_orders, tz_customers2, tz_orders2;
DELETE FROM segmentation.assignment_log;
RESET TimeZone;
