// Citus (distributed PostgreSQL) is not supported yet. Writes to a Citus
// table go to its shards, where the tracking triggers do not keep metrics,
// so tracking one would leave metrics and membership stale without an error.
// Both ways there are refused with 0A000: tracking a Citus table, and making
// a tracked table a Citus table. Citus is found through its catalog
// (pg_catalog.pg_dist_partition), never linked.
#pragma once

#include <string>

#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

// Whether the Citus extension is installed in this database. PG-style.
SEGMENTATION_PG_CONTEXT bool citus_installed();

// Throws 0A000 when `relation` is a Citus table (distributed, reference, or
// a local table added to Citus metadata). Needs SPI.
void require_not_distributed(Oid relation);

// Throws 0A000 for a tracked table being made a Citus table: Citus is
// creating a copy of the tracking trigger `trigger_function` on one of the
// table's shards (a table segmentation does not track).
[[noreturn]] void refuse_distributing_tracked_table(const std::string& trigger_function);

}  // namespace segmentation::glue
