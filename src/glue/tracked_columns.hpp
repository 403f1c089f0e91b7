// What the columns of tracked tables may be, and whether a tracking still
// holds: every generated statement and the C++ hot path rely on the tracked
// columns having one of the built-in types below, so that no user-defined
// code (a cast, an operator) ever runs with the extension's rights.
#pragma once

#include <optional>
#include <string>

#include "glue/tracking.hpp"

namespace segmentation::glue {

enum class TrackedColumn { CustomerId, CreatedAt, Loyalty, OrderCustomer, Amount, OrderedAt };

// Whether a column of this type can play this part. PG-style.
bool column_type_allowed(TrackedColumn column, Oid type);

// What the part allows, for messages: "amounts must be numeric, ...".
const char* column_type_expectation(TrackedColumn column);

// The kinds of customer key, and the type each is stored as.
enum class KeyFamily { Integer, Text, Uuid, Unsupported };
KeyFamily key_family(Oid type);
Oid storage_type(KeyFamily family);

// SQL reading a loyalty column (an expression over it) as text through the
// type's output function, never through a cast a user could have defined.
std::string loyalty_as_text(const std::string& column_sql, Oid type);

// Order and creation times as instants, the same for every session: a
// timestamptz as it is, a timestamp (without time zone) as UTC wall time, a
// date as midnight UTC. Never through the session's TimeZone, so metrics and
// verify() do not depend on who writes or checks. One rule, in SQL (an
// expression over the column) and in C++ (PG-style).
std::string instant_sql(const std::string& column_sql, Oid type);
TimestampTz instant_of(Datum value, Oid type);

// The first thing wrong with a tracking, if any: a table or column gone or
// retyped, one of the extension's triggers on it dropped or disabled. Needs SPI.
std::optional<std::string> tracking_problem(const Tracking& tracking);

// Throws 55000 naming the problem, for paths that use the tracked columns.
void require_sound_tracking(const Tracking& tracking);

}  // namespace segmentation::glue
