-- Tracking a shop's own tables: arguments are checked, metrics are
-- back-filled in one pass and kept exact by triggers, for text keys.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE SCHEMA shop;
CREATE TABLE shop.customers (id text PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE shop.orders (id serial PRIMARY KEY, customer text, total numeric(10,2), placed_at timestamptz);
CREATE VIEW shop.customer_view AS SELECT * FROM shop.customers;
INSERT INTO shop.customers VALUES
    ('alice', '2024-01-01', 'GOLD'), ('bob', '2024-06-01', 'SILVER'), ('carol', '2025-01-01', NULL), ('dave', '2025-06-01', 'GOLD');
INSERT INTO shop.orders (customer, total, placed_at) VALUES
    ('alice', 400.00, '2025-01-10'), ('alice', 350.50, '2025-02-10'), ('alice', 249.50, '2025-03-10'),
    ('bob', 20.00, '2025-01-05'), ('carol', 99.99, '2025-04-01'), ('ghost', 10.00, '2025-04-02');

-- Bad arguments: each is refused with its own SQLSTATE, and nothing is tracked.
\set VERBOSITY sqlstate
SELECT segmentation.track_customers('shop.nope', 'id', 'created_at');
\set VERBOSITY default
SELECT segmentation.track_customers('shop.customer_view', 'id', 'created_at');
SELECT segmentation.track_customers('shop.customers', 'identifier', 'created_at');
SELECT segmentation.track_customers('shop.customers', 'created_at', 'created_at');
SELECT segmentation.track_customers('shop.customers', 'id', 'tier');
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'created_at');
SELECT segmentation.track_customers('shop.customers', NULL, 'created_at');
SELECT segmentation.track_orders('shop.orders', 'customer', 'placed_at', 'placed_at');
-- Orders alone can be tracked (here by their integer id, as if it were the customer).
SELECT segmentation.track_orders('shop.orders', 'id', 'total', 'placed_at');
SELECT segmentation.untrack_orders();
SELECT count(*) AS tracked_tables FROM segmentation.tracked_tables;

-- Tracking back-fills metrics in one pass.
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('shop.orders', 'id', 'total', 'placed_at');  -- integer keys against text ids
SELECT segmentation.track_orders('shop.orders', 'customer', 'total', 'placed_at');
SELECT kind, relation, customer_column, time_column, amount_column, loyalty_column, live FROM segmentation.tracked_tables ORDER BY kind;
SELECT customer_id, lifetime_value, order_count, first_order_at::date, last_order_at::date, customer_since::date, loyalty_level
FROM segmentation.customer_metrics ORDER BY customer_id;

-- Tracking twice, or with keys of another kind, is refused.
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at');
SELECT segmentation.track_orders('shop.orders', 'customer', 'total', 'placed_at');

-- Triggers keep metrics exact: insert, correct an amount, move an order to
-- another customer, delete the latest order (its time must be recomputed).
INSERT INTO shop.orders (customer, total, placed_at) VALUES ('bob', 30.00, '2025-05-01'), ('bob', 5.25, '2025-04-01');
UPDATE shop.orders SET total = 25.00 WHERE customer = 'bob' AND total = 20.00;
UPDATE shop.orders SET customer = 'dave' WHERE customer = 'carol';
DELETE FROM shop.orders WHERE customer = 'alice' AND placed_at = '2025-03-10';
UPDATE shop.orders SET placed_at = '2024-12-31' WHERE customer = 'alice' AND total = 350.50;
SELECT customer_id, lifetime_value, order_count, first_order_at::date, last_order_at::date
FROM segmentation.customer_metrics ORDER BY customer_id;
SELECT count(*) AS drift FROM segmentation.verify();

-- Updates that touch no tracked column change nothing.
ALTER TABLE shop.orders ADD COLUMN note text;
UPDATE shop.orders SET note = 'checked';
SELECT count(*) AS drift FROM segmentation.verify();

-- NULL customers and amounts: an order without a customer is ignored, one
-- without an amount counts with 0.
INSERT INTO shop.orders (customer, total, placed_at) VALUES (NULL, 100, '2025-06-01'), ('dave', NULL, '2025-06-02');
SELECT customer_id, lifetime_value, order_count, last_order_at::date FROM segmentation.customer_metrics WHERE customer_id = 'dave';

-- Customers come and go with their table; orders of unknown customers wait
-- for them.
INSERT INTO shop.customers VALUES ('ghost', '2025-03-01', 'BRONZE');
UPDATE shop.customers SET tier = 'PLATINUM' WHERE id = 'dave';
UPDATE shop.customers SET id = 'robert' WHERE id = 'bob';
SELECT customer_id, lifetime_value, order_count, customer_since::date, loyalty_level FROM segmentation.customer_metrics ORDER BY customer_id;
DELETE FROM shop.customers WHERE id = 'ghost';
SELECT count(*) AS drift FROM segmentation.verify();

-- ROLLBACK undoes the metrics with the data.
BEGIN;
INSERT INTO shop.orders (customer, total, placed_at) VALUES ('alice', 1000, '2025-07-01');
SELECT lifetime_value FROM segmentation.customer_metrics WHERE customer_id = 'alice';
ROLLBACK;
SELECT lifetime_value FROM segmentation.customer_metrics WHERE customer_id = 'alice';

-- TRUNCATE of orders zeroes every order metric; of customers, forgets them.
TRUNCATE shop.orders;
SELECT customer_id, lifetime_value, order_count, first_order_at, last_order_at FROM segmentation.customer_metrics ORDER BY customer_id;
SELECT count(*) AS drift FROM segmentation.verify();

-- Tracked tables and columns cannot be dropped from under the extension.
DROP VIEW shop.customer_view;
DROP TABLE shop.orders;
ALTER TABLE shop.customers DROP COLUMN tier;
ALTER TABLE shop.orders DROP COLUMN note;  -- an untracked column is fine
DROP SCHEMA shop CASCADE;

TRUNCATE shop.customers CASCADE;
SELECT count(*) AS customers FROM segmentation.customer_metrics;

-- Untracking removes the triggers; the tables are free again.
SELECT segmentation.untrack_orders(), segmentation.untrack_customers(), segmentation.untrack_orders();
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid IN ('shop.orders'::regclass, 'shop.customers'::regclass);
DROP SCHEMA shop CASCADE;

-- Leave no history behind for the next test.
DELETE FROM segmentation.assignment_log;
