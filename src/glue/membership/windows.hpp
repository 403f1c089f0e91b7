// Behaviour in a time window (criteria key "window", core/windows.hpp): the
// totals of customers' in-window orders, read from the tracked orders table.
//
// One statement reads a batch of customers, for every window span in use:
// for each customer and span, an index range over the orders of that
// customer since as_of - span (an index on the orders table's (customer
// column, time column) makes it cost what the orders in the window cost,
// not the customer's history). Nothing is read when no criteria use windows.
#pragma once

#include <vector>

#include "core/windows.hpp"
#include "glue/membership/evaluation.hpp"

namespace segmentation::glue {

// Reads into totals[i] (cleared first) the totals of keys[i]'s orders in
// each of `spans` at `as_of`. Without a tracked orders table every total is
// zero. Needs SPI; the statement replaces SPI_tuptable (earlier results stay
// valid until the connection finishes). Refuses (22023) an infinite as_of.
// On Citus: on a node, reads the tracked orders shard in scope; on the
// coordinator, each customer's orders by a router query (docs/citus.md).
void read_window_totals(const std::vector<Datum>& keys, const std::vector<Micros>& spans, TimestampTz as_of,
                        std::vector<WindowTotals>& totals);

// The same for states read from customer_metrics, into each state's
// `windows`, when `segments` use windows (nothing to do otherwise).
void read_window_totals(std::vector<CustomerState>& states, const SegmentSet& segments, TimestampTz as_of);

// One customer, for the spans of `spans` (a Matcher's or a SegmentSet's).
void read_window_totals(Datum key, const std::vector<Micros>& spans, TimestampTz as_of, WindowTotals& totals);

// Union of two ascending span lists.
std::vector<Micros> merge_spans(const std::vector<Micros>& a, const std::vector<Micros>& b);

}  // namespace segmentation::glue
