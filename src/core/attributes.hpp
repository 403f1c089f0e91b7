// Customer attributes: further columns of the customers table (country, age,
// newsletter opt-in, birth date, ...) that criteria test under "attributes".
//
//   {"attributes": {"country": {"in": ["DE", "FR"]}, "age": {"min": 18},
//                   "newsletter": {"equals": true}, "phone": {"isNull": true}}}
//
// This header is the model of those tests, their reader (called by the
// criteria reader for the "attributes" key), the check of a document against
// the attributes a shop declared, and a customer's attribute values as the
// extension stores them (a JSON object: see read_attribute_values).
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/exact.hpp"
#include "core/json.hpp"

namespace segmentation {

// What an attribute column holds, which decides the tests it takes.
enum class AttributeKind : std::uint8_t {
    Text,     // text, varchar, char, name, enum: equals, in, isNull
    Boolean,  // boolean: equals (true or false), isNull
    Number,   // smallint, integer, bigint, numeric: min, max, equals, in, isNull
    Time,     // date, timestamp, timestamptz: min, max, isNull
};
const char* attribute_kind_name(AttributeKind kind) noexcept;  // "text", "number", ...

struct AttributeDeclaration {
    std::string name;
    AttributeKind kind;
};
// The attributes a shop tracks, by column name.
using AttributeSchema = std::vector<AttributeDeclaration>;

// A value written in a test.
struct AttributeLiteral {
    enum class Kind : std::uint8_t { String, Number, Boolean, Time } kind = Kind::String;
    std::string text;         // a string's contents
    exact::int128 units = 0;  // a number, or a time in seconds since 1970-01-01 UTC, in units of 10^-18
    bool boolean = false;
};

// The tests of one attribute at one level; every test present must hold.
struct AttributeCondition {
    std::string name;
    std::string path;  // criteria.attributes.country: where it was written, for messages
    std::optional<bool> is_null;
    std::optional<AttributeLiteral> equals;
    bool has_in = false;
    std::vector<AttributeLiteral> in;
    std::optional<AttributeLiteral> min, max;
};

// Reads the value of an "attributes" key (an object of attribute name to an
// object of tests). Throws CriteriaError naming the path of a problem with
// the document itself; names and kinds are checked by check_attributes.
std::vector<AttributeCondition> read_attribute_conditions(const json::Value& member, const std::string& path);

// Throws CriteriaError (at the condition's or test's path) for an attribute
// the schema does not declare, or a test its kind does not take.
void check_attribute_condition(const AttributeCondition& condition, const AttributeSchema& schema);

// A time written in criteria: "2024-05-01", "2024-05-01T12:30:00",
// "2024-05-01 12:30:00.25Z", "2024-05-01T12:30:00+02:00" (no offset: UTC).
// Years 0001 to 9999, at most 6 decimal places of a second. Returns the
// instant in microseconds since 1970-01-01 00:00 UTC, or nothing.
std::optional<std::int64_t> parse_time(std::string_view text) noexcept;

// The inverse, for display: "2024-05-01" at midnight UTC, else
// "2024-05-01T12:30:00Z" with the fraction of a second when there is one
// ("...:00.25Z"). Nothing outside the years 0001-9999.
std::optional<std::string> format_time(std::int64_t micros);

// One stored attribute value of a customer.
struct AttributeValue {
    enum class Kind : std::uint8_t { Null, String, Number, Boolean, Other } kind = Kind::Null;
    std::string text;            // a string's contents, or a number's literal as stored
    exact::MoneyKey number = 0;  // a number's exact comparison key (exact::MoneyKey), when in range
    int beyond = 0;              // -1 or +1: a number below -10^19 or above 10^19 (number not set)
    bool boolean = false;
};

// A customer's attribute values, as the extension stores them in
// customer_metrics.attributes: a JSON object of column name to value, with
// strings for text, true/false, numbers for numbers, and times as numbers of
// seconds since 1970-01-01 UTC (a NULL column is left out). An infinite time
// or a NaN is stored as a string, and so is no number to range tests.
class AttributeValues {
public:
    // Replaces the values with those of a stored JSON object. Text that is
    // not a JSON object leaves no values at all (every attribute NULL).
    void read(std::string_view json_text);
    void clear() noexcept { values_.clear(); }
    // The value of `name`; a Null value when absent.
    const AttributeValue& get(std::string_view name) const noexcept;
    std::size_t size() const noexcept { return values_.size(); }

private:
    std::vector<std::pair<std::string, AttributeValue>> values_;  // in stored (sorted) order
};

}  // namespace segmentation
