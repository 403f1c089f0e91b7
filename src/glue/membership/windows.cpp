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

// On a Citus coordinator (no shard in scope), one customer's totals by a
// router query: one row, (orders, spend, oldest order time) for each bound
// of $2 in turn, of the orders of customer $1 only, so that Citus sends it to
// the customer's shard. (The statement above joins the orders with arrays:
// a query Citus would run on every shard.)
std::string customer_totals_sql(const TrackedTable& orders, std::size_t spans) {
    std::string key = "o." + quoted(orders.key_column);
    std::string time = "o." + quoted(orders.time_column);
    std::string time_type = pg::call([&] { return format_type_be(orders.time_type); });
    std::string sql = "SELECT ";
    for (std::size_t i = 1; i <= spans; ++i) {
        std::string in_window =
            " FILTER (WHERE " + time + " OPERATOR(pg_catalog.>=) ($2::" + time_type + "[])[" + std::to_string(i) + "])";
        if (i > 1) sql += ", ";
        sql += "pg_catalog.count(*)" + in_window + ", pg_catalog.sum(coalesce(o." + quoted(orders.value_column) +
               "::pg_catalog.numeric, 0))" + in_window + ", pg_catalog.min(" + instant_sql(time, orders.time_type) +
               ")" + in_window;
    }
    return sql + " FROM " + orders.name + " o WHERE " + key + " OPERATOR(pg_catalog.=) $1";
}

// One customer's window total from columns first.. of the current row.
bool read_total(uint64 row, int first, WindowTotal& total) {
    return pg::call([&] {
        total.orders = spi::int64_column(row, first);
        if (total.orders == 0) return true;
        auto spend = money_key_of_numeric(spi::column(row, first + 1));
        total.spend = spend ? *spend : 0;
        total.oldest = spi::timestamp_column(row, first + 2);
        return spend.has_value();
    });
}

[[noreturn]] void spend_out_of_range(Datum key) {
    throw Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "spend of customer " + key_text(key) + " in a window is outside the supported range",
                "Sums of order amounts must be finite and below 10^19 in magnitude.");
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
    const Tracking& tracking = cached_tracking();
    if (!tracking.orders) return;  // no tracked orders: none in any window
    TrackedTable orders = *tracking.orders;
    Oid time_type = orders.time_type;
    std::vector<Datum> bounds;
    for (Micros span : spans) bounds.push_back(window_bound(as_of, span, time_type));
    Datum arguments[2];
    Oid types[2];
    pg::call([&] {
        bool date = time_type == DATEOID;
        arguments[1] = PointerGetDatum(construct_array(bounds.data(), static_cast<int>(bounds.size()), time_type,
                                                       date ? 4 : 8, true, date ? TYPALIGN_INT : TYPALIGN_DOUBLE));
        types[1] = get_array_type(time_type);
    });
    // On a Citus coordinator, customer by customer on the customer's shard
    // (on a node, a shard is in scope and `orders` names it: the statement
    // below reads that shard).
    if (active_relations() == nullptr && extension_tables_distributed()) {
        std::string sql = customer_totals_sql(orders, spans.size());
        types[0] = pg::call([] { return catalog().key_type; });
        for (std::size_t customer = 0; customer < keys.size(); ++customer) {
            poll_interrupts();
            arguments[0] = keys[customer];
            if (spi::run_text(sql, 2, types, arguments, nullptr, false) == 0) continue;
            for (std::size_t window = 0; window < spans.size(); ++window) {
                WindowTotal total;
                if (!read_total(0, static_cast<int>(3 * window + 1), total)) spend_out_of_range(keys[customer]);
                if (total.orders == 0) continue;
                total.span = spans[window];
                totals[customer].set(total);
            }
        }
        return;
    }
    pg::call([&] {
        arguments[0] = key_array(keys.data(), static_cast<int>(keys.size()));
        types[0] = catalog().key_array_type;
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
        pg::call([&] {
            customer = static_cast<std::size_t>(spi::int64_column(row, 1) - 1);
            window = static_cast<std::size_t>(spi::int64_column(row, 2) - 1);
        });
        if (customer >= keys.size() || window >= spans.size()) continue;
        if (!read_total(row, 3, total)) spend_out_of_range(keys[customer]);
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
