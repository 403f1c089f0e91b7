-- DDL that would make tracked data change without the tracking triggers:
-- retyping a tracked column (even to its own type, with USING), inheritance
-- (children and parents of tracked tables, partitions), keys under a
-- nondeterministic collation, unlogged tables. Each is refused, at tracking
-- time and later. Objects built over the extension's key columns get the
-- extension's own error when tracking must retype those columns.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

-- "ok", or "SQLSTATE: message" (the statement is undone).
CREATE FUNCTION pg_temp.attempt(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE SCHEMA ddl;
CREATE TABLE ddl.customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text, note text);
CREATE TABLE ddl.orders (id serial PRIMARY KEY, customer_id bigint, amount numeric(10,2),
                         ordered_at timestamptz, note text);
INSERT INTO ddl.customers VALUES (1, '2025-01-01', 'GOLD'), (2, '2025-02-01', 'Silver'), (3, '2025-03-01', NULL);
INSERT INTO ddl.orders (customer_id, amount, ordered_at) VALUES
    (1, 60.40, '2025-04-01'), (1, 50.30, '2025-05-01'), (2, 99.60, '2025-04-15'), (3, 10.00, '2025-06-01');
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 100}', true);
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true);

------------------------------------------------------------------------------
-- Tables that cannot be tracked (nothing is tracked yet)
------------------------------------------------------------------------------

CREATE UNLOGGED TABLE ddl.unlogged_orders (LIKE ddl.orders);
CREATE TABLE ddl.old_orders (LIKE ddl.orders);
CREATE TABLE ddl.old_orders_2024 () INHERITS (ddl.old_orders);
CREATE TABLE ddl.parted_orders (LIKE ddl.orders) PARTITION BY RANGE (ordered_at);
CREATE TABLE ddl.parted_orders_all PARTITION OF ddl.parted_orders FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
CREATE COLLATION ddl.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ddl.ci_customers (id text COLLATE ddl.ci, created_at timestamptz);
CREATE TABLE ddl.ci_orders (customer varchar(10) COLLATE ddl.ci, amount numeric, ordered_at timestamptz);
INSERT INTO ddl.ci_customers VALUES ('abc', '2025-01-01'), ('ABC', '2025-01-02');
SELECT statement, pg_temp.attempt(statement) FROM unnest(ARRAY[
    $s$SELECT segmentation.track_orders('ddl.unlogged_orders', 'customer_id', 'amount', 'ordered_at')$s$,
    $s$SELECT segmentation.track_orders('ddl.old_orders', 'customer_id', 'amount', 'ordered_at')$s$,
    $s$SELECT segmentation.track_orders('ddl.old_orders_2024', 'customer_id', 'amount', 'ordered_at')$s$,
    $s$SELECT segmentation.track_orders('ddl.parted_orders_all', 'customer_id', 'amount', 'ordered_at')$s$,
    $s$SELECT segmentation.track_customers('ddl.ci_customers', 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_orders('ddl.ci_orders', 'customer', 'amount', 'ordered_at')$s$
]) AS statement;
-- A collation that is deterministic, whatever it sorts like, is fine.
CREATE TABLE ddl.c_orders (customer text COLLATE "C", amount numeric, ordered_at timestamptz);
SELECT segmentation.track_orders('ddl.c_orders', 'customer', 'amount', 'ordered_at');
SELECT segmentation.untrack_orders();
SELECT count(*) AS tracked_tables, (SELECT count(*) FROM segmentation.customer_metrics) AS customers
FROM segmentation.tracked_tables;

-- Tracking bigint keys retypes the extension's key columns from text: a view
-- or a table using customer_metrics' row type stops that with the
-- extension's error, which names them, and nothing is tracked.
CREATE VIEW ddl.metric_ids AS SELECT customer_id FROM segmentation.customer_metrics;
CREATE TABLE ddl.snapshots (taken_at timestamptz, metrics segmentation.customer_metrics);
\set VERBOSITY default
SELECT segmentation.track_customers('ddl.customers', 'id', 'created_at', 'tier');
DROP VIEW ddl.metric_ids;
SELECT segmentation.track_customers('ddl.customers', 'id', 'created_at', 'tier');
DROP TABLE ddl.snapshots;
SELECT count(*) AS tracked_tables FROM segmentation.tracked_tables;
SELECT segmentation.track_customers('ddl.customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('ddl.orders', 'customer_id', 'amount', 'ordered_at');

------------------------------------------------------------------------------
-- DDL on tracked tables
------------------------------------------------------------------------------

-- Any retyping of a tracked column is refused, whatever the type or USING:
-- the rewrite changes the values without firing the tracking triggers.
SELECT statement, pg_temp.attempt(statement) FROM unnest(ARRAY[
    $s$ALTER TABLE ddl.orders ALTER COLUMN amount TYPE numeric(10,2) USING amount * 2$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN amount TYPE numeric(6,0)$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN amount TYPE numeric$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN ordered_at TYPE timestamptz USING ordered_at + interval '1 year'$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN customer_id TYPE bigint USING customer_id + 1$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN customer_id TYPE text COLLATE ddl.ci$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN note TYPE varchar(20), ALTER COLUMN amount TYPE numeric(12,2)$s$,
    $s$ALTER TABLE ddl.customers ALTER COLUMN id TYPE bigint USING id * 10$s$,
    $s$ALTER TABLE ddl.customers ALTER COLUMN created_at TYPE timestamptz USING created_at - interval '100 days'$s$,
    $s$ALTER TABLE ddl.customers ALTER COLUMN tier TYPE text USING upper(tier)$s$,
    $s$ALTER TABLE ddl.customers ALTER COLUMN tier TYPE varchar(10)$s$
]) AS statement;

-- Inheritance: children of a tracked table (whose rows would bypass its
-- triggers but be counted by queries of it), a parent, a partitioned parent.
CREATE TABLE ddl.loose_orders (LIKE ddl.orders);
CREATE TABLE ddl.base (note text);
CREATE TABLE ddl.parted_all (LIKE ddl.orders) PARTITION BY RANGE (ordered_at);
CREATE FOREIGN DATA WRAPPER ddl_nothing;
CREATE SERVER ddl_nowhere FOREIGN DATA WRAPPER ddl_nothing;
SELECT statement, pg_temp.attempt(statement) FROM unnest(ARRAY[
    $s$CREATE TABLE ddl.orders_archive () INHERITS (ddl.orders)$s$,
    $s$CREATE TABLE ddl.customers_archive (extra int) INHERITS (ddl.base, ddl.customers)$s$,
    $s$CREATE FOREIGN TABLE ddl.remote_orders () INHERITS (ddl.orders) SERVER ddl_nowhere$s$,
    $s$ALTER TABLE ddl.loose_orders INHERIT ddl.orders$s$,
    $s$ALTER TABLE ddl.customers INHERIT ddl.base$s$,
    $s$ALTER TABLE ddl.parted_all ATTACH PARTITION ddl.orders FOR VALUES FROM (MINVALUE) TO (MAXVALUE)$s$
]) AS statement;

-- Unlogged: crash recovery would empty the table without a trigger.
SELECT statement, pg_temp.attempt(statement) FROM unnest(ARRAY[
    $s$ALTER TABLE ddl.orders SET UNLOGGED$s$,
    $s$ALTER TABLE ddl.customers SET UNLOGGED$s$
]) AS statement;
SELECT relname, relpersistence FROM pg_class WHERE oid IN ('ddl.orders'::regclass, 'ddl.customers'::regclass) ORDER BY 1;

-- DDL that leaves the tracked columns' values alone stays allowed.
SELECT statement, pg_temp.attempt(statement) FROM unnest(ARRAY[
    $s$ALTER TABLE ddl.orders ALTER COLUMN note TYPE varchar(20) USING upper(note)$s$,
    $s$ALTER TABLE ddl.customers ALTER COLUMN note TYPE varchar(20), ADD COLUMN score int DEFAULT 1$s$,
    $s$ALTER TABLE ddl.orders SET LOGGED$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN amount SET NOT NULL$s$,
    $s$ALTER TABLE ddl.orders ALTER COLUMN amount SET STATISTICS 500$s$,
    $s$CREATE TABLE ddl.orders_copy (LIKE ddl.orders INCLUDING ALL)$s$,
    $s$ALTER TABLE ddl.loose_orders INHERIT ddl.base$s$
]) AS statement;

-- Behind the event triggers' back (replica mode fires none), an inheritance
-- child or SET UNLOGGED breaks the tracking: writes and verify() stop with
-- 55000 until it is undone.
SET session_replication_role = replica;
CREATE TABLE ddl.orders_sneaky () INHERITS (ddl.orders);
RESET session_replication_role;
SELECT pg_temp.attempt($s$INSERT INTO ddl.orders (customer_id, amount, ordered_at) VALUES (1, 1, '2025-07-02')$s$) AS insert,
       pg_temp.attempt($s$SELECT count(*) FROM segmentation.verify('2025-08-01')$s$) AS verify;
DROP TABLE ddl.orders_sneaky;
SET session_replication_role = replica;
ALTER TABLE ddl.customers SET UNLOGGED;
RESET session_replication_role;
SELECT pg_temp.attempt($s$UPDATE ddl.customers SET tier = tier$s$) AS "update";
ALTER TABLE ddl.customers SET LOGGED;

-- Tracking still works, and nothing drifted.
INSERT INTO ddl.orders (customer_id, amount, ordered_at) VALUES (3, 95.00, '2025-07-01');
UPDATE ddl.customers SET tier = 'GOLD' WHERE id = 2;
SELECT customer_id, lifetime_value, order_count, last_order_at::date, customer_since::date, loyalty_level
FROM segmentation.customer_metrics ORDER BY customer_id;
SELECT customer_id, segment_id FROM segmentation.assignments ORDER BY 1, 2;
SELECT count(*) AS drift FROM segmentation.verify('2025-08-01');

-- Renaming a value of the tracked loyalty level's enum would change
-- customers' levels without a trigger: refused. Adding a value, or renaming
-- one of another enum, changes no level.
CREATE TYPE ddl.tier AS ENUM ('GOLD', 'SILVER');
CREATE TYPE ddl.colour AS ENUM ('RED');
ALTER TABLE ddl.customers ADD COLUMN level ddl.tier;
UPDATE ddl.customers SET level = 'GOLD' WHERE id = 1;
SELECT segmentation.untrack_customers(), segmentation.track_customers('ddl.customers', 'id', 'created_at', 'level');
SELECT statement, pg_temp.attempt(statement) FROM unnest(ARRAY[
    $s$ALTER TYPE ddl.tier RENAME VALUE 'GOLD' TO 'PLATINUM'$s$,
    $s$ALTER TYPE ddl.tier ADD VALUE 'BRONZE'$s$,
    $s$ALTER TYPE ddl.colour RENAME VALUE 'RED' TO 'BLUE'$s$
]) AS statement;
SELECT customer_id, loyalty_level FROM segmentation.customer_metrics ORDER BY customer_id;
SELECT count(*) AS drift FROM segmentation.verify('2025-08-01');

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP SCHEMA ddl CASCADE;
DROP SERVER ddl_nowhere;
DROP FOREIGN DATA WRAPPER ddl_nothing;
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
