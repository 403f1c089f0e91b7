// Behaviour in a time window (criteria key "window"): the number of orders
// and the spend of the customer's orders of the last D days, at `as_of`.
//
// An order is in a window of `span` microseconds when as_of - ordered_at <=
// span: an order exactly D days old still counts, and an order dated after
// as_of counts too (as_of moves the clock, not the data, as for every other
// metric). An order without a time is in no window. Orders never enter a
// window as the clock moves; the oldest order in it leaves it at
// ordered_at + span + 1 microsecond, which is when the result may change.
//
// The core does not read orders: the glue reads, for each window span the
// criteria use, the totals of the customer's in-window orders (a query over
// the tracked orders table) and hands them over as WindowTotals.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/customer.hpp"
#include "core/exact.hpp"

namespace segmentation {

// A "window" condition as written: {"days": D, "minOrders": ..., "maxOrders":
// ..., "minSpend": ..., "maxSpend": ...}; bounds inclusive, at least one.
struct WindowCondition {
    exact::int128 days = 0;                                                     // units of 10^-18, > 0
    std::optional<exact::int128> min_orders, max_orders, min_spend, max_spend;  // units of 10^-18
    std::string path;                                                           // where in the document, for messages
};

// Windows are at most this many days long (about 2,700 years).
constexpr std::int64_t kMaxWindowDays = 1000000;

// The window's length in whole microseconds: an order of age `a` (whole
// microseconds) is in it when a <= span, which is exact for fractional days.
Micros window_span(const exact::int128& days_units) noexcept;

// The totals of one customer's orders in one window at one instant.
struct WindowTotal {
    Micros span = 0;
    std::int64_t orders = 0;
    exact::MoneyKey spend = 0;     // exact::MoneyKey of the sum of their amounts
    std::optional<Micros> oldest;  // the earliest order time among them (none: no orders)
};

// The totals for each span the criteria use, looked up by span.
class WindowTotals {
public:
    void clear() noexcept { totals_.clear(); }
    // Spans are set in any order, each once.
    void set(const WindowTotal& total);
    // nullptr when `span` was not read (a window test then does not hold).
    const WindowTotal* find(Micros span) const noexcept;
    const std::vector<WindowTotal>& all() const noexcept { return totals_; }

private:
    std::vector<WindowTotal> totals_;  // ascending span
};

}  // namespace segmentation
