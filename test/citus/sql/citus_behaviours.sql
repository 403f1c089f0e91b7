-- Citus: customers and orders both distributed by customer, co-located, and
-- tracked (docs/citus.md). The service's 17 behaviours and live writes of
-- every kind (behaviours_steps.psql) run on one server and on a cluster of a
-- coordinator and two workers: every answer must be the same. Then what is
-- still refused on Citus (0A000), and verify() clean at the end.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT current_setting('port') AS coordinator \gset
SELECT min(nodeport) AS worker1, max(nodeport) AS worker2 FROM pg_dist_node WHERE groupid <> 0 \gset
-- One server: a database without Citus.
CREATE DATABASE behaviours_single;
\set db behaviours_cluster
\i test/citus/sql/cluster_database.psql

\c behaviours_single - 127.0.0.1 :coordinator
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
RESET client_min_messages;
\set cluster false
\set prefix single_
\i test/citus/sql/behaviours_steps.psql

\c behaviours_cluster - 127.0.0.1 :coordinator
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
RESET client_min_messages;
\set cluster true
\set prefix cluster_
\i test/citus/sql/behaviours_steps.psql

-- The extension's tables are co-located with customers and orders.
SELECT logicalrelid, partmethod, colocationid = (SELECT colocationid FROM pg_dist_partition
                                                 WHERE logicalrelid = 'shop.customers'::regclass) AS with_customers
FROM pg_dist_partition ORDER BY 1::text;

-- The answers on one server, and whether the cluster gave the same.
SELECT :'single_tracked_customers' AS tracked_customers, :'single_tracked_attributes' AS tracked_attributes,
       :'single_tracked_orders' AS tracked_orders,
       (:'single_tracked_customers', :'single_tracked_attributes', :'single_tracked_orders')
       = (:'cluster_tracked_customers', :'cluster_tracked_attributes', :'cluster_tracked_orders') AS same;
SELECT :'single_created' AS created;
SELECT :'single_created' = :'cluster_created' AS same_created;
SELECT :'single_all_segments' AS all_segments, :'single_all_segments' = :'cluster_all_segments' AS same;
SELECT :'single_calculated' AS calculated, :'single_calculated' = :'cluster_calculated' AS same;
SELECT :'single_excluded' AS excluded, :'single_excluded' = :'cluster_excluded' AS same;
SELECT :'single_loyalty_match' AS loyalty_match, :'single_loyalty_match' = :'cluster_loyalty_match' AS same;
SELECT :'single_loyalty_gold' AS loyalty_gold, :'single_loyalty_none' AS loyalty_none,
       (:'single_loyalty_gold', :'single_loyalty_none') = (:'cluster_loyalty_gold', :'cluster_loyalty_none') AS same;
SELECT :'single_assigned_auto' AS assigned_auto, :'single_assigned_auto_after' AS assigned_auto_after,
       (:'single_assigned_auto', :'single_assigned_auto_after')
       = (:'cluster_assigned_auto', :'cluster_assigned_auto_after') AS same;
SELECT :'single_lapsed_vip' AS lapsed_vip, :'single_removed_auto' AS removed_auto,
       :'single_removed_auto_after' AS removed_auto_after,
       (:'single_lapsed_vip', :'single_removed_auto', :'single_removed_auto_after')
       = (:'cluster_lapsed_vip', :'cluster_removed_auto', :'cluster_removed_auto_after') AS same;
SELECT :'single_live_again' AS live_again, :'single_live_again' = :'cluster_live_again' AS same;
SELECT :'single_manual_assign' AS manual_assign, :'single_manual_segments' AS manual_segments,
       :'single_manual_again' AS manual_again,
       (:'single_manual_assign', :'single_manual_segments', :'single_manual_again')
       = (:'cluster_manual_assign', :'cluster_manual_segments', :'cluster_manual_again') AS same;
SELECT :'single_manual_automatic' AS manual_automatic, :'single_manual_no_segment' AS manual_no_segment,
       :'single_manual_no_customer' AS manual_no_customer,
       (:'single_manual_automatic', :'single_manual_no_segment', :'single_manual_no_customer')
       = (:'cluster_manual_automatic', :'cluster_manual_no_segment', :'cluster_manual_no_customer') AS same;
SELECT :'single_removed_manual' AS removed_manual, :'single_remove_automatic' AS remove_automatic,
       :'single_remove_no_segment' AS remove_no_segment,
       (:'single_removed_manual', :'single_remove_automatic', :'single_remove_no_segment')
       = (:'cluster_removed_manual', :'cluster_remove_automatic', :'cluster_remove_no_segment') AS same;
SELECT :'single_drift' AS drift, :'single_repair' AS repair,
       (:'single_drift', :'single_repair') = (:'cluster_drift', :'cluster_repair') AS same;
SELECT :'single_metrics' = :'cluster_metrics' AS same_metrics,
       :'single_assignments' = :'cluster_assignments' AS same_assignments,
       :'single_history' = :'cluster_history' AS same_history;
SELECT :'single_verify_rows' AS verify_rows, :'cluster_verify_rows' AS cluster_verify_rows,
       :'single_refresh_all' AS refresh_all, :'single_refresh_all' = :'cluster_refresh_all' AS same;
SELECT :'single_leftovers' AS single_leftovers, :'cluster_leftovers' AS cluster_leftovers;

-- The customers live on both workers, and the live work ran there: each
-- node's log ids come from its own range.
SELECT count(DISTINCT nodeport) AS nodes_with_customers FROM pg_dist_shard_placement p
JOIN pg_dist_shard s USING (shardid) WHERE s.logicalrelid = 'shop.customers'::regclass
AND EXISTS (SELECT 1 FROM run_command_on_shards('shop.customers', 'SELECT count(*) FROM %s') r
            WHERE r.shardid = s.shardid AND r.result::int > 0);
SELECT count(DISTINCT id >> 48) AS node_ranges FROM segmentation.assignment_log WHERE cause = 'customer';
-- Deleting customer 3 deleted its orders, its metrics and its assignments.
SELECT (SELECT count(*) FROM shop.orders WHERE customer_id = 3) AS orders_of_3,
       (SELECT count(*) FROM segmentation.customer_metrics WHERE customer_id = 3) AS metrics_of_3,
       (SELECT count(*) FROM segmentation.assignments WHERE customer_id = 3) AS assignments_of_3;

SELECT count(*) AS drift_at_end FROM segmentation.verify();

-- The other order, with text keys: orders tracked first, then customers. On the way, what
-- is still refused (0A000): a customers table not co-located with the
-- tracked orders, a reference table, a local table next to a Citus one.
\c citus_regression - 127.0.0.1 :coordinator
SET client_min_messages = warning;
CREATE DATABASE orders_first;
SELECT count(*) AS workers FROM run_command_on_workers('CREATE DATABASE orders_first') WHERE success;
\c orders_first - 127.0.0.1 :worker1
CREATE EXTENSION citus;
\c orders_first - 127.0.0.1 :worker2
CREATE EXTENSION citus;
\c orders_first - 127.0.0.1 :coordinator
SET client_min_messages = warning;
CREATE EXTENSION citus;
-- Workers, but no coordinator in the metadata yet.
SELECT count(citus_add_node('127.0.0.1', port)) AS workers FROM unnest(ARRAY[:worker1, :worker2]) AS port;
CREATE EXTENSION segmentation;
RESET client_min_messages;
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id text PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE shop.orders (id bigint NOT NULL, customer_id text NOT NULL, amount numeric(12,2) NOT NULL,
                          ordered_at timestamptz NOT NULL, PRIMARY KEY (customer_id, id));
SELECT create_distributed_table('shop.customers', 'id', shard_count => 4) IS NOT NULL AS distributed;
SELECT create_distributed_table('shop.orders', 'customer_id', colocate_with => 'shop.customers')
       IS NOT NULL AS distributed;
INSERT INTO shop.customers SELECT g::text, '2024-01-01'::timestamptz + g * interval '1 day',
                                  CASE WHEN g % 3 = 0 THEN 'GOLD' END FROM generate_series(1, 20) g;
-- Customers 21 and 22 have orders but no customer row: tracking customers drops them.
INSERT INTO shop.orders SELECT g, (1 + g % 22)::text, 10 * g, '2024-03-01'::timestamptz + g * interval '1 day'
FROM generate_series(1, 100) g;
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 2500}', true) AS big \gset
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true) AS gold \gset
-- The extension's definitions need a copy on the coordinator too.
SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at');
SELECT :'LAST_ERROR_SQLSTATE' AS no_coordinator;
SET client_min_messages = warning;
SELECT citus_set_coordinator_host('127.0.0.1', current_setting('port')::int);
SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at') AS customers_from_orders;
RESET client_min_messages;
CREATE TABLE shop.lone_customers (id text PRIMARY KEY, created_at timestamptz NOT NULL);
SELECT create_distributed_table('shop.lone_customers', 'id', colocate_with => 'none') IS NOT NULL AS distributed;
CREATE TABLE shop.ref_customers (id text PRIMARY KEY, created_at timestamptz NOT NULL);
SELECT create_reference_table('shop.ref_customers') IS NOT NULL AS reference;
CREATE TABLE shop.local_customers (id text PRIMARY KEY, created_at timestamptz NOT NULL);
SELECT segmentation.track_customers('shop.lone_customers', 'id', 'created_at');
SELECT :'LAST_ERROR_SQLSTATE' AS not_colocated;
SELECT segmentation.track_customers('shop.ref_customers', 'id', 'created_at');
SELECT :'LAST_ERROR_SQLSTATE' AS reference_table;
SELECT segmentation.track_customers('shop.local_customers', 'id', 'created_at');
SELECT :'LAST_ERROR_SQLSTATE' AS local_table;
SELECT kind FROM segmentation.tracked_tables ORDER BY 1;
SET client_min_messages = warning;
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'tier') AS customers;
RESET client_min_messages;
-- The back-fill ran on the workers: every customer's metrics, computed here
-- from the tables themselves, and membership of both segments.
CREATE VIEW drift AS
WITH expected AS (
    SELECT c.id, c.created_at, c.tier, coalesce(sum(o.amount), 0) AS lv, count(o.id) AS n,
           min(o.ordered_at) AS lo, max(o.ordered_at) AS hi
    FROM shop.customers c LEFT JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.created_at, c.tier)
SELECT 'metrics' AS problem, count(*) AS customers
FROM segmentation.customer_metrics m FULL JOIN expected e ON e.id = m.customer_id
WHERE (m.customer_since, m.loyalty_level, m.lifetime_value, m.order_count, m.first_order_at, m.last_order_at)
      IS DISTINCT FROM (e.created_at, e.tier, e.lv, e.n, e.lo, e.hi)
UNION ALL
SELECT 'membership', count(*) FROM segmentation.customer_metrics m
LEFT JOIN segmentation.assignments b ON b.customer_id = m.customer_id AND b.segment_id = :big
LEFT JOIN segmentation.assignments g ON g.customer_id = m.customer_id AND g.segment_id = :gold
WHERE (m.lifetime_value >= 2500) IS DISTINCT FROM (b.customer_id IS NOT NULL)
   OR coalesce(m.loyalty_level = 'GOLD', false) IS DISTINCT FROM (g.customer_id IS NOT NULL);
SELECT * FROM drift;
SELECT count(*) AS customers, count(*) FILTER (WHERE customer_id::int > 20) AS without_row
FROM segmentation.customer_metrics;
SELECT (SELECT count(*) FROM segmentation.assignments WHERE segment_id = :big) AS big,
       (SELECT count(*) FROM segmentation.assignments WHERE segment_id = :gold) AS gold;
-- Live from then on: customer writes on both workers, a delete, a rollback.
UPDATE shop.customers SET tier = 'GOLD' WHERE id IN ('1', '2', '4', '5');
INSERT INTO shop.customers VALUES ('30', '2024-05-01', 'GOLD'), ('31', '2024-05-02', NULL);
INSERT INTO shop.orders VALUES (500, '31', 4000, '2024-06-01');
DELETE FROM shop.orders WHERE customer_id = '6';
DELETE FROM shop.customers WHERE id IN ('6', '7');
BEGIN;
UPDATE shop.customers SET tier = NULL;
ROLLBACK;
-- Straight to a worker: to the shards of customer 40 on its node, and
-- through that worker's copy of Citus's metadata.
SELECT shard_name('shop.customers', s.shardid) AS customers_shard,
       shard_name('shop.orders', get_shard_id_for_distribution_column('shop.orders', '40')) AS orders_shard,
       p.nodeport AS node40
FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
WHERE s.shardid = get_shard_id_for_distribution_column('shop.customers', '40') \gset
\c orders_first - 127.0.0.1 :node40
INSERT INTO :customers_shard VALUES ('40', '2024-07-01', 'GOLD');
INSERT INTO :orders_shard VALUES (600, '40', 3000, '2024-07-02');
UPDATE :customers_shard SET tier = NULL WHERE id = '40';
INSERT INTO shop.customers VALUES ('41', '2024-07-03', 'GOLD');
\c orders_first - 127.0.0.1 :coordinator
SELECT customer_id, loyalty_level, lifetime_value, order_count FROM segmentation.customer_metrics
WHERE customer_id IN ('40', '41') ORDER BY 1;
SELECT customer_id, segment_id = :big AS big, segment_id = :gold AS gold FROM segmentation.assignments
WHERE customer_id IN ('40', '41') ORDER BY 1, 2;
-- Customer 40's shard group moves to the other worker: its customer and
-- order writes stay exact there.
SELECT get_shard_id_for_distribution_column('shop.customers', '40') AS moving,
       CASE :node40 WHEN :worker1 THEN :worker2 ELSE :worker1 END AS target \gset
SET client_min_messages = warning;
SELECT citus_move_shard_placement(:moving, '127.0.0.1', :node40, '127.0.0.1', :target,
                                  shard_transfer_mode => 'block_writes') IS NOT NULL AS moved;
RESET client_min_messages;
SELECT nodeport = :target AS on_target FROM pg_dist_shard_placement WHERE shardid = :moving;
UPDATE shop.customers SET tier = 'GOLD' WHERE id = '40';
INSERT INTO shop.orders VALUES (601, '40', 5, '2024-07-05');
DELETE FROM shop.orders WHERE id = 600;
SELECT customer_id, loyalty_level, lifetime_value, order_count FROM segmentation.customer_metrics
WHERE customer_id = '40';
SELECT segment_id = :big AS big, segment_id = :gold AS gold FROM segmentation.assignments
WHERE customer_id = '40' ORDER BY 1, 2;
-- TRUNCATE is refused: Citus truncates the shards without their triggers.
TRUNCATE shop.orders;
SELECT :'LAST_ERROR_SQLSTATE' AS truncate_orders;
TRUNCATE shop.customers CASCADE;
SELECT :'LAST_ERROR_SQLSTATE' AS truncate_customers;
SELECT (SELECT count(*) FROM shop.customers) AS customers, (SELECT count(*) FROM shop.orders) AS orders;
SELECT * FROM drift;
SELECT count(*) AS drift_at_end FROM segmentation.verify('2250-01-01');

\c citus_regression - 127.0.0.1 :coordinator
SET client_min_messages = warning;
SELECT count(*) AS workers FROM run_command_on_workers('DROP DATABASE behaviours_cluster WITH (FORCE)') WHERE success;
SELECT count(*) AS workers FROM run_command_on_workers('DROP DATABASE orders_first WITH (FORCE)') WHERE success;
DROP DATABASE behaviours_cluster WITH (FORCE);
DROP DATABASE behaviours_single WITH (FORCE);
DROP DATABASE orders_first WITH (FORCE);
