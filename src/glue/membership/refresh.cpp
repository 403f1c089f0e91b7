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

namespace {

// What a batch's evaluation found, to be written as it is (writers_excluded).
struct Found {
    std::vector<Datum> written;  // the customers to lock, in key order (the overridden too)
    std::vector<Change> changes;
    std::vector<Datum> due_keys;
    std::vector<std::optional<TimestampTz>> due_times;
    std::vector<Datum> overridden;  // to be locked and read again with their overrides

    void clear() {
        written.clear();
        changes.clear();
        due_keys.clear();
        due_times.clear();
        overridden.clear();
    }
};

// Evaluates a batch read by a CustomerScan, keeping what must be written.
void collect_writes(std::vector<CustomerState>& batch, const SegmentSet& segments, TimestampTz as_of,
                    const Scope& scope, const OverriddenCustomers& overridden, Found& found) {
    read_window_totals(batch, segments, as_of);  // one statement per batch, when criteria use windows
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i % 256 == 0) poll_interrupts();
        if (overridden.contains(batch[i].key)) {
            found.written.push_back(batch[i].key);
            found.overridden.push_back(batch[i].key);
            continue;
        }
        Evaluation e = evaluate_state(batch[i], segments, as_of, scope, found.changes);
        if (e.membership_changed || e.due_changed) found.written.push_back(batch[i].key);
        if (e.due_changed) {
            found.due_keys.push_back(batch[i].key);
            found.due_times.push_back(e.due_at);
        }
    }
}

}  // namespace

RefreshTotals refresh_customers(TimestampTz as_of, Cause cause, const Scope& scope, bool writers_excluded) {
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    RefreshTotals totals;
    OverriddenCustomers overridden;
    overridden.load(segments->has_overrides());
    bool write_at_once = writers_excluded && pg::call([] { return !IsolationUsesXactSnapshot(); });
    // Writing at once, only the segments in scope (and those they refer to)
    // are evaluated: the others' matches would be thrown away. Their due
    // times count alone, which changes nothing stored: a limited scope only
    // ever brings a due time closer (due_time_to_store), and the others'
    // own come no closer than the one stored for them.
    std::optional<SegmentSet> limited;
    if (write_at_once && !scope.all()) limited = segments->limited_to(scope.segments);
    const SegmentSet& evaluated = limited ? *limited : *segments;
    CustomerScan scan;
    if (!evaluated.uses_attributes()) scan.skip_attributes();
    scan.open();
    std::vector<CustomerState> batch;
    std::vector<Datum> stale;
    Found found;
    for (;;) {
        poll_interrupts();
        spi::connect();  // one connection per batch: its finish frees the batch
        batch.clear();
        if (scan.next(batch, kBatchSize) == 0) {
            spi::finish();
            break;
        }
        totals.customers += static_cast<int64>(batch.size());
        if (write_at_once) {
            found.clear();
            collect_writes(batch, evaluated, as_of, scope, overridden, found);
            // Locked all the same, as every writer locks the customers it
            // writes: a session holding one of their rows is waited for.
            lock_customers(found.written);
            totals.count(write_evaluations(found.changes, found.due_keys, found.due_times, cause));
            totals.count(evaluate_customers(found.overridden, as_of, cause, scope));
        } else {
            stale.clear();
            collect_stale_customers(batch, *segments, as_of, scope, overridden, stale);
            // Only customers that need a write are locked, read again and written.
            totals.count(evaluate_customers(stale, as_of, cause, scope));
        }
        spi::finish();
    }
    scan.close();
    return totals;
}

}  // namespace segmentation::glue
