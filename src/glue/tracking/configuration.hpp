// Tracked tables: the user's customers and orders tables, as configured in
// segmentation.tracked_tables. The types every tracking file shares.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

struct TrackedTable {
    Oid relation = InvalidOid;
    std::string name;           // quoted and schema-qualified, ready for SQL
    std::string key_column;     // column names, unquoted: customer id (customers) or customer reference (orders)
    std::string time_column;    // created_at (customers) or ordered_at (orders)
    std::string value_column;   // loyalty level (customers; may be empty) or amount (orders)
    Oid key_type = InvalidOid;  // the columns' current types (InvalidOid: the column is gone)
    Oid time_type = InvalidOid;
    Oid value_type = InvalidOid;
    // Where the three columns are in `relation` (a Citus shard's may differ
    // from its table's); InvalidAttrNumber: gone, or no such column.
    AttrNumber key_attnum = InvalidAttrNumber;
    AttrNumber time_attnum = InvalidAttrNumber;
    AttrNumber value_attnum = InvalidAttrNumber;
    bool live = true;  // evaluate segments in the changing transaction
    // Customer attributes (customers only): further columns, with their current types.
    std::vector<std::string> attribute_columns;
    std::vector<Oid> attribute_types;
};

struct Tracking {
    std::optional<TrackedTable> customers;
    std::optional<TrackedTable> orders;
};

// The configuration as this transaction sees it, read now. Needs SPI.
Tracking read_tracking();

// The same, cached per backend until segmentation.tracked_tables or a
// tracked table changes (triggers use this; functions that change the
// configuration use read_tracking()), and checked sound when read. Needs SPI
// when it must read.
const Tracking& cached_tracking();
// The same, kept alive by the caller while the cache may be replaced (a
// trigger working through the tables).
std::shared_ptr<const Tracking> shared_cached_tracking();
SEGMENTATION_PG_CONTEXT void register_tracking_callbacks();

// The attributes criteria may test: the tracked customers table's attribute
// columns, with the kind of each type. Reads the configuration now (it
// connects to SPI itself).
AttributeSchema tracked_attribute_schema();

// The first step of the one lock order: the tracked tables (customers, then
// orders), then the definitions lock, then customers in key order. Every
// path that locks customers takes it, except TRUNCATE's triggers, which
// already hold their table exclusively and touch no other one.
void lock_tracked_tables(const Tracking& t, LOCKMODE customers_mode = AccessShareLock,
                         LOCKMODE orders_mode = AccessShareLock);

}  // namespace segmentation::glue
