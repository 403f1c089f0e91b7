// Re-evaluating many customers: everyone (refresh_all, after tracking or a
// definition change) or those whose results can flip with time (refresh_due).
#pragma once

#include <optional>
#include <vector>

#include "glue/membership/customer_scan.hpp"
#include "glue/membership/evaluation.hpp"

namespace segmentation::glue {

struct RefreshTotals {
    int64 customers = 0;  // customers whose membership or due time changed
    int64 added = 0;
    int64 removed = 0;

    void count(const std::vector<Change>& changes) {
        for (const Change& c : changes) (c.added ? added : removed) += 1;
    }
};

// Appends to `stale` the customers of `batch` (read by a CustomerScan) whose
// membership within `scope` or due time must change at `as_of`, and those
// with overrides (the scan does not read them), to be locked, read again and
// written by evaluate_customers. Stops after `limit` of them; returns how
// many of the batch it looked at. Reads the batch's window totals when the
// criteria use windows. Needs SPI.
std::size_t collect_stale_customers(std::vector<CustomerState>& batch, const SegmentSet& segments, TimestampTz as_of,
                                    const Scope& scope, const OverriddenCustomers& overridden,
                                    std::vector<Datum>& stale, std::size_t limit = SIZE_MAX);

// Re-evaluates every customer at `as_of`, streaming them in batches: only
// customers whose assignments or due time must change are locked and
// written. `scope` may limit the work to some segments' membership (a
// definition change). Needs SPI.
//
// `writers_excluded`: the caller holds the definitions lock exclusively,
// which every writer of metrics and assignments holds shared until its
// commit, so no other writer runs and the scan's snapshot (taken after the
// lock, in READ COMMITTED) is what the customers are. Then what the scan's
// evaluation found is written at once, in bulk: the customers to change are
// locked (in key order, as by every writer) but not read and evaluated
// again (those with overrides, which the scan does not read, still are).
// In REPEATABLE READ or SERIALIZABLE, whose snapshot may be older than the
// lock, customers are locked and re-read as usual.
RefreshTotals refresh_customers(TimestampTz as_of, Cause cause, const Scope& scope = {}, bool writers_excluded = false);

}  // namespace segmentation::glue
