// Re-evaluating many customers: everyone (refresh_all, after tracking or a
// definition change) or those whose results can flip with time (refresh_due).
#pragma once

#include <optional>
#include <vector>

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

// Re-evaluates every customer at `as_of`, streaming them in batches: only
// customers whose assignments or due time must change are locked and
// written. `scope` may limit the work to some segments' membership (a
// definition change). Needs SPI.
RefreshTotals refresh_customers(TimestampTz as_of, Cause cause, const Scope& scope = {});

}  // namespace segmentation::glue
