// Why a customer does or does not match criteria: a JSON document that
// mirrors the criteria document key by key, each bound carrying the
// customer's value (metric, attribute, membership) and whether it held, so
// that a UI can show it.
#pragma once

#include "core/pure.hpp"

#include <optional>
#include <string>
#include <string_view>

#include "core/criteria.hpp"
#include "core/customer.hpp"
#include "core/matcher.hpp"

namespace segmentation {

// What an explanation needs besides the customer's metrics.
struct ExplainContext {
    // The customer's segments at as_of, for inSegment / notInSegment; none:
    // those tests do not hold and show no value (as Matcher::matches).
    const MembershipView* membership = nullptr;
    // The attributes the shop tracks, to show time attributes as times; none:
    // every stored attribute value is shown as stored.
    const AttributeSchema* schema = nullptr;
};

// The explanation of `criteria_json` (validated here: CriteriaError as
// parse_criteria) for `customer` at `as_of`, as JSON text. Each criteria
// object becomes an object with "matched" (the matcher's own answer for that
// object) and, for each of its keys:
//
//   a bound (minOrders, ...)  {"bound": <the number as written>, "value": <the
//                             customer's metric, or null when it has none>,
//                             "held": <bool>}
//   loyaltyLevels             {"bound": [<levels>], "value": <level or null>, "held": <bool>}
//   attributes                an object with, for each attribute tested,
//                             {"bound": <its tests as written>, "value": <the
//                             customer's value or null>, "held": <bool>}
//   inSegment, notInSegment   {"bound": <the ids as written>, "value": [<the
//                             named segments the customer is in, in the order
//                             written>] (null without a membership view),
//                             "held": <bool>}
//   all, any                  an array of the explanations of its objects
//   not                       the explanation of its object (the key holds
//                             when that object's "matched" is false)
//
// "held" and "matched" are computed by the matcher, exactly; "value" is for
// display: order counts and lifetime values exactly, derived metrics
// (average order value, days, frequency) rounded to 6 decimal places,
// attribute values as stored (attribute_value_json).
// A key the explanation does not know (none today) gets {"held": <bool>}.
std::string explain_criteria(std::string_view criteria_json, const Customer& customer, Micros as_of,
                             const std::string& root = "criteria", const ExplainContext& context = {});

// The value shown for one stored attribute value: a string, true/false, a
// number as stored, null; a time attribute (`kind` Time) as a time in the
// criteria's own notation, "1990-05-17" at midnight UTC, else
// "2024-05-01T12:30:00.25Z" (years outside 0001-9999: seconds as stored).
std::string attribute_value_json(const AttributeValue& value, std::optional<AttributeKind> kind);

// The value shown for one metric of a customer at as_of, as a JSON number
// ("null" when the metric has no value for this customer).
std::string metric_value_json(Metric metric, const Customer& customer, Micros as_of);

// `text` as a JSON string literal (quotes and escapes added).
std::string json_string(std::string_view text);

}  // namespace segmentation
