// The SQL that keeps customer_metrics in step with the tracked tables, and
// the helpers that run it for the track_ functions and the triggers.
//
// Metrics are maintained per statement from the triggers' transition tables:
// sums and counts by addition, first and last order by least/greatest, and a
// new aggregate of one customer's orders only when its first or last order
// left. All generated SQL quotes every name it takes from the catalog.
#include "glue/tracking/metrics_sql.hpp"

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/notify.hpp"
#include "glue/tracking/tracked_columns.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace segmentation::glue {
namespace {

const spi::Statement kForgetCustomers = {
    "WITH gone AS (DELETE FROM segmentation.customer_metrics WHERE customer_id = ANY($1) RETURNING customer_id), "
    "dropped AS (DELETE FROM segmentation.assignments a USING gone WHERE a.customer_id = gone.customer_id "
    "            RETURNING a.customer_id, a.segment_id, a.is_automatic) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause) "
    "SELECT customer_id, segment_id, 'removed', is_automatic, $2 FROM dropped RETURNING customer_id, segment_id",
    2,
    {spi::kKeyArrayType, TEXTOID}};

const spi::Statement kForgetOverridesOf = {
    "DELETE FROM segmentation.overrides WHERE customer_id = ANY($1)", 1, {spi::kKeyArrayType}};

const spi::Statement kAllCustomerKeys = {"SELECT customer_id FROM segmentation.customer_metrics", 0, {}};

std::string q(const std::string& identifier) {
    return pg::call([&] { return quote_identifier(identifier.c_str()); });
}

// The due time of a customer whose data changed while its table was not
// live: refresh_due() takes these first, and logs them as a refresh.
constexpr const char* kPendingEvaluation = "'-infinity'::timestamptz";

// Expressions over an orders row aliased `o`.
struct OrderColumns {
    std::string key, amount, time, reference;
};

OrderColumns order_columns(const TrackedTable& orders, const std::string& key_type) {
    std::string reference = "o." + q(orders.key_column);
    return {reference + "::" + key_type, "coalesce(o." + q(orders.value_column) + "::numeric, 0)",
            instant_sql("o." + q(orders.time_column), orders.time_type), reference};
}

std::string aggregate_orders(const std::string& source, const OrderColumns& c, const std::string& filter = "") {
    return "SELECT " + c.key + " AS k, sum(" + c.amount + ") AS s, count(*) AS n, min(" + c.time + ") AS lo, max(" +
           c.time + ") AS hi FROM " + source + " o WHERE " + c.reference + " IS NOT NULL" + filter + " GROUP BY 1";
}

}  // namespace

std::string key_type_name() {
    return pg::call([] { return format_type_be(catalog().key_type); });
}

TimestampTz transaction_start() {
    return pg::call([] { return GetCurrentTransactionStartTimestamp(); });
}

std::vector<Datum> keys_from_results(uint64 rows) {
    std::vector<Datum> keys(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) keys[row] = spi::column(row, 1);
    });
    return keys;
}

// Customers with order metrics, which TRUNCATE of the orders table clears.
const char* const kHasOrders = "order_count <> 0 OR lifetime_value <> 0 OR first_order_at IS NOT NULL";

// Every order metric back to zero (TRUNCATE of the orders table).
std::string orders_cleared_sql(const Tracking& t) {
    return std::string(
               "UPDATE segmentation.customer_metrics SET lifetime_value = 0, order_count = 0, "
               "first_order_at = NULL, last_order_at = NULL") +
           (t.customers ? "" : ", customer_since = NULL") +
           (t.orders->live ? "" : ", reevaluate_at = " + std::string(kPendingEvaluation)) + " WHERE " + kHasOrders +
           " RETURNING customer_id";
}

// Order metrics from scratch, in one pass over the orders table.
std::string orders_backfill_sql(const Tracking& t) {
    std::string key_type = key_type_name();
    OrderColumns c = order_columns(*t.orders, key_type);
    std::string agg = "WITH agg AS (" + aggregate_orders(t.orders->name, c) + ") ";
    if (t.customers)
        return agg +
               "UPDATE segmentation.customer_metrics m SET lifetime_value = coalesce(a.s, 0), order_count = "
               "coalesce(a.n, 0), "
               "first_order_at = a.lo, last_order_at = a.hi "
               "FROM (SELECT x.customer_id, agg.s, agg.n, agg.lo, agg.hi FROM segmentation.customer_metrics x "
               "      LEFT JOIN agg ON agg.k = x.customer_id) a "
               "WHERE m.customer_id = a.customer_id "
               // Customers whose totals already hold (no orders, say) keep their row: no dead version.
               "AND (m.lifetime_value, m.order_count, m.first_order_at, m.last_order_at) IS DISTINCT FROM "
               "    (coalesce(a.s, 0), coalesce(a.n, 0), a.lo, a.hi) "
               "RETURNING m.customer_id";
    return agg +
           "INSERT INTO segmentation.customer_metrics AS m "
           "(customer_id, lifetime_value, order_count, first_order_at, last_order_at, customer_since) "
           "SELECT k, s, n, lo, hi, lo FROM agg ON CONFLICT (customer_id) DO UPDATE SET "
           "lifetime_value = excluded.lifetime_value, order_count = excluded.order_count, "
           "first_order_at = excluded.first_order_at, last_order_at = excluded.last_order_at, "
           "customer_since = excluded.customer_since RETURNING m.customer_id";
}

// Inserts or updates the customers found in `source` (a transition table, or
// the customers table itself for a back-fill), with their order totals when
// they are new; returns the customers whose metrics changed.
std::string customers_upsert_sql(const Tracking& t, const std::string& source) {
    const TrackedTable& customers = *t.customers;
    std::string key_type = key_type_name();
    std::string key = "c." + q(customers.key_column);
    std::string loyalty = customers.value_column.empty()
                              ? "NULL::text"
                              : loyalty_as_text("c." + q(customers.value_column), customers.value_type);
    std::string due = customers.live ? "" : ", reevaluate_at = " + std::string(kPendingEvaluation);
    // Customer attributes: only in a database at 1.1 or later (a 1.0 one has no such column).
    bool attributes = pg::call([] { return catalog().has_attributes; });
    std::string sql = "WITH incoming AS (SELECT DISTINCT ON (1) " + key + "::" + key_type + " AS k, " +
                      instant_sql("c." + q(customers.time_column), customers.time_type) + " AS since, " + loyalty +
                      " AS loyalty" + (attributes ? ", " + attributes_sql(customers, "c") + " AS attributes" : "") +
                      " FROM " + source + " c WHERE " + key + " IS NOT NULL ORDER BY 1)";
    std::string totals = "0, 0, NULL::timestamptz, NULL::timestamptz";
    std::string join;
    if (t.orders) {
        OrderColumns c = order_columns(*t.orders, key_type);
        sql += ", agg AS (" +
               aggregate_orders(t.orders->name, c, " AND " + c.reference + " IN (SELECT k FROM incoming)") + ")";
        totals = "coalesce(a.s, 0), coalesce(a.n, 0), a.lo, a.hi";
        join = " LEFT JOIN agg a ON a.k = i.k";
    }
    return sql +
           " INSERT INTO segmentation.customer_metrics AS m (customer_id, customer_since, loyalty_level, "
           "lifetime_value, "
           "order_count, first_order_at, last_order_at" +
           (customers.live ? "" : ", reevaluate_at") + (attributes ? ", attributes" : "") +
           ") "
           "SELECT i.k, i.since, i.loyalty, " +
           totals + (customers.live ? "" : ", " + std::string(kPendingEvaluation)) +
           (attributes ? ", i.attributes" : "") + " FROM incoming i" + join +
           " ON CONFLICT (customer_id) DO UPDATE SET customer_since = excluded.customer_since, "
           "loyalty_level = excluded.loyalty_level" +
           (attributes ? ", attributes = excluded.attributes" : "") + due +
           " WHERE m.customer_since IS DISTINCT FROM excluded.customer_since"
           "    OR m.loyalty_level IS DISTINCT FROM excluded.loyalty_level" +
           (attributes ? " OR m.attributes IS DISTINCT FROM excluded.attributes" : "") + " RETURNING m.customer_id";
}

// Customers named in `source` (old rows) that the customers table no longer has.
std::string customers_gone_sql(const TrackedTable& customers, const std::string& source) {
    std::string key = q(customers.key_column);
    return "SELECT DISTINCT o." + key + "::" + key_type_name() + " FROM " + source + " o WHERE o." + key +
           " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " + customers.name + " c WHERE c." + key + " = o." + key + ")";
}

namespace {

// Manual assignments follow a customer whose key an UPDATE changed (the old
// key is gone from the customers table) to its new key, logged as a removal
// and an addition with cause 'customer'; its automatic segments are those of
// the new key's metrics. The transition tables hold an UPDATE's old and new
// rows in the same order, so their positions pair them.
std::string carry_manual_assignments_sql(const TrackedTable& customers) {
    std::string key = q(customers.key_column);
    std::string as_key = "t." + key + "::" + key_type_name();
    return "WITH pairs AS ("
           "  SELECT o.k AS old_key, n.k AS new_key "
           "  FROM (SELECT " +
           as_key +
           ", row_number() OVER () FROM segmentation_old t) AS o(k, r) "
           "  JOIN (SELECT " +
           as_key +
           ", row_number() OVER () FROM segmentation_new t) AS n(k, r) ON n.r = o.r "
           "  WHERE o.k <> n.k AND NOT EXISTS (SELECT 1 FROM " +
           customers.name + " c WHERE c." + key +
           " = o.k)), "
           "moved AS ("
           "  DELETE FROM segmentation.assignments a USING pairs p "
           "  WHERE a.customer_id = p.old_key AND NOT a.is_automatic "
           "  RETURNING a.customer_id AS old_key, p.new_key, a.segment_id, a.assigned_at, a.assigned_by), "
           "added AS ("
           "  INSERT INTO segmentation.assignments AS a (customer_id, segment_id, is_automatic, assigned_at, "
           "assigned_by) "
           "  SELECT DISTINCT ON (new_key, segment_id) new_key, segment_id, false, assigned_at, assigned_by FROM moved "
           "  ORDER BY new_key, segment_id, assigned_at "
           "  ON CONFLICT (customer_id, segment_id) DO NOTHING RETURNING a.customer_id, a.segment_id) "
           "INSERT INTO segmentation.assignment_log AS l (customer_id, segment_id, action, is_automatic, cause, "
           "reason) "
           "SELECT old_key, segment_id, 'removed', false, 'customer', 'customer id changed to ' || new_key FROM moved "
           "UNION ALL SELECT customer_id, segment_id, 'added', false, 'customer', 'customer id changed' FROM added "
           "RETURNING l.customer_id, l.segment_id, l.action = 'added'";
}

}  // namespace

// Customers in customer_metrics that the customers table does not have.
std::string customers_missing_sql(const TrackedTable& customers) {
    return "SELECT m.customer_id FROM segmentation.customer_metrics m WHERE NOT EXISTS (SELECT 1 FROM " +
           customers.name + " c WHERE c." + q(customers.key_column) + " = m.customer_id)";
}

// The customers a trigger's statement touched: keys in its transition tables.
std::vector<Datum> transition_keys(const std::string& key_column, bool old_rows, bool new_rows) {
    std::string key = "t." + q(key_column) + "::" + key_type_name();
    std::vector<std::string> parts;
    if (old_rows) parts.push_back("SELECT " + key + " FROM segmentation_old t");
    if (new_rows) parts.push_back("SELECT " + key + " FROM segmentation_new t");
    std::string sql = "SELECT DISTINCT k FROM (" + parts[0] + (parts.size() > 1 ? " UNION ALL " + parts[1] : "") +
                      ") AS x(k) WHERE k IS NOT NULL";
    return keys_from_results(spi::run_text(sql, 0, nullptr, nullptr));
}

// Runs `sql`, which returns customer keys, and evaluates those customers.
void update_and_evaluate(const std::string& sql, bool live, Cause cause) {
    uint64 rows = spi::run_text(sql, 0, nullptr, nullptr);
    if (live && rows > 0) evaluate_customers(keys_from_results(rows), transaction_start(), cause);
}

void forget_matching(const std::string& sql, Cause cause) {
    forget_customers(keys_from_results(spi::run_text(sql, 0, nullptr, nullptr)), cause);
}

void carry_manual_assignments(const TrackedTable& customers) {
    uint64 rows = spi::run_text(carry_manual_assignments_sql(customers), 0, nullptr, nullptr);
    std::vector<Datum> keys = keys_from_results(rows);
    std::vector<int64> segments(rows);
    std::vector<char> added(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            segments[row] = spi::int64_column(row, 2);
            added[row] = spi::bool_column(row, 3);
        }
    });
    for (uint64 row = 0; row < rows; ++row) remember_change(keys[row], segments[row], added[row] != 0);
}

void forget_everyone(Cause cause) { forget_customers(keys_from_results(spi::run(kAllCustomerKeys, {})), cause); }

void forget_customers(const std::vector<Datum>& keys, Cause cause) {
    if (keys.empty()) return;
    // Locked first, so the delete below sees every assignment committed for them.
    lock_customers(keys, true);
    Datum key_list = pg::call([&] { return key_array(keys.data(), static_cast<int>(keys.size())); });
    Datum cause_text = pg::call([cause] { return CStringGetTextDatum(cause_name(cause)); });
    // Their overrides go with them (1.1: the table may not exist yet).
    if (pg::call([] { return OidIsValid(overrides_relation()); })) spi::run(kForgetOverridesOf, {key_list});
    uint64 rows = spi::run(kForgetCustomers, {key_list, cause_text});
    std::vector<Datum> customers = keys_from_results(rows);
    std::vector<int64> segments(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) segments[row] = spi::int64_column(row, 2);
    });
    for (uint64 row = 0; row < rows; ++row) remember_change(customers[row], segments[row], false);
}

// The attributes every customer should have (the expected_metrics_sql
// columns), for verify(): from the customers table, NULL without one.
std::string expected_attributes_sql(const Tracking& t) {
    if (!t.customers) return "NULL::pg_catalog.jsonb";
    return attributes_sql(*t.customers, "c");
}

std::string expected_metrics_sql(const Tracking& t) {
    std::string key_type = key_type_name();
    std::string agg = "SELECT NULL::" + key_type +
                      " AS k, 0::numeric AS s, 0::bigint AS n, "
                      "NULL::timestamptz AS lo, NULL::timestamptz AS hi WHERE false";
    if (t.orders) agg = aggregate_orders(t.orders->name, order_columns(*t.orders, key_type));
    std::string columns =
        " AS customer_id, coalesce(a.s, 0) AS lifetime_value, coalesce(a.n, 0) AS order_count, "
        "a.lo AS first_order_at, a.hi AS last_order_at, ";
    if (t.customers) {
        const TrackedTable& c = *t.customers;
        std::string loyalty =
            c.value_column.empty() ? "NULL::text" : loyalty_as_text("c." + q(c.value_column), c.value_type);
        return "SELECT DISTINCT ON (1) c." + q(c.key_column) + "::" + key_type + columns +
               instant_sql("c." + q(c.time_column), c.time_type) + " AS customer_since, " + loyalty +
               " AS loyalty_level, " + expected_attributes_sql(t) + " AS attributes FROM " + c.name + " c LEFT JOIN (" +
               agg + ") a ON a.k = c." + q(c.key_column) + " WHERE c." + q(c.key_column) + " IS NOT NULL ORDER BY 1";
    }
    if (t.orders)  // customers seen once stay (with no orders) so their manual segments survive
        return "SELECT coalesce(a.k, m.customer_id)" + columns +
               "a.lo AS customer_since, NULL::text AS loyalty_level, NULL::pg_catalog.jsonb AS attributes FROM (" +
               agg + ") a FULL JOIN segmentation.customer_metrics m ON m.customer_id = a.k";
    return "SELECT m.customer_id, 0::numeric AS lifetime_value, 0::bigint AS order_count, "
           "NULL::timestamptz AS first_order_at, NULL::timestamptz AS last_order_at, "
           "NULL::timestamptz AS customer_since, NULL::text AS loyalty_level, NULL::pg_catalog.jsonb AS attributes "
           "FROM segmentation.customer_metrics m WHERE false";
}

}  // namespace segmentation::glue
