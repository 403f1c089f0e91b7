// What the core knows about one customer: the stored metrics from which every
// criteria metric is derived at an instant `as_of`.
//
//   lifetime value          = sum of order amounts (exact)
//   order count             = number of orders
//   average order value     = lifetime value / order count      (no orders: no value)
//   days since last purchase = (as_of - last order) / 1 day     (no orders: no value)
//   tenure days             = (as_of - customer since) / 1 day  (unknown since: no value)
//   purchase frequency      = order count * 30 / max(tenure days, 1)
//
// A bound on a metric with no value never matches.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/attributes.hpp"
#include "core/exact.hpp"

namespace segmentation {

class WindowTotals;  // core/windows.hpp

// Instants and durations in microseconds; the epoch does not matter because
// only differences are used (PostgreSQL's timestamptz fits directly).
using Micros = std::int64_t;
constexpr Micros kMicrosPerDay = 86400LL * 1000000LL;

struct Customer {
    exact::MoneyKey lifetime_value = 0;  // see exact::MoneyKey
    std::int64_t order_count = 0;
    std::optional<Micros> last_order_at;
    std::optional<Micros> customer_since;
    std::optional<std::string_view> loyalty_level;
    // Attribute values (core/attributes.hpp), owned elsewhere; none: every attribute is NULL.
    const AttributeValues* attributes = nullptr;
    // Totals of its orders in the windows criteria use (core/windows.hpp),
    // owned elsewhere; none: window tests do not hold (callers read them
    // first when the criteria use windows).
    const WindowTotals* windows = nullptr;
};

}  // namespace segmentation
