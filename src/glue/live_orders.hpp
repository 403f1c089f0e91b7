// The hot path of live tracking: an INSERT, UPDATE or DELETE on the tracked
// orders table updates each affected customer's metrics row in place through
// PostgreSQL's C APIs (the executor's replication helpers: find by primary
// key, lock, update with index maintenance) instead of SQL. SQL runs only
// when something rare happens: membership changes, a first or last order
// leaves, a customer is new.
#pragma once

#include "glue/tracking.hpp"

namespace segmentation::glue {

// Applies the rows of one statement (the trigger's transition tables) to
// the metrics of the customers they belong to, and evaluates them when the
// orders table is live. Needs SPI for its rare paths.
void apply_order_changes(TriggerData* trigger, const Tracking& tracking);

}  // namespace segmentation::glue
