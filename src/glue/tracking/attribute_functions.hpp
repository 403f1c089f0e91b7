// Customer attributes: which columns of the customers table criteria may
// test (segmentation.track_customer_attributes), and what refuses to drop
// one that a segment uses.
#pragma once

#include <string>
#include <vector>

#include "glue/boundary/guard.hpp"
#include "glue/tracking/configuration.hpp"

namespace segmentation::glue {

// 2BP01 naming the first segment (by id) whose criteria test one of these
// attributes (any attribute when `names` is empty). `doing` says what was
// refused ("cannot untrack customers"). Needs SPI.
void refuse_attributes_in_use(const std::vector<std::string>& names, const std::string& doing);

// The statement that gives every customer of `customers` (the table, or on
// a Citus node its shard in scope) its tracked attributes, in one pass.
std::string attributes_backfill_sql(const TrackedTable& customers);

}  // namespace segmentation::glue
