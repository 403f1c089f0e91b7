#include "core/windows.hpp"

#include <algorithm>

namespace segmentation {

Micros window_span(const exact::int128& days_units) noexcept {
    // micros = units * 86400e6 / 1e18 = units * 864 / 1e10, rounded down:
    // an age of whole microseconds is <= the exact span iff <= its floor.
    const exact::int128 ten_billion = 10000000000LL;
    exact::int128 whole = days_units / ten_billion * 864;
    exact::int128 rest = days_units % ten_billion * 864 / ten_billion;
    return static_cast<Micros>(whole + rest);
}

void WindowTotals::set(const WindowTotal& total) {
    auto at = std::lower_bound(totals_.begin(), totals_.end(), total.span,
                               [](const WindowTotal& t, Micros span) { return t.span < span; });
    if (at != totals_.end() && at->span == total.span)
        *at = total;
    else
        totals_.insert(at, total);
}

const WindowTotal* WindowTotals::find(Micros span) const noexcept {
    const WindowTotal* data = totals_.data();
    std::size_t low = 0, high = totals_.size();
    while (low < high) {
        std::size_t mid = low + (high - low) / 2;
        if (data[mid].span < span)
            low = mid + 1;
        else
            high = mid;
    }
    return low < totals_.size() && data[low].span == span ? &data[low] : nullptr;
}

}  // namespace segmentation
