-- Citus (a coordinator and two workers, scripts/citus-tests.sh): Citus
-- tables not distributed by customer and reference tables cannot be tracked, and a tracked
-- table cannot become one (0A000); local tables in the same database are
-- tracked exactly as without Citus. Errors show their SQLSTATE through
-- LAST_ERROR_SQLSTATE; CONTEXT lines would name the nodes' ports.
\set SHOW_CONTEXT never
SELECT count(*) AS workers FROM pg_dist_node WHERE isactive AND groupid <> 0;

-- Created on the coordinator, the extension is created on the workers too.
CREATE EXTENSION segmentation;
SELECT success, result = (SELECT extversion FROM pg_extension WHERE extname = 'segmentation') AS same_version
FROM run_command_on_workers($$SELECT extversion FROM pg_extension WHERE extname = 'segmentation'$$);

-- Distributed customers, and orders distributed by their own id (not by
-- customer: test/citus/sql/citus_orders.sql tracks orders distributed by customer).
CREATE TABLE shop_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE shop_orders (id bigint, customer_id bigint NOT NULL, amount numeric(10,2),
                          ordered_at timestamptz NOT NULL, PRIMARY KEY (customer_id, id));
SELECT create_distributed_table('shop_customers', 'id');
SELECT create_distributed_table('shop_orders', 'id', colocate_with => 'shop_customers');
SELECT logicalrelid, partmethod, colocationid = (SELECT colocationid FROM pg_dist_partition
                                                WHERE logicalrelid = 'shop_customers'::regclass) AS colocated
FROM pg_dist_partition WHERE logicalrelid IN ('shop_customers'::regclass, 'shop_orders'::regclass) ORDER BY 1;
INSERT INTO shop_customers VALUES (1, '2024-01-01', 'GOLD'), (2, '2024-02-01', NULL);
INSERT INTO shop_orders VALUES (1, 1, 100, '2024-03-01'), (2, 2, 20, '2024-03-02');

-- Customers distributed by another column than their id.
CREATE TABLE region_customers (id bigint, region text, created_at timestamptz NOT NULL, PRIMARY KEY (region, id));
SELECT create_distributed_table('region_customers', 'region');

-- Tracking them is refused, whether Citus allows triggers on them or not:
-- orders and customers must be distributed by customer
-- (test/citus/sql/citus_behaviours.sql tracks both so distributed).
SELECT segmentation.track_orders('shop_orders', 'customer_id', 'amount', 'ordered_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT segmentation.track_customers('region_customers', 'id', 'created_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SET citus.enable_unsafe_triggers = on;
SELECT segmentation.track_orders('shop_orders', 'customer_id', 'amount', 'ordered_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT segmentation.track_customers('region_customers', 'id', 'created_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET citus.enable_unsafe_triggers;

-- A reference table, and a local table added to Citus metadata, likewise.
CREATE TABLE ref_orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(10,2), ordered_at timestamptz);
SELECT create_reference_table('ref_orders');
SELECT segmentation.track_orders('ref_orders', 'customer_id', 'amount', 'ordered_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
CREATE TABLE managed_orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(10,2), ordered_at timestamptz);
SELECT citus_add_local_table_to_metadata('managed_orders');
SELECT segmentation.track_orders('managed_orders', 'customer_id', 'amount', 'ordered_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;

-- Nothing was tracked or written.
SELECT (SELECT count(*) FROM segmentation.tracked_tables) AS tracked,
       (SELECT count(*) FROM segmentation.customer_metrics) AS customers,
       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'segmentation%') AS triggers;

-- Plain local tables in the same database are tracked, live and exact.
CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2),
                     ordered_at timestamptz NOT NULL);
INSERT INTO customers VALUES (1, '2024-01-01', 'GOLD'), (2, '2024-02-01', NULL), (3, '2024-03-01', 'SILVER');
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 600, '2024-04-01'), (1, 500, '2024-05-01'),
                                                            (2, 50, '2024-04-15');
SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) > 0 AS created;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (2, 1000, '2024-06-01'), (3, 5, '2024-06-02');
DELETE FROM orders WHERE customer_id = 1 AND amount = 600;
UPDATE customers SET tier = 'GOLD' WHERE id = 3;
SELECT customer_id, lifetime_value, order_count, loyalty_level FROM segmentation.customer_metrics ORDER BY 1;
SELECT a.customer_id, s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
ORDER BY 1;
SELECT count(*) AS drift FROM segmentation.verify('2025-01-01');

-- A tracked table cannot become a Citus table. Without
-- citus.enable_unsafe_triggers, Citus itself refuses tables with triggers
-- (XX000); with it, segmentation refuses (0A000) when Citus copies the
-- tracking trigger to the new shards, and everything rolls back.
SELECT create_distributed_table('orders', 'customer_id');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('orders', 'customer_id');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT create_distributed_table('customers', 'id');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT create_reference_table('customers');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET citus.enable_unsafe_triggers;
-- Nor a Citus local table, added explicitly or through a foreign key to a
-- reference table: Citus first moves the tracking triggers away, which the
-- guard against dropping them refuses (2BP01).
SELECT citus_add_local_table_to_metadata('orders');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
CREATE TABLE ref_customers (id bigint PRIMARY KEY);
SELECT create_reference_table('ref_customers');
INSERT INTO ref_customers SELECT id FROM customers;
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES ref_customers (id);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) AS citus_tables FROM pg_dist_partition
WHERE logicalrelid IN ('customers'::regclass, 'orders'::regclass);

-- Still tracked and exact.
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (3, 2000, '2024-07-01');
SELECT customer_id, lifetime_value, order_count FROM segmentation.customer_metrics ORDER BY 1;
SELECT a.customer_id, s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
ORDER BY 1;

-- Once untracked, the table can be distributed (and then not tracked again).
SELECT segmentation.untrack_orders();
SET client_min_messages = warning;
SELECT create_distributed_table('orders', 'customer_id');
RESET client_min_messages;
SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) AS drift FROM segmentation.verify('2025-01-01');
