// Citus (distributed PostgreSQL): tracking a hash-distributed table
// (docs/citus.md). The extension's own tables become Citus tables alongside
// it: segments and tracked_tables reference tables, customer_metrics,
// assignments and assignment_log distributed by customer and co-located
// with the tracked table, and the tracking triggers on the table's shards
// work on the co-located shards of the extension's tables (placements.hpp).
// What cannot be exact yet is refused with 0A000: reference tables, local
// tables added to Citus metadata, distributed tables not distributed by the
// customer, and a customers and an orders table that are not co-located.
// Citus is found through its catalog (pg_catalog.pg_dist_partition), never linked.
#pragma once

#include <string>

#include "glue/boundary/guard.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/tracking/configuration.hpp"

namespace segmentation::glue {

// Whether the Citus extension is installed in this database. PG-style.
SEGMENTATION_PG_CONTEXT bool citus_installed();

// Whether `relation` is a Citus table; throws 0A000 for a Citus table that
// cannot be tracked (see above), naming `key_column` as the customer
// column it must be distributed by. Needs SPI.
bool require_trackable_citus_table(Oid relation, const std::string& key_column, const Tracking& current);

// Before the configuration row of a Citus table is recorded: makes
// segments and tracked_tables reference tables (the row then reaches every
// node, whose trigger retypes that node's keys), and makes the rest of the
// transaction use one connection per node. Needs SPI.
void prepare_distributed_tracking();

// Before a tracked Citus table's triggers are dropped (untrack_orders):
// Citus drops triggers of a distributed table only with
// citus.enable_unsafe_triggers on, and the nodes' work must see the
// configuration row's deletion (one connection per node).
void prepare_distributed_untracking();

// After the row is recorded: distributes customer_metrics, assignments and
// assignment_log co-located with `relation`. Needs SPI.
void distribute_extension_tables(Oid relation);

// On every node, from the trigger of tracked_tables: the node's own copy of
// the extension's tables in the cluster layout (assignment_log keyed by
// (customer_id, id), its ids in this node's range). Needs SPI.
void arrange_node_tables();

// Asks every node to back-fill and evaluate the customers of its shards,
// in this transaction, at its start (a cluster task, cluster_work.hpp):
// "track_orders", "track_customers" (the table just tracked) or
// "track_attributes" (the attribute columns just set). Needs SPI.
void backfill_on_every_node(const char* task);

// The task's work on the shard group in scope, as one server does it when
// the table is tracked; the refresh's totals. Needs SPI.
RefreshTotals backfill_here(const std::string& task, TimestampTz as_of);

// Throws 0A000 for a tracked table being made a Citus table: Citus is
// creating a copy of the tracking trigger `trigger_function` on one of the
// table's shards (a table segmentation does not track).
[[noreturn]] void refuse_distributing_tracked_table(const std::string& trigger_function);

// Throws 0A000 for TRUNCATE of a tracked Citus table (`relation`, the
// coordinator's table): Citus truncates its shards without firing their
// triggers, which would leave metrics and membership as they were.
[[noreturn]] void refuse_truncating_citus_table(Relation relation);

}  // namespace segmentation::glue
