// The membership rules every evaluation path shares (a customer evaluated in
// full, some segments after a definition change, the order hot path): which
// assignments change, and which due time to store. Pure: no PostgreSQL.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <vector>

#include "core/customer.hpp"

namespace segmentation {

// The first instant a PostgreSQL timestamptz cannot hold (END_TIMESTAMP,
// 294277-01-01 00:00 UTC, in microseconds since 2000-01-01; the glue checks
// it against PostgreSQL's constant).
constexpr Micros kEndOfTimestamps = 9223371331200000000LL;

// A next-change instant as it is stored: one beyond the timestamp range
// means "never" and is kept as no time at all.
std::optional<Micros> storable_instant(std::optional<Micros> instant);

// Walks two ascending lists of segment ids, the segments a customer matches
// and those it is in: calls change(segment, true) for each segment to add
// (matched only) and change(segment, false) for each to remove (current
// only), in ascending order.
template <class Change>
void for_each_membership_change(const std::vector<std::int64_t>& matched, const std::vector<std::int64_t>& current,
                                Change change) {
    std::size_t i = 0, j = 0;
    while (i < matched.size() || j < current.size()) {
        if (j == current.size() || (i < matched.size() && matched[i] < current[j]))
            change(matched[i++], true);
        else if (i == matched.size() || current[j] < matched[i])
            change(current[j++], false);
        else
            ++i, ++j;
    }
}

// The due time to store after evaluating a customer at `as_of`, given the
// stored one and `next`, the instant its result may next change with time
// (storable_instant). The stored due time is a lower bound of the next
// change: it moves when the change came closer, and it is made exact when
// the customer was due and has now been evaluated in full. A stored time
// earlier than needed costs one needless look later, never a missed change,
// and is kept (an order usually pushes the next change later: the metrics
// update then touches no indexed column). An evaluation of some segments
// only (a definition change) never ends a customer's wait: its other
// segments were not looked at.
std::optional<Micros> due_time_to_store(std::optional<Micros> stored, std::optional<Micros> next, Micros as_of,
                                        bool full_evaluation);

}  // namespace segmentation
