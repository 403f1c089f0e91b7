// The hot path of live tracking: an INSERT, UPDATE or DELETE on the tracked
// orders table updates each affected customer's metrics row in place through
// PostgreSQL's C APIs (the executor's replication helpers: find by primary
// key, lock, update with index maintenance) instead of SQL. SQL runs only
// when something rare happens: membership changes, a first or last order
// leaves, a customer is new.
#pragma once

#include <vector>

#include "glue/tracking/configuration.hpp"

namespace segmentation::glue {

// Applies the rows of one statement (the trigger's transition tables) to
// the metrics of the customers they belong to, and evaluates them when the
// orders table is live. Needs SPI for its rare paths.
void apply_order_changes(TriggerData* trigger, const Tracking& tracking);

// Before a customers-table statement back-fills metrics from the orders
// table: waits for transactions holding orders of these customers that
// were written while the customers did not exist yet, so that the back-fill
// sees them (a lock per slot of keys, held to the end of the transaction).
void lock_customers_to_backfill(const std::vector<Datum>& keys);

// After that back-fill: these customers' metrics were counted from the
// orders table in this transaction (see apply_order_changes).
void note_backfilled_customers(const std::vector<Datum>& keys);

SEGMENTATION_PG_CONTEXT void register_order_changes_callbacks();

}  // namespace segmentation::glue
