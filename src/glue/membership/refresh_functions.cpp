// segmentation.refresh_all() and refresh_due(): re-evaluating customers in
// bulk, as SQL functions. Both take the one lock order: tracked tables first.
#include "glue/boundary/placements.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/tracking/cluster_work.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Due customers, a batch at a time, locked; customers another session is
// refreshing are skipped. Those waiting since a change to a table that is not
// live (due at -infinity) come first and count as a refresh; the others are
// due to time. Each batch starts after the last row of the one before (in
// index order), so that no batch walks past the index entries of the
// customers refreshed before it: the cost stays proportional to the number of
// due customers.
constexpr long kDueBatchSize = 1000;
const spi::Statement kFirstDueCustomers = {
    "SELECT customer_id, reevaluate_at = '-infinity', reevaluate_at FROM segmentation.customer_metrics "
    "WHERE reevaluate_at <= $1 ORDER BY reevaluate_at, customer_id LIMIT 1000 FOR NO KEY UPDATE SKIP LOCKED",
    1,
    {TIMESTAMPTZOID}};
const spi::Statement kNextDueCustomers = {
    "SELECT customer_id, reevaluate_at = '-infinity', reevaluate_at FROM segmentation.customer_metrics "
    "WHERE reevaluate_at <= $1 AND (reevaluate_at, customer_id) > ($2, $3) "
    "ORDER BY reevaluate_at, customer_id LIMIT 1000 FOR NO KEY UPDATE SKIP LOCKED",
    3,
    {TIMESTAMPTZOID, TIMESTAMPTZOID, spi::kKeyType}};

Datum totals_record(FunctionCallInfo fcinfo, const RefreshTotals& totals) {
    return composite_result(
        fcinfo, {Int64GetDatum(totals.customers), Int64GetDatum(totals.added), Int64GetDatum(totals.removed)},
        "refresh functions");
}

}  // namespace

// segmentation.refresh_all(OUT customers bigint, OUT added bigint, OUT removed bigint)
SEGMENTATION_FUNCTION(segmentation_refresh_all) {
    spi::connect();
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    RefreshTotals totals;
    if (runs_on_cluster()) {
        // Each node refreshes its shards, at the coordinator's transaction start.
        totals = cluster_refresh("refresh_all", now);
    } else {
        lock_tracked_tables(read_tracking());  // before the definitions lock and the customers
        totals = refresh_customers(now, Cause::Refresh);
    }
    spi::finish();
    return totals_record(fcinfo, totals);
}

namespace segmentation::glue {

RefreshTotals refresh_due_customers(TimestampTz as_of) {
    RefreshTotals totals;
    (void)automatic_segments();  // the definitions lock, before any customer lock
    bool first = true;
    Datum last_due = 0, last_key = 0;  // where the previous batch ended (outer connection's memory)
    for (;;) {
        poll_interrupts();
        spi::connect();
        uint64 rows = first ? spi::run(kFirstDueCustomers, {TimestampTzGetDatum(as_of)})
                            : spi::run(kNextDueCustomers, {TimestampTzGetDatum(as_of), last_due, last_key});
        first = false;
        if (rows == 0) {
            spi::finish();
            break;
        }
        std::vector<Datum> pending, timed;
        pg::call([&] {
            const Catalog& c = catalog();
            for (uint64 row = 0; row < rows; ++row) {
                Datum key = spi::column(row, 1);
                bool waiting = spi::bool_column(row, 2);
                (waiting ? pending : timed).push_back(key);
                if (row + 1 == rows) {
                    last_due = spi::column(row, 3);
                    last_key = SPI_datumTransfer(key, c.key_by_value, c.key_length);
                }
            }
        });
        totals.customers += static_cast<int64>(rows);
        totals.count(evaluate_customers(pending, as_of, Cause::Refresh));
        totals.count(evaluate_customers(timed, as_of, Cause::Time));
        spi::finish();
        if (rows < static_cast<uint64>(kDueBatchSize)) break;  // the index has no more due customers
    }
    return totals;
}

}  // namespace segmentation::glue

// segmentation.refresh_due(as_of timestamptz, OUT customers bigint, OUT added bigint, OUT removed bigint)
SEGMENTATION_FUNCTION(segmentation_refresh_due) {
    TimestampTz as_of = as_of_argument(fcinfo, 0);
    if (TIMESTAMP_NOT_FINITE(as_of))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "refresh_due needs a finite as_of",
                    "Membership evaluated at an infinite instant would never be due again.");
    RefreshTotals totals;
    spi::connect();
    if (runs_on_cluster()) {
        totals = cluster_refresh("refresh_due", as_of);  // each node its shards' due customers
    } else {
        lock_tracked_tables(read_tracking());
        totals = refresh_due_customers(as_of);
    }
    spi::finish();
    return totals_record(fcinfo, totals);
}
