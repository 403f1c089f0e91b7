// What the columns of tracked tables may be, and whether a tracking still
// holds: every generated statement and the C++ hot path rely on the tracked
// columns having one of the built-in types below, so that no user-defined
// code (a cast, an operator) ever runs with the extension's rights.
#pragma once

#include <optional>
#include <string>

#include "glue/tracking/configuration.hpp"

namespace segmentation::glue {

enum class TrackedColumn { CustomerId, CreatedAt, Loyalty, OrderCustomer, Amount, OrderedAt, Attribute };

// Whether a column of this type can play this part. PG-style.
SEGMENTATION_PG_CONTEXT bool column_type_allowed(TrackedColumn column, Oid type);

// What the part allows, for messages: "amounts must be numeric, ...".
const char* column_type_expectation(TrackedColumn column);

// A type's SQL name, for messages.
std::string type_name(Oid type);

// The type of a column of a table being tracked; 42703 naming the column's
// `role` when it does not exist.
Oid column_type(Oid relation, const std::string& column, const char* role);

// 42804 unless a column of this type can play this part.
void require_column_type(TrackedColumn role, const std::string& column, Oid type);

// The kinds of customer key, and the type each is stored as.
enum class KeyFamily { Integer, Text, Uuid, Unsupported };
KeyFamily key_family(Oid type);
Oid storage_type(KeyFamily family);

// Why a table or key column cannot be tracked: the error track_*() raises,
// and (its message) the problem tracking_problem() reports once a tracked
// table has come to break the rule.
struct Untrackable {
    int sqlstate;
    std::string message;
    std::string detail;
};

// The table-kind rules of tracking, written once: a plain, permanent table
// (not temporary, not unlogged) outside the extension's schema, in no
// inheritance hierarchy (no parent, partitions included, and no children).
// Anything else has rows that change, or are counted, without the tracking
// triggers. Needs no SPI.
std::optional<Untrackable> untrackable_relation(Oid relation);
void require_trackable_relation(Oid relation);

// A customer key column must compare equal only when identical: under a
// nondeterministic collation ('abc' = 'ABC') the table's notion of one
// customer and the extension's would differ.
std::optional<Untrackable> untrackable_key_column(Oid relation, const std::string& column);
void require_trackable_key_column(Oid relation, const std::string& column);

// SQL reading a loyalty column (an expression over it) as text through the
// type's output function, never through a cast a user could have defined.
std::string loyalty_as_text(const std::string& column_sql, Oid type);

// Customer attributes: the kind of value a column of this type holds, or
// nothing when it cannot be an attribute. PG-style.
SEGMENTATION_PG_CONTEXT std::optional<AttributeKind> attribute_kind(Oid type);

// At most this many attribute columns are tracked.
constexpr std::size_t kMaxAttributes = 32;

// SQL of a customers row `c` as its stored attributes (jsonb): an object of
// column name to value, NULL columns left out; text through the type's
// output function (enums), times as seconds since 1970-01-01 UTC (the
// instants of instant_sql). NULL when there are no attribute columns.
std::string attributes_sql(const TrackedTable& customers, const std::string& row_alias);

// Order and creation times as instants, the same for every session: a
// timestamptz as it is, a timestamp (without time zone) as UTC wall time, a
// date as midnight UTC. Never through the session's TimeZone, so metrics and
// verify() do not depend on who writes or checks. One rule, in SQL (an
// expression over the column) and in C++ (PG-style).
std::string instant_sql(const std::string& column_sql, Oid type);
SEGMENTATION_PG_CONTEXT TimestampTz instant_of(Datum value, Oid type);

// The first thing wrong with a tracking, if any: a table or column gone or
// retyped, one of the extension's triggers on it dropped or disabled. Needs SPI.
std::optional<std::string> tracking_problem(const Tracking& tracking);

// Throws 55000 naming the problem, for paths that use the tracked columns.
void require_sound_tracking(const Tracking& tracking);

}  // namespace segmentation::glue
