// refresh_all() and refresh_due(): re-evaluating customers in bulk.
#include "glue/membership/refresh.hpp"

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/membership/customer_scan.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace segmentation::glue {
namespace {

constexpr std::size_t kBatchSize = 10000;

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
    1, {TIMESTAMPTZOID}};
const spi::Statement kNextDueCustomers = {
    "SELECT customer_id, reevaluate_at = '-infinity', reevaluate_at FROM segmentation.customer_metrics "
    "WHERE reevaluate_at <= $1 AND (reevaluate_at, customer_id) > ($2, $3) "
    "ORDER BY reevaluate_at, customer_id LIMIT 1000 FOR NO KEY UPDATE SKIP LOCKED",
    3, {TIMESTAMPTZOID, TIMESTAMPTZOID, spi::kKeyType}};

void count(const std::vector<Change>& changes, RefreshTotals& totals) {
    for (const Change& c : changes) (c.added ? totals.added : totals.removed) += 1;
}

Datum totals_record(FunctionCallInfo fcinfo, const RefreshTotals& totals) {
    return pg::call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "segmentation: refresh functions must return a record");
        Datum values[3] = {Int64GetDatum(totals.customers), Int64GetDatum(totals.added), Int64GetDatum(totals.removed)};
        bool nulls[3] = {false, false, false};
        return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
    });
}

}  // namespace

RefreshTotals refresh_customers(TimestampTz as_of, Cause cause, const Scope& scope) {
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    RefreshTotals totals;
    CustomerScan scan;
    scan.open();
    std::vector<CustomerState> batch;
    std::vector<Change> unused;
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
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (i % 256 == 0) poll_interrupts();
            unused.clear();
            Evaluation e = evaluate_state(batch[i], *segments, as_of, scope, unused);
            if (e.membership_changed || e.due_changed) stale.push_back(batch[i].key);
        }
        totals.customers += static_cast<int64>(batch.size());
        // Only customers that need a write are locked, read again and written.
        count(evaluate_customers(stale, as_of, cause, scope), totals);
        spi::finish();
    }
    scan.close();
    return totals;
}

}  // namespace segmentation::glue

// segmentation.refresh_all(OUT customers bigint, OUT added bigint, OUT removed bigint)
SEGMENTATION_FUNCTION(segmentation_refresh_all) {
    spi::connect();
    lock_tracked_tables(read_tracking());  // before the definitions lock and the customers
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    RefreshTotals totals = refresh_customers(now, Cause::Refresh);
    spi::finish();
    return totals_record(fcinfo, totals);
}

// segmentation.refresh_due(as_of timestamptz, OUT customers bigint, OUT added bigint, OUT removed bigint)
SEGMENTATION_FUNCTION(segmentation_refresh_due) {
    TimestampTz as_of = as_of_argument(fcinfo, 0);
    if (TIMESTAMP_NOT_FINITE(as_of))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "refresh_due needs a finite as_of",
                    "Membership evaluated at an infinite instant would never be due again.");
    RefreshTotals totals;
    spi::connect();
    lock_tracked_tables(read_tracking());
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
                bool null;
                Datum key = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &null);
                bool waiting = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &null));
                (waiting ? pending : timed).push_back(key);
                if (row + 1 == rows) {
                    last_due = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 3, &null);
                    last_key = SPI_datumTransfer(key, c.key_by_value, c.key_length);
                }
            }
        });
        totals.customers += static_cast<int64>(rows);
        count(evaluate_customers(pending, as_of, Cause::Refresh), totals);
        count(evaluate_customers(timed, as_of, Cause::Time), totals);
        spi::finish();
        if (rows < static_cast<uint64>(kDueBatchSize)) break;  // the index has no more due customers
    }
    spi::finish();
    return totals_record(fcinfo, totals);
}
