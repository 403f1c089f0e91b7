// Citus: set-based work shard by shard, and per-customer functions on the
// node holding the customer (docs/citus.md).
//
// The coordinator's API functions cannot read or write the shards from where
// they run: the extension's code must run on each shard's node, in the
// caller's transaction. Two tables carry the work there (parts/02_tables):
//
// - a row written in segmentation.cluster_tasks (a reference table) fires
//   its trigger on every node's placement, inside the distributed
//   transaction: each node runs the task (refresh_all, refresh_due, verify)
//   on each of its shard groups in turn, in that group's RelationScope, and
//   writes the group's results into its own shard of
//   segmentation.cluster_calls (rows without a customer);
// - a row written in segmentation.cluster_calls with a customer goes to the
//   shard of that customer (a router INSERT): its BEFORE INSERT trigger runs
//   the call there, in that shard's RelationScope, and fills the row's
//   result columns, which the INSERT returns.
//
// The coordinator then reads the results with one distributed query and
// deletes the rows: nothing stays. Citus is asked for one connection per
// node for the duration (citus.multi_shard_modify_mode = sequential), so that
// the query that reads the results runs where the task wrote them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "glue/boundary/guard.hpp"
#include "glue/membership/refresh.hpp"

namespace segmentation::glue {

// Whether an API function called here must hand its work to the nodes: the
// extension's tables are Citus tables and no shard is in scope (on a node
// running a task, the work is local). Needs SPI.
bool runs_on_cluster();

// refresh_all ("refresh_all") or refresh_due ("refresh_due") at `as_of` on
// every shard, in this transaction; the totals of all shards. Needs SPI.
RefreshTotals cluster_refresh(const char* task, TimestampTz as_of);

// verify(as_of) on every shard: its rows, in single-server order, into the
// function's result set. Needs SPI and start_set_result().
void cluster_verify(FunctionCallInfo fcinfo, TimestampTz as_of);

// Untracking's work on every shard, in this transaction (no result): task
// "untracked_customers" or "untracked_orders", then "_with_other" when the
// other table stays tracked, then "_paused" when the untracked table was
// not evaluated live (untracked_here's arguments). Needs SPI.
void cluster_untracked(const char* task);

// What the customers keep when `kind` is untracked (track_functions.cpp),
// where they are: the other table tracked or not; the untracked one live or not.
void untracked_here(const char* kind, bool other_tracked, bool live, TimestampTz now);

// One step of `segment`'s online change (segment_change_step) on every
// shard group, in this transaction: where the next step starts (the least
// of the groups' last customers, as text), or nothing when no group had
// work left. Needs SPI.
std::optional<std::string> cluster_change_step(int64 segment, const std::optional<std::string>& after);

struct ClusterCallResult {
    std::vector<int64> added, removed;  // assign_automatic_segments
    bool changed = false;               // assign_manual_segment, remove_manual_segment, the overrides
};

// `call` for customer `key` (of the key type) on the node holding it.
// Errors raised there come back with their SQLSTATE. Needs SPI.
ClusterCallResult cluster_call(const char* call, Datum key, int64 segment, Datum reason, bool reason_null);

// ---- the work itself, run where the rows are (defined by the functions' files)

// refresh_due's batches at `as_of` (refresh_functions.cpp).
RefreshTotals refresh_due_customers(TimestampTz as_of);

// verify's drift rows at `as_of` into cluster_calls rows of task `id`
// (verify_function.cpp), for the shard in scope.
void verify_into_cluster_calls(TimestampTz as_of, int64 id);

// The bodies of assign_automatic_segments, assign_manual_segment and
// remove_manual_segment (assignment_functions.cpp), evaluating at `now`
// (the caller's transaction start).
ClusterCallResult assign_automatic_here(Datum key, TimestampTz now);
bool assign_manual_here(Datum key, int64 segment, TimestampTz now);
bool remove_manual_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now);

// A step of `segment`'s online change for the shard group in scope, after
// the customer `after` (text of a key; from the first without it): the last
// customer covered, or nothing (online_changes.cpp).
std::optional<std::string> change_step_here(int64 segment, const std::optional<std::string>& after);

// The bodies of include_customer, exclude_customer and remove_override
// (assignment_functions.cpp), the override made at `now`.
bool include_customer_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now);
bool exclude_customer_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now);
bool remove_override_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now);

}  // namespace segmentation::glue
