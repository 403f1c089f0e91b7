-- Citus: the functions of the README that are delegated to the node holding
-- the customer (overrides, explain_match) or read from the coordinator
-- (segment_members) give the same answers as on one server (docs/citus.md).
-- The same steps (functions_steps.psql) run on one server and on a cluster:
-- every answer must be the same.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT current_setting('port') AS coordinator \gset
SELECT min(nodeport) AS worker1, max(nodeport) AS worker2 FROM pg_dist_node WHERE groupid <> 0 \gset
CREATE DATABASE functions_single;
\set db functions_cluster
\i test/citus/sql/cluster_database.psql

\c functions_single - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster false
\set prefix single_
\i test/citus/sql/functions_steps.psql
-- The common steps' membership and history, without ids and times.
SELECT string_agg(concat_ws('|', customer_id, segment_id, is_automatic, assigned_by), E'\n'
                  ORDER BY customer_id, segment_id) AS assignments
FROM segmentation.assignments \gset single_
SELECT string_agg(concat_ws('|', customer_id, segment_id, action, is_automatic, cause, actor, reason), E'\n'
                  ORDER BY customer_id, segment_id, action, cause, is_automatic, reason) AS history
FROM segmentation.assignment_log \gset single_
SELECT coalesce(string_agg(concat_ws('|', customer_id, problem, expected, actual), E'\n'), 'no drift') AS verify
FROM segmentation.verify('2250-01-01') \gset single_

\c functions_cluster - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster true
\set prefix cluster_
\i test/citus/sql/functions_steps.psql
SELECT string_agg(concat_ws('|', customer_id, segment_id, is_automatic, assigned_by), E'\n'
                  ORDER BY customer_id, segment_id) AS assignments
FROM segmentation.assignments \gset cluster_
SELECT string_agg(concat_ws('|', customer_id, segment_id, action, is_automatic, cause, actor, reason), E'\n'
                  ORDER BY customer_id, segment_id, action, cause, is_automatic, reason) AS history
FROM segmentation.assignment_log \gset cluster_
SELECT coalesce(string_agg(concat_ws('|', customer_id, problem, expected, actual), E'\n'), 'no drift') AS verify
FROM segmentation.verify('2250-01-01') \gset cluster_

-- Overrides: the answers on one server, and whether the cluster gave the same.
SELECT :'single_include1' AS include1, :'single_include1_again' AS again, :'single_exclude19' AS exclude19,
       :'single_exclude18' AS exclude18, :'single_include18' AS include18,
       (:'single_include1', :'single_include1_again', :'single_exclude19', :'single_exclude18', :'single_include18')
       = (:'cluster_include1', :'cluster_include1_again', :'cluster_exclude19', :'cluster_exclude18',
          :'cluster_include18') AS same;
SELECT :'single_segments1' AS segments1, :'single_segments1' = :'cluster_segments1' AS same;
SELECT :'single_segments19' AS segments19, :'single_segments19' = :'cluster_segments19' AS same;
SELECT :'single_override_refresh' AS refresh_all, :'single_override_refresh' = :'cluster_override_refresh' AS same;
SELECT :'single_calculated19' AS calculated19, :'single_calculated1' AS calculated1,
       :'single_calculated8' AS calculated8,
       (:'single_calculated19', :'single_calculated1', :'single_calculated8')
       = (:'cluster_calculated19', :'cluster_calculated1', :'cluster_calculated8') AS same;
SELECT :'single_remove19' AS remove19, :'single_remove19_again' AS again,
       (:'single_remove19', :'single_remove19_again') = (:'cluster_remove19', :'cluster_remove19_again') AS same;
SELECT :'single_override_error_manual' AS manual, :'single_override_error_no_segment' AS no_segment,
       :'single_override_error_no_customer' AS no_customer,
       (:'single_override_error_manual', :'single_override_error_no_segment', :'single_override_error_no_customer')
       = (:'cluster_override_error_manual', :'cluster_override_error_no_segment',
          :'cluster_override_error_no_customer') AS same;
SELECT :'single_overrides' AS overrides, :'single_overrides' = :'cluster_overrides' AS same;

-- segment_members and explain_match.
SELECT :'single_members_big' AS members_big, :'single_members_big' = :'cluster_members_big' AS same;
SELECT :'single_members_bigloyal' AS members_bigloyal,
       :'single_members_bigloyal' = :'cluster_members_bigloyal' AS same;
SELECT :'single_members_after_7' AS after_7, :'single_members_limit0' AS limit0,
       (:'single_members_after_7', :'single_members_limit0')
       = (:'cluster_members_after_7', :'cluster_members_limit0') AS same;
SELECT :'single_members_error_no_segment' AS no_segment, :'single_members_error_limit' AS bad_limit,
       (:'single_members_error_no_segment', :'single_members_error_limit')
       = (:'cluster_members_error_no_segment', :'cluster_members_error_limit') AS same;
SELECT :'single_explain1'::jsonb AS explain1, :'single_explain1' = :'cluster_explain1' AS same;
SELECT :'single_explain19'::jsonb AS explain19, :'single_explain19' = :'cluster_explain19' AS same;
SELECT :'single_explain4_vip'::jsonb AS explain4_vip, :'single_explain4_vip' = :'cluster_explain4_vip' AS same;
SELECT :'single_explain7'::jsonb AS explain7, :'single_explain7' = :'cluster_explain7' AS same;
SELECT :'single_explain_error_no_customer' AS no_customer, :'single_explain_error_no_segment' AS no_segment,
       (:'single_explain_error_no_customer', :'single_explain_error_no_segment')
       = (:'cluster_explain_error_no_customer', :'cluster_explain_error_no_segment') AS same;

-- Criteria with a window.
SELECT :'single_members_recent' AS members_recent, :'single_quiet_count' AS quiet,
       (:'single_members_recent', :'single_quiet_count') = (:'cluster_members_recent', :'cluster_quiet_count') AS same;
SELECT :'single_calculated2_recent' AS calculated2, :'single_calculated2_recent_later' AS later,
       (:'single_calculated2_recent', :'single_calculated2_recent_later')
       = (:'cluster_calculated2_recent', :'cluster_calculated2_recent_later') AS same;
SELECT :'single_explain3_window'::jsonb AS explain3_window,
       :'single_explain3_window' = :'cluster_explain3_window' AS same;
SELECT :'single_explain3_recent_later'::jsonb AS explain3_recent_later,
       :'single_explain3_recent_later' = :'cluster_explain3_recent_later' AS same;
SELECT :'single_match5' AS match5, :'single_match5' = :'cluster_match5' AS same;
SELECT :'single_refresh_due_15' AS refresh_due_15, :'single_refresh_due_40' AS refresh_due_40,
       (:'single_refresh_due_15', :'single_refresh_due_40')
       = (:'cluster_refresh_due_15', :'cluster_refresh_due_40') AS same;
SELECT :'single_members_recent_after' AS members_recent_after, :'single_quiet_count_after' AS quiet_after,
       :'single_due_after' AS due_after,
       (:'single_members_recent_after', :'single_quiet_count_after', :'single_due_after')
       = (:'cluster_members_recent_after', :'cluster_quiet_count_after', :'cluster_due_after') AS same;

-- preview.
SELECT :'single_preview' AS preview, :'single_preview_any' AS preview_any,
       (:'single_preview', :'single_preview_any') = (:'cluster_preview', :'cluster_preview_any') AS same;
SELECT :'single_preview_in' AS preview_in, :'single_preview_window' AS preview_window,
       (:'single_preview_in', :'single_preview_window') = (:'cluster_preview_in', :'cluster_preview_window') AS same;
SELECT :'single_preview_change' AS preview_change, :'single_preview_change_by_id' AS preview_change_by_id,
       (:'single_preview_change', :'single_preview_change_by_id')
       = (:'cluster_preview_change', :'cluster_preview_change_by_id') AS same;
SELECT :'single_next_changes' AS next_changes, :'single_next_changes' = :'cluster_next_changes' AS same;

-- segment_sizes.
SELECT :'single_sizes' AS sizes, :'single_sizes_some' AS sizes_some,
       (:'single_sizes', :'single_sizes_some') = (:'cluster_sizes', :'cluster_sizes_some') AS same;

-- Online changes.
SELECT :'single_members_online_created' AS created, :'single_members_online_updated' AS updated,
       :'single_members_online_by_hand' AS by_hand,
       (:'single_members_online_created', :'single_members_online_updated', :'single_members_online_by_hand')
       = (:'cluster_members_online_created', :'cluster_members_online_updated',
          :'cluster_members_online_by_hand') AS same;
-- Steps by hand: the members move with the step, not before.
SELECT :'single_members_online_before_step' AS before_step, :'single_online_step_more' AS more,
       :'single_members_online_after_step' AS after_step,
       (:'single_members_online_before_step', :'single_online_step_more', :'single_members_online_after_step')
       = (:'cluster_members_online_before_step', :'cluster_online_step_more',
          :'cluster_members_online_after_step') AS same;
SELECT :'single_online_error_no_change' AS no_change, :'single_online_deleted' AS deleted,
       :'single_online_assignments_left' AS left,
       (:'single_online_error_no_change', :'single_online_deleted', :'single_online_assignments_left')
       = (:'cluster_online_error_no_change', :'cluster_online_deleted', :'cluster_online_assignments_left') AS same;

-- untrack_orders, untrack_customers, and tracking the table again.
SELECT :'single_manual4' AS manual4, :'single_untrack_customers' AS untrack_customers,
       :'single_untrack_orders' AS untrack_orders, :'single_untrack_orders_again' AS again,
       (:'single_manual4', :'single_untrack_customers', :'single_untrack_orders', :'single_untrack_orders_again')
       = (:'cluster_manual4', :'cluster_untrack_customers', :'cluster_untrack_orders',
          :'cluster_untrack_orders_again') AS same;
-- metrics/assignments/overrides/tracked tables left after untrack_orders
SELECT :'single_after_untrack' AS after_untrack, :'single_metrics_after_order' AS metrics_after_order,
       (:'single_after_untrack', :'single_metrics_after_order')
       = (:'cluster_after_untrack', :'cluster_metrics_after_order') AS same;
SELECT :'single_retracked' AS retracked, :'single_calculated7_retracked' AS calculated7,
       (:'single_retracked', :'single_calculated7_retracked')
       = (:'cluster_retracked', :'cluster_calculated7_retracked') AS same;
SELECT :'single_members_big_retracked' AS members_big_retracked,
       :'single_members_big_retracked' = :'cluster_members_big_retracked' AS same;

-- Membership, history and verify after all the steps.
SELECT :'single_assignments' = :'cluster_assignments' AS same_assignments,
       :'single_history' = :'cluster_history' AS same_history;
SELECT :'single_verify' AS verify_at_end, :'single_verify' = :'cluster_verify' AS same;
-- The overrides are distributed with the customers.
SELECT partmethod, colocationid = (SELECT colocationid FROM pg_dist_partition
                                   WHERE logicalrelid = 'shop.orders'::regclass) AS colocated
FROM pg_dist_partition WHERE logicalrelid = 'segmentation.overrides'::regclass;
SELECT count(*) AS leftovers FROM (SELECT 1 FROM segmentation.cluster_tasks UNION ALL
                                   SELECT 1 FROM segmentation.cluster_calls) x;

-- segment_members with text and uuid keys: pages in the key type's order
-- (the collation's, for text) on a cluster as on one server.
\set keytype text
\c functions_single - 127.0.0.1 :coordinator
CREATE DATABASE functions_text_single;
\c functions_text_single - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster false
\set prefix text_single_
\i test/citus/sql/members_text_steps.psql
\set db functions_text_cluster
\i test/citus/sql/cluster_database.psql
CREATE EXTENSION segmentation;
\set cluster true
\set prefix text_cluster_
\i test/citus/sql/members_text_steps.psql
SELECT :'text_single_members' AS text_members, :'text_single_member_count' AS text_member_count,
       (:'text_single_members', :'text_single_member_count')
       = (:'text_cluster_members', :'text_cluster_member_count') AS same;
\set keytype uuid
\c functions_single - 127.0.0.1 :coordinator
CREATE DATABASE functions_uuid_single;
\c functions_uuid_single - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster false
\set prefix uuid_single_
\i test/citus/sql/members_text_steps.psql
\set db functions_uuid_cluster
\i test/citus/sql/cluster_database.psql
CREATE EXTENSION segmentation;
\set cluster true
\set prefix uuid_cluster_
\i test/citus/sql/members_text_steps.psql
SELECT :'uuid_single_member_count' AS uuid_member_count,
       (:'uuid_single_members', :'uuid_single_member_count')
       = (:'uuid_cluster_members', :'uuid_cluster_member_count') AS same;

-- Both tables tracked: untracking one of them, then the other.
\c functions_single - 127.0.0.1 :coordinator
CREATE DATABASE functions_both_single;
\c functions_both_single - 127.0.0.1 :coordinator
CREATE EXTENSION segmentation;
\set cluster false
\set prefix both_single_
\i test/citus/sql/untrack_both_steps.psql
\set db functions_both_cluster
\i test/citus/sql/cluster_database.psql
CREATE EXTENSION segmentation;
\set cluster true
\set prefix both_cluster_
\i test/citus/sql/untrack_both_steps.psql
SELECT :'both_single_untrack_customers' AS untrack_customers, :'both_single_retracked_customers' AS retracked,
       :'both_single_untrack_orders' AS untrack_orders, :'both_single_untrack_last' AS untrack_last,
       (:'both_single_untrack_customers', :'both_single_retracked_customers', :'both_single_untrack_orders',
        :'both_single_untrack_last')
       = (:'both_cluster_untrack_customers', :'both_cluster_retracked_customers', :'both_cluster_untrack_orders',
          :'both_cluster_untrack_last') AS same;
SELECT :'both_single_both' = :'both_cluster_both' AS same_both,
       :'both_single_without_customers' = :'both_cluster_without_customers' AS same_without_customers,
       :'both_single_both_again' = :'both_cluster_both_again' AS same_both_again,
       :'both_single_without_orders' = :'both_cluster_without_orders' AS same_without_orders,
       :'both_single_after_writes' = :'both_cluster_after_writes' AS same_after_writes,
       :'both_single_nothing' = :'both_cluster_nothing' AS same_nothing,
       :'both_single_both_history' = :'both_cluster_both_history' AS same_history;
-- The states compared are not trivial: metrics and members change with each step.
SELECT :'both_single_both' <> :'both_single_without_customers' AS customers_mattered,
       :'both_single_both_again' <> :'both_single_without_orders' AS orders_mattered,
       :'both_single_nothing' AS nothing_left;

\c citus_regression - 127.0.0.1 :coordinator
SET client_min_messages = warning;
SELECT count(*) AS dropped_on_workers
FROM unnest(ARRAY['functions_cluster', 'functions_text_cluster', 'functions_uuid_cluster',
                   'functions_both_cluster']) AS db,
     LATERAL run_command_on_workers(format('DROP DATABASE %I WITH (FORCE)', db)) r WHERE r.success;
DROP DATABASE functions_cluster WITH (FORCE);
DROP DATABASE functions_text_cluster WITH (FORCE);
DROP DATABASE functions_uuid_cluster WITH (FORCE);
DROP DATABASE functions_single WITH (FORCE);
DROP DATABASE functions_text_single WITH (FORCE);
DROP DATABASE functions_uuid_single WITH (FORCE);
DROP DATABASE functions_both_cluster WITH (FORCE);
DROP DATABASE functions_both_single WITH (FORCE);
