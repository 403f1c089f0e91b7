-- Citus: the shard rebalancer, with its default transfer mode (logical
-- replication where a table has a replica identity), moves the extension's
-- co-located shards with the shop's, and membership stays exact: every shard
-- group gathered on one worker (citus_move_shard_placement), then spread
-- again by rebalance_table_shards(), then writes on both workers. Expected
-- values are recomputed from the orders through the coordinator.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT current_setting('port') AS coordinator \gset
SELECT min(nodeport) AS worker1, max(nodeport) AS worker2 FROM pg_dist_node WHERE groupid <> 0 \gset
\set db citus_rebalance
\i test/citus/sql/cluster_database.psql
CREATE EXTENSION segmentation;
RESET client_min_messages;

CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE shop.orders (id bigint NOT NULL, customer_id bigint NOT NULL REFERENCES shop.customers ON DELETE CASCADE,
                          amount numeric(10,2), ordered_at timestamptz NOT NULL, PRIMARY KEY (customer_id, id));
SELECT create_distributed_table('shop.customers', 'id', shard_count => 8);
SELECT create_distributed_table('shop.orders', 'customer_id', colocate_with => 'shop.customers');
INSERT INTO shop.customers SELECT g, '2023-01-01'::timestamptz + g * interval '1 day',
                                  (ARRAY['GOLD', 'SILVER', NULL])[1 + g % 3] FROM generate_series(1, 40) g;
INSERT INTO shop.orders SELECT g, 1 + g % 40, 10 * (1 + g % 7), '2024-01-01'::timestamptz + g * interval '1 hour'
FROM generate_series(1, 400) g;
SET client_min_messages = warning;
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'tier') AS customers;
SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at') AS customers;
RESET client_min_messages;
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 400}', true) AS big \gset
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"], "minOrders": 10}', true) AS gold \gset

-- What membership must be, from the tables themselves.
CREATE VIEW expected AS
SELECT c.id AS customer_id, s.id AS segment_id
FROM shop.customers c
LEFT JOIN (SELECT customer_id, sum(amount) AS ltv, count(*) AS n FROM shop.orders GROUP BY 1) o ON o.customer_id = c.id
JOIN segmentation.segments s ON (s.id = :big AND coalesce(o.ltv, 0) >= 400)
                             OR (s.id = :gold AND c.tier = 'GOLD' AND coalesce(o.n, 0) >= 10);
CREATE VIEW drift AS
SELECT count(*) AS wrong FROM ((SELECT customer_id, segment_id FROM segmentation.assignments
                                EXCEPT SELECT customer_id, segment_id FROM expected)
                               UNION ALL (SELECT customer_id, segment_id FROM expected
                                          EXCEPT SELECT customer_id, segment_id FROM segmentation.assignments)) d;
SELECT (SELECT count(*) FROM segmentation.assignments) AS members, wrong FROM drift;

-- Every shard group onto worker 1.
SELECT count(*) AS moved FROM (
    SELECT citus_move_shard_placement(shardid, '127.0.0.1', :worker2, '127.0.0.1', :worker1,
                                      shard_transfer_mode => 'block_writes')
    FROM pg_dist_shard_placement JOIN pg_dist_shard USING (shardid)
    WHERE logicalrelid = 'shop.customers'::regclass AND nodeport = :worker2) m;
SELECT nodeport = :worker1 AS on_worker1, count(*) AS placements FROM pg_dist_shard_placement GROUP BY 1 ORDER BY 1;
INSERT INTO shop.orders SELECT 1000 + g, g, 100, '2024-03-01' FROM generate_series(1, 40, 3) g;
SELECT wrong AS wrong_gathered FROM drift;

-- The rebalancer spreads them again, with its default transfer mode.
SET client_min_messages = warning;
SELECT rebalance_table_shards('shop.customers');
RESET client_min_messages;
SELECT nodeport = :worker1 AS on_worker1, count(*) > 0 AS some
FROM pg_dist_shard_placement JOIN pg_dist_shard USING (shardid)
WHERE logicalrelid = 'shop.customers'::regclass GROUP BY 1 ORDER BY 1;
-- Every extension table's shard follows its group.
SELECT count(*) AS misplaced FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
JOIN pg_dist_partition t USING (logicalrelid)
WHERE t.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'shop.customers'::regclass)
  AND p.groupid <> (SELECT p2.groupid FROM pg_dist_shard s2 JOIN pg_dist_placement p2 USING (shardid)
                    WHERE s2.logicalrelid = 'shop.customers'::regclass AND s2.shardminvalue = s.shardminvalue);
SELECT wrong AS wrong_rebalanced FROM drift;

-- Writes of every kind, on both workers, after the rebalance.
INSERT INTO shop.orders SELECT 2000 + g, g, 500, '2024-04-01' FROM generate_series(2, 40, 4) g;
UPDATE shop.customers SET tier = 'GOLD' WHERE id % 5 = 0;
DELETE FROM shop.orders WHERE customer_id % 7 = 0 AND id < 1000;
DELETE FROM shop.customers WHERE id IN (13, 26);
INSERT INTO shop.customers VALUES (41, '2024-05-01', 'GOLD');
INSERT INTO shop.orders SELECT 3000 + g, 41, 50, '2024-05-02' FROM generate_series(1, 10) g;
SELECT (SELECT count(*) FROM segmentation.assignments) AS members, wrong AS wrong_after_writes FROM drift;
SELECT count(*) AS verify_problems FROM segmentation.verify();

\c citus_regression - 127.0.0.1 :coordinator
SET client_min_messages = warning;
SELECT count(*) AS workers FROM run_command_on_workers('DROP DATABASE citus_rebalance WITH (FORCE)') WHERE success;
DROP DATABASE citus_rebalance WITH (FORCE);
