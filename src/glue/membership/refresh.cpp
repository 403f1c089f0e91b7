// Re-evaluating every customer in bulk (refresh_all, tracking, definition changes).
#include "glue/membership/refresh.hpp"

#include "glue/membership/customer_scan.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/windows.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace segmentation::glue {
namespace {

constexpr std::size_t kBatchSize = 10000;

}  // namespace

std::size_t collect_stale_customers(std::vector<CustomerState>& batch, const SegmentSet& segments, TimestampTz as_of,
                                    const Scope& scope, const OverriddenCustomers& overridden,
                                    std::vector<Datum>& stale, std::size_t limit) {
    read_window_totals(batch, segments, as_of);  // one statement per batch, when criteria use windows
    std::vector<Change> unused;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i % 256 == 0) poll_interrupts();
        unused.clear();
        Evaluation e = evaluate_state(batch[i], segments, as_of, scope, unused);
        if (e.membership_changed || e.due_changed || overridden.contains(batch[i].key)) {
            stale.push_back(batch[i].key);
            if (stale.size() == limit) return i + 1;
        }
    }
    return batch.size();
}

RefreshTotals refresh_customers(TimestampTz as_of, Cause cause, const Scope& scope) {
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    RefreshTotals totals;
    OverriddenCustomers overridden;
    overridden.load(segments->has_overrides());
    CustomerScan scan;
    scan.open();
    std::vector<CustomerState> batch;
    std::vector<Datum> stale;
    for (;;) {
        poll_interrupts();
        spi::connect();  // one connection per batch: its finish frees the batch
        batch.clear();
        if (scan.next(batch, kBatchSize) == 0) {
            spi::finish();
            break;
        }
        stale.clear();
        collect_stale_customers(batch, *segments, as_of, scope, overridden, stale);
        totals.customers += static_cast<int64>(batch.size());
        // Only customers that need a write are locked, read again and written.
        totals.count(evaluate_customers(stale, as_of, cause, scope));
        spi::finish();
    }
    scan.close();
    return totals;
}

}  // namespace segmentation::glue
