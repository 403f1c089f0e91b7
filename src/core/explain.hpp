// Why a customer does or does not match criteria: a JSON document that
// mirrors the criteria document key by key, each bound carrying the
// customer's metric value and whether it held, so that a UI can show it.
#pragma once

#include "core/pure.hpp"

#include <string>
#include <string_view>

#include "core/criteria.hpp"
#include "core/customer.hpp"

namespace segmentation {

// The explanation of `criteria_json` (validated here: CriteriaError as
// parse_criteria) for `customer` at `as_of`, as JSON text. Each criteria
// object becomes an object with "matched" (the matcher's own answer for that
// object) and, for each of its keys:
//
//   a bound (minOrders, ...)  {"bound": <the number as written>, "value": <the
//                             customer's metric, or null when it has none>,
//                             "held": <bool>}
//   loyaltyLevels             {"bound": [<levels>], "value": <level or null>, "held": <bool>}
//   all, any                  an array of the explanations of its objects
//   not                       the explanation of its object (the key holds
//                             when that object's "matched" is false)
//
// "held" and "matched" are computed by the matcher, exactly; "value" is for
// display: order counts and lifetime values exactly, derived metrics
// (average order value, days, frequency) rounded to 6 decimal places.
// A key the explanation does not know (none today) gets {"held": <bool>}.
std::string explain_criteria(std::string_view criteria_json, const Customer& customer, Micros as_of,
                             const std::string& root = "criteria");

// The value shown for one metric of a customer at as_of, as a JSON number
// ("null" when the metric has no value for this customer).
std::string metric_value_json(Metric metric, const Customer& customer, Micros as_of);

// `text` as a JSON string literal (quotes and escapes added).
std::string json_string(std::string_view text);

}  // namespace segmentation
