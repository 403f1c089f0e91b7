// Reading window totals (windows.hpp) from the tracked orders table.
#include "glue/membership/windows.hpp"

#include <algorithm>
#include <iterator>
#include <string>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/tracked_columns.hpp"

namespace segmentation::glue {
namespace {

std::string quoted(const std::string& identifier) {
    return pg::call([&] { return quote_identifier(identifier.c_str()); });
}

// (customer's position in $1, span's position in $2, orders, spend, oldest
// order time) for every customer and span with orders in the window. The
// bounds in $2 have the time column's own type, so that the comparison is
// the column's own and an index on (customer, time) serves it.
std::string totals_sql(const TrackedTable& orders) {
    std::string key = "o." + quoted(orders.key_column);
    std::string time = "o." + quoted(orders.time_column);
    std::string time_type = pg::call([&] { return format_type_be(orders.time_type); });
    return "SELECT u.i, w.i, pg_catalog.count(*), "
           "pg_catalog.sum(coalesce(o." +
           quoted(orders.value_column) +
           "::pg_catalog.numeric, 0)), "
           "pg_catalog.min(" +
           instant_sql(time, orders.time_type) +
           ") "
           "FROM pg_catalog.unnest($1::" +
           pg::call([] { return format_type_be(catalog().key_array_type); }) +
           ") WITH ORDINALITY AS u(c, i) "
           "CROSS JOIN pg_catalog.unnest($2::" +
           time_type +
           "[]) WITH ORDINALITY AS w(b, i) "
           "JOIN " +
           orders.name + " o ON " + key + " OPERATOR(pg_catalog.=) u.c AND " + time +
           " OPERATOR(pg_catalog.>=) w.b "
           "GROUP BY u.i, w.i";
}

// The first instant in the window of `span` at as_of, as a value of the
// time column's type: an order at t is in it when t >= this bound.
Datum window_bound(TimestampTz as_of, Micros span, Oid time_type) {
    exact::int128 start = static_cast<exact::int128>(as_of) - span;
    if (time_type == DATEOID) {
        // A date is its midnight UTC: d * day >= start <=> d >= ceil(start / day).
        exact::int128 days = start / kMicrosPerDay;
        if (start % kMicrosPerDay > 0) days += 1;
        return Int32GetDatum(static_cast<int32>(days));
    }
    return Int64GetDatum(static_cast<int64>(start));  // timestamp: the same microseconds, read at UTC
}

void refuse_on_citus() {
    if (active_relations() == nullptr && !extension_tables_distributed()) return;
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "window criteria do not work on a Citus cluster yet",
                "Evaluating a \"window\" reads the tracked orders table, which is not done shard by shard yet.",
                "docs/citus.md says what works on Citus.");
}

}  // namespace

std::vector<Micros> merge_spans(const std::vector<Micros>& a, const std::vector<Micros>& b) {
    std::vector<Micros> out;
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

void read_window_totals(const std::vector<Datum>& keys, const std::vector<Micros>& spans, TimestampTz as_of,
                        std::vector<WindowTotals>& totals) {
    totals.resize(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        totals[i].clear();
        for (Micros span : spans) totals[i].set(WindowTotal{span, 0, 0, std::nullopt});
    }
    if (keys.empty() || spans.empty()) return;
    if (TIMESTAMP_NOT_FINITE(as_of))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "window criteria need a finite as_of",
                    "An order's age at an infinite instant is not a number of days.");
    refuse_on_citus();
    const Tracking& tracking = cached_tracking();
    if (!tracking.orders) return;  // no tracked orders: none in any window
    TrackedTable orders = *tracking.orders;
    Oid time_type = orders.time_type;
    std::vector<Datum> bounds;
    for (Micros span : spans) bounds.push_back(window_bound(as_of, span, time_type));
    Datum arguments[2];
    Oid types[2];
    pg::call([&] {
        arguments[0] = key_array(keys.data(), static_cast<int>(keys.size()));
        types[0] = catalog().key_array_type;
        bool date = time_type == DATEOID;
        arguments[1] = PointerGetDatum(construct_array(bounds.data(), static_cast<int>(bounds.size()), time_type,
                                                       date ? 4 : 8, true, date ? TYPALIGN_INT : TYPALIGN_DOUBLE));
        types[1] = get_array_type(time_type);
    });
    // Not read-only: a read-only statement would run on the caller's snapshot, which, in the
    // orders trigger, does not show the statement's own orders. One generic plan (nested
    // loops over the index on customer and time, whatever the arrays' lengths): PostgreSQL
    // would plan a custom one for every order otherwise, which cost an order write more
    // than the rest of its tracking.
    uint64 rows = spi::run_text(totals_sql(orders), 2, types, arguments, nullptr, false, spi::Planning::Generic);
    for (uint64 row = 0; row < rows; ++row) {
        std::size_t customer = 0, window = 0;
        WindowTotal total;
        bool in_range = pg::call([&] {
            customer = static_cast<std::size_t>(spi::int64_column(row, 1) - 1);
            window = static_cast<std::size_t>(spi::int64_column(row, 2) - 1);
            total.orders = spi::int64_column(row, 3);
            auto spend = money_key_of_numeric(spi::column(row, 4));
            total.spend = spend ? *spend : 0;
            total.oldest = spi::timestamp_column(row, 5);
            return spend.has_value();
        });
        if (customer >= keys.size() || window >= spans.size()) continue;
        if (!in_range)
            throw Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                        "spend of customer " + key_text(keys[customer]) + " in a window is outside the supported range",
                        "Sums of order amounts must be finite and below 10^19 in magnitude.");
        total.span = spans[window];
        totals[customer].set(total);
    }
}

void read_window_totals(Datum key, const std::vector<Micros>& spans, TimestampTz as_of, WindowTotals& totals) {
    static std::vector<WindowTotals> one;  // reused: no allocation per customer
    read_window_totals(std::vector<Datum>{key}, spans, as_of, one);
    totals = one.front();
}

void read_window_totals(std::vector<CustomerState>& states, const SegmentSet& segments, TimestampTz as_of) {
    if (!segments.uses_windows()) return;
    std::vector<Datum> keys;
    keys.reserve(states.size());
    for (const CustomerState& state : states) keys.push_back(state.key);
    std::vector<WindowTotals> totals;
    read_window_totals(keys, segments.window_spans(), as_of, totals);
    for (std::size_t i = 0; i < states.size(); ++i) states[i].windows = std::move(totals[i]);
}

}  // namespace segmentation::glue
