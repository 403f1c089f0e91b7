-- Citus: set-based work (refresh_all, refresh_due, verify) runs shard by
-- shard on the nodes holding the data, and per-customer functions on the
-- node holding the customer, in the caller's transaction (docs/citus.md).
-- The same steps (cluster_work_steps.psql) run on one server and on a
-- cluster: every answer must be the same. Then a shard moves between the
-- workers, and membership stays exact.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT current_setting('port') AS coordinator \gset
SELECT min(nodeport) AS worker1, max(nodeport) AS worker2 FROM pg_dist_node WHERE groupid <> 0 \gset
-- One server: a database without Citus.
CREATE DATABASE cluster_single;
\set db cluster_work
\i test/citus/sql/cluster_database.psql

\c cluster_single - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster false
\set prefix single_
\i test/citus/sql/cluster_work_steps.psql

\c cluster_work - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster true
\set prefix cluster_
\i test/citus/sql/cluster_work_steps.psql

-- The answers on one server, and whether the cluster gave the same.
SELECT :'single_verify1' AS verify_before_refresh;
SELECT :'single_verify1' = :'cluster_verify1' AS same_verify_before_refresh;
SELECT :'single_refresh_all' AS refresh_all, :'single_refresh_all' = :'cluster_refresh_all' AS same;
SELECT :'single_verify2' AS verify_after_refresh;
SELECT :'single_verify2' = :'cluster_verify2' AS same_verify_after_refresh;
SELECT :'single_refresh_all_again' AS refresh_all_again,
       :'single_refresh_all_again' = :'cluster_refresh_all_again' AS same;
SELECT :'single_refresh_due_none' AS refresh_due_none,
       :'single_refresh_due_none' = :'cluster_refresh_due_none' AS same;
SELECT :'single_refresh_due' AS refresh_due, :'single_refresh_due' = :'cluster_refresh_due' AS same;
SELECT :'single_far_members' AS far_members, :'single_far_members' = :'cluster_far_members' AS same;
SELECT :'single_assign1' AS assign1, :'single_assign2' AS assign2, :'single_assign3' AS assign3,
       (:'single_assign1', :'single_assign2', :'single_assign3')
       = (:'cluster_assign1', :'cluster_assign2', :'cluster_assign3') AS same;
SELECT :'single_segments4' AS segments4, :'single_segments4' = :'cluster_segments4' AS same;
SELECT :'single_calculated4' AS calculated4, :'single_calculated4' = :'cluster_calculated4' AS same;
SELECT :'single_remove1' AS remove1, :'single_remove2' AS remove2,
       (:'single_remove1', :'single_remove2') = (:'cluster_remove1', :'cluster_remove2') AS same;
SELECT :'single_automatic13' AS automatic13, :'single_automatic13_again' AS again,
       (:'single_automatic13', :'single_automatic13_again')
       = (:'cluster_automatic13', :'cluster_automatic13_again') AS same;
SELECT :'single_error_automatic' AS automatic, :'single_error_no_segment' AS no_segment,
       :'single_error_no_customer' AS no_customer, :'single_error_no_customer_auto' AS no_customer_auto,
       (:'single_error_automatic', :'single_error_no_segment', :'single_error_no_customer',
        :'single_error_no_customer_auto')
       = (:'cluster_error_automatic', :'cluster_error_no_segment', :'cluster_error_no_customer',
          :'cluster_error_no_customer_auto') AS same;
SELECT :'single_assignments' = :'cluster_assignments' AS same_assignments,
       :'single_history' = :'cluster_history' AS same_history;
SELECT :'single_verify3' AS verify_at_end, :'single_verify3' = :'cluster_verify3' AS same;
SELECT :'single_leftovers' AS single_leftovers, :'cluster_leftovers' AS cluster_leftovers;

-- The work ran on the workers: customers of both workers' shards are in the history.
SELECT count(DISTINCT id >> 48) AS node_ranges FROM segmentation.assignment_log WHERE cause = 'refresh';

-- A shard group moves from one worker to the other: the orders written to
-- it afterwards, and the set-based work, stay exact.
SELECT s.shardid AS moving, p.nodeport AS source, CASE p.nodeport WHEN :worker1 THEN :worker2 ELSE :worker1 END AS target
FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
WHERE s.logicalrelid = 'shop.orders'::regclass AND s.shardid = (SELECT get_shard_id_for_distribution_column('shop.orders', 4))
\gset
SET client_min_messages = warning;
SELECT citus_move_shard_placement(:moving, '127.0.0.1', :source, '127.0.0.1', :target,
                                  shard_transfer_mode => 'block_writes') IS NOT NULL AS moved;
RESET client_min_messages;
SELECT nodeport = :target AS on_target FROM pg_dist_shard_placement WHERE shardid = :moving;
-- Customer 4 (in the moved group) crosses into Big, then is assigned VIP, then Big VIP follows.
INSERT INTO shop.orders VALUES (9001, 4, 5000, '2024-09-01');
SELECT array_agg(s.name ORDER BY s.name) AS segments_of_4 FROM segmentation.assignments a
JOIN segmentation.segments s ON s.id = a.segment_id WHERE a.customer_id = 4;
SELECT segmentation.assign_manual_segment(4, :vip) AS assigned;
SELECT array_agg(s.name ORDER BY s.name) AS segments_of_4 FROM segmentation.assignments a
JOIN segmentation.segments s ON s.id = a.segment_id WHERE a.customer_id = 4;
SELECT segmentation.refresh_all() AS refresh_after_move;
SELECT count(*) AS drift_after_move FROM segmentation.verify('2250-01-01');
-- A new segment is populated on the moved shard too.
SELECT segmentation.create_segment('Loyal', '{"minOrders": 5}', true) AS loyal \gset
SELECT (SELECT count(*) FROM segmentation.assignments WHERE segment_id = :loyal)
     = (SELECT count(*) FROM segmentation.customer_metrics WHERE order_count >= 5) AS loyal_populated;
-- Drift made on the moved shard is found by verify and fixed by refresh_all.
DELETE FROM segmentation.assignments WHERE customer_id = 4 AND segment_id = :loyal;
SELECT customer_id, problem, expected, actual FROM segmentation.verify('2250-01-01') WHERE problem <> 'metrics';
SELECT segmentation.refresh_all() AS refresh_fixes;
SELECT count(*) AS drift_after_fix FROM segmentation.verify('2250-01-01');

\c citus_regression - 127.0.0.1 :coordinator
SET client_min_messages = warning;
SELECT count(*) AS workers FROM run_command_on_workers('DROP DATABASE cluster_work WITH (FORCE)') WHERE success;
DROP DATABASE cluster_work WITH (FORCE);
DROP DATABASE cluster_single WITH (FORCE);
