// Tracking the user's tables: track_customers(), track_orders(), their
// untrack_ twins, the triggers that keep customer_metrics exact as rows
// change, and the retyping of customer keys to the tracked key type.
//
// Metrics are maintained per statement from the triggers' transition tables:
// sums and counts by addition, first and last order by least/greatest, and a
// new aggregate of one customer's orders only when its first or last order
// left. All generated SQL quotes every name it takes from the catalog.
#include <string>
#include <vector>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/tracking/order_changes.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/tracked_columns.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace segmentation::glue {
namespace {

const spi::Statement kReadTracking = {
    "SELECT kind, relation, customer_column, time_column, coalesce(amount_column, loyalty_column), live "
    "FROM segmentation.tracked_tables",
    0, {}};

const spi::Statement kForgetCustomers = {
    "WITH gone AS (DELETE FROM segmentation.customer_metrics WHERE customer_id = ANY($1) RETURNING customer_id), "
    "dropped AS (DELETE FROM segmentation.assignments a USING gone WHERE a.customer_id = gone.customer_id "
    "            RETURNING a.customer_id, a.segment_id, a.is_automatic) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause) "
    "SELECT customer_id, segment_id, 'removed', is_automatic, $2 FROM dropped RETURNING customer_id, segment_id",
    2, {spi::kKeyArrayType, TEXTOID}};

const spi::Statement kAllCustomerKeys = {"SELECT customer_id FROM segmentation.customer_metrics", 0, {}};

const spi::Statement kCountCustomers = {"SELECT count(*) FROM segmentation.customer_metrics", 0, {}};

std::string q(const std::string& identifier) {
    return pg::call([&] { return quote_identifier(identifier.c_str()); });
}

std::string relation_name(Oid relation) {
    return pg::call([&] {
        char* name = get_rel_name(relation);
        if (name == nullptr)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relation)));
        return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)), name);
    });
}

std::string key_type_name() { return pg::call([] { return format_type_be(catalog().key_type); }); }

TimestampTz transaction_start() { return pg::call([] { return GetCurrentTransactionStartTimestamp(); }); }

std::vector<Datum> keys_from_results(uint64 rows) {
    std::vector<Datum> keys(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            bool null;
            keys[row] = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &null);
        }
    });
    return keys;
}

int64 first_int64() {
    return pg::call([] {
        bool null;
        return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
    });
}

// ---- SQL over the tracked tables -------------------------------------------

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

// Customers with order metrics, which TRUNCATE of the orders table clears.
const char* const kHasOrders = "order_count <> 0 OR lifetime_value <> 0 OR first_order_at IS NOT NULL";

// Every order metric back to zero (TRUNCATE of the orders table).
std::string orders_cleared_sql(const Tracking& t) {
    return std::string("UPDATE segmentation.customer_metrics SET lifetime_value = 0, order_count = 0, "
                       "first_order_at = NULL, last_order_at = NULL") +
           (t.customers ? "" : ", customer_since = NULL") +
           (t.orders->live ? "" : ", reevaluate_at = " + std::string(kPendingEvaluation)) +
           " WHERE " + kHasOrders + " RETURNING customer_id";
}

// Order metrics from scratch, in one pass over the orders table.
std::string orders_backfill_sql(const Tracking& t) {
    std::string key_type = key_type_name();
    OrderColumns c = order_columns(*t.orders, key_type);
    std::string agg = "WITH agg AS (" + aggregate_orders(t.orders->name, c) + ") ";
    if (t.customers)
        return agg +
               "UPDATE segmentation.customer_metrics m SET lifetime_value = coalesce(a.s, 0), order_count = coalesce(a.n, 0), "
               "first_order_at = a.lo, last_order_at = a.hi "
               "FROM (SELECT x.customer_id, agg.s, agg.n, agg.lo, agg.hi FROM segmentation.customer_metrics x "
               "      LEFT JOIN agg ON agg.k = x.customer_id) a "
               "WHERE m.customer_id = a.customer_id RETURNING m.customer_id";
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
    std::string loyalty = customers.value_column.empty() ? "NULL::text"
                                                         : loyalty_as_text("c." + q(customers.value_column), customers.value_type);
    std::string due = customers.live ? "" : ", reevaluate_at = " + std::string(kPendingEvaluation);
    std::string sql = "WITH incoming AS (SELECT DISTINCT ON (1) " + key + "::" + key_type + " AS k, " +
                      instant_sql("c." + q(customers.time_column), customers.time_type) + " AS since, " + loyalty + " AS loyalty FROM " + source +
                      " c WHERE " + key + " IS NOT NULL ORDER BY 1)";
    std::string totals = "0, 0, NULL::timestamptz, NULL::timestamptz";
    std::string join;
    if (t.orders) {
        OrderColumns c = order_columns(*t.orders, key_type);
        sql += ", agg AS (" + aggregate_orders(t.orders->name, c, " AND " + c.reference + " IN (SELECT k FROM incoming)") + ")";
        totals = "coalesce(a.s, 0), coalesce(a.n, 0), a.lo, a.hi";
        join = " LEFT JOIN agg a ON a.k = i.k";
    }
    return sql +
           " INSERT INTO segmentation.customer_metrics AS m (customer_id, customer_since, loyalty_level, lifetime_value, "
           "order_count, first_order_at, last_order_at" + (customers.live ? "" : ", reevaluate_at") + ") "
           "SELECT i.k, i.since, i.loyalty, " + totals + (customers.live ? "" : ", " + std::string(kPendingEvaluation)) +
           " FROM incoming i" + join +
           " ON CONFLICT (customer_id) DO UPDATE SET customer_since = excluded.customer_since, "
           "loyalty_level = excluded.loyalty_level" + due +
           " WHERE m.customer_since IS DISTINCT FROM excluded.customer_since"
           "    OR m.loyalty_level IS DISTINCT FROM excluded.loyalty_level"
           " RETURNING m.customer_id";
}

// Customers named in `source` (old rows) that the customers table no longer has.
std::string customers_gone_sql(const TrackedTable& customers, const std::string& source) {
    std::string key = q(customers.key_column);
    return "SELECT DISTINCT o." + key + "::" + key_type_name() + " FROM " + source + " o WHERE o." + key +
           " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " + customers.name + " c WHERE c." + key + " = o." + key + ")";
}

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
           "  FROM (SELECT " + as_key + ", row_number() OVER () FROM segmentation_old t) AS o(k, r) "
           "  JOIN (SELECT " + as_key + ", row_number() OVER () FROM segmentation_new t) AS n(k, r) ON n.r = o.r "
           "  WHERE o.k <> n.k AND NOT EXISTS (SELECT 1 FROM " + customers.name + " c WHERE c." + key + " = o.k)), "
           "moved AS ("
           "  DELETE FROM segmentation.assignments a USING pairs p "
           "  WHERE a.customer_id = p.old_key AND NOT a.is_automatic "
           "  RETURNING a.customer_id AS old_key, p.new_key, a.segment_id, a.assigned_at, a.assigned_by), "
           "added AS ("
           "  INSERT INTO segmentation.assignments AS a (customer_id, segment_id, is_automatic, assigned_at, assigned_by) "
           "  SELECT DISTINCT ON (new_key, segment_id) new_key, segment_id, false, assigned_at, assigned_by FROM moved "
           "  ORDER BY new_key, segment_id, assigned_at "
           "  ON CONFLICT (customer_id, segment_id) DO NOTHING RETURNING a.customer_id, a.segment_id) "
           "INSERT INTO segmentation.assignment_log AS l (customer_id, segment_id, action, is_automatic, cause, reason) "
           "SELECT old_key, segment_id, 'removed', false, 'customer', 'customer id changed to ' || new_key FROM moved "
           "UNION ALL SELECT customer_id, segment_id, 'added', false, 'customer', 'customer id changed' FROM added "
           "RETURNING l.customer_id, l.segment_id, l.action = 'added'";
}

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
            bool null;
            segments[row] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &null));
            added[row] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 3, &null));
        }
    });
    for (uint64 row = 0; row < rows; ++row) remember_change(keys[row], segments[row], added[row] != 0);
}

void forget_everyone(Cause cause) { forget_customers(keys_from_results(spi::run(kAllCustomerKeys, {})), cause); }

// ---- validating track_ arguments ---------------------------------------------

std::string type_name(Oid type) { return pg::call([&] { return format_type_be(type); }); }

// Objects outside the extension built over its customer_id columns: views,
// rules, triggers, policies (recorded against the column) and columns of its
// tables' row types. Any of them makes retyping the keys fail with
// PostgreSQL's own, less helpful, error.
const char* const kObjectsOverKeys =
    "WITH keyed AS (SELECT c.oid, c.reltype, a.attnum FROM pg_catalog.pg_class c "
    "    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id' "
    "    WHERE c.relnamespace = 'segmentation'::pg_catalog.regnamespace "
    "      AND c.relname IN ('customer_metrics', 'assignments', 'assignment_log')) "
    "SELECT pg_catalog.string_agg(DISTINCT user_object, '; ') FROM ("
    "  SELECT CASE WHEN r.rulename = '_RETURN' "
    "              THEN pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) "
    "              ELSE pg_catalog.pg_describe_object(d.classid, d.objid, 0) END "
    "  FROM pg_catalog.pg_depend d JOIN keyed k ON d.refobjid = k.oid AND d.refobjsubid = k.attnum "
    "  LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid "
    "  WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "    AND d.classid NOT IN ('pg_catalog.pg_class'::pg_catalog.regclass, 'pg_catalog.pg_constraint'::pg_catalog.regclass, "
    "                          'pg_catalog.pg_attrdef'::pg_catalog.regclass, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass) "
    "  UNION ALL "
    "  SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) "
    "  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_type t ON d.refobjid IN (t.oid, t.typarray) "
    "  JOIN keyed k ON t.oid = k.reltype "
    "  WHERE d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass "
    "    AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid <> 0) AS x(user_object)";

// The views (plain and materialized) a restore has built over the key
// columns, with every view built over those: pg_restore creates them before it
// loads tracked_tables, so while the keys are still text. Each row: the DROP,
// then the statements that build the view again (definition, options, owner,
// comments), in creation order.
const char* const kViewsOverKeys =
    "WITH RECURSIVE keyed AS (SELECT c.oid, a.attnum FROM pg_catalog.pg_class c "
    "    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id' "
    "    WHERE c.relnamespace = 'segmentation'::pg_catalog.regnamespace "
    "      AND c.relname IN ('customer_metrics', 'assignments', 'assignment_log')), "
    "views(oid) AS ("
    "  SELECT r.ev_class FROM pg_catalog.pg_depend d JOIN keyed k ON d.refobjid = k.oid AND d.refobjsubid = k.attnum "
    "  JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid "
    "  WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND r.rulename = '_RETURN' "
    "  UNION "
    "  SELECT r.ev_class FROM views v JOIN pg_catalog.pg_depend d "
    "    ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = v.oid "
    "  JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid "
    "  WHERE r.rulename = '_RETURN' AND r.ev_class <> v.oid) "
    "SELECT pg_catalog.format('DROP %s %s', x.kind, x.name), "
    "  pg_catalog.array_to_string(ARRAY["
    "    pg_catalog.format('CREATE %s %s%s AS %s%s', x.kind, x.name, "
    "      CASE WHEN c.reloptions IS NOT NULL THEN ' WITH (' || pg_catalog.array_to_string(c.reloptions, ', ') || ')' ELSE '' END, "
    "      pg_catalog.regexp_replace(pg_catalog.pg_get_viewdef(c.oid), ';\\s*$', ''), "
    "      CASE WHEN c.relkind = 'm' THEN ' WITH NO DATA' ELSE '' END), "
    "    pg_catalog.format('ALTER %s %s OWNER TO %I', x.kind, x.name, pg_catalog.pg_get_userbyid(c.relowner))] "
    "    || ARRAY(SELECT CASE WHEN d.objsubid = 0 THEN pg_catalog.format('COMMENT ON %s %s IS %L', x.kind, x.name, d.description) "
    "                         ELSE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', x.name, "
    "                                                a.attname, d.description) END "
    "             FROM pg_catalog.pg_description d LEFT JOIN pg_catalog.pg_attribute a "
    "               ON a.attrelid = c.oid AND a.attnum = d.objsubid "
    "             WHERE d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objoid = c.oid), '; ') "
    "FROM (SELECT DISTINCT oid FROM views) v JOIN pg_catalog.pg_class c ON c.oid = v.oid, "
    "LATERAL (SELECT CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END AS kind, "
    "                c.oid::pg_catalog.regclass::text AS name) x "
    "ORDER BY c.oid";

// Drops the views a restore built over the key columns, newest first, and
// returns the SQL that builds them again once the keys have their type.
std::vector<std::string> drop_views_over_keys() {
    uint64 rows = spi::run_once(kViewsOverKeys, true);
    std::vector<std::string> drops, rebuilds;
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            drops.emplace_back(SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1));
            rebuilds.emplace_back(SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2));
        }
    });
    for (auto drop = drops.rbegin(); drop != drops.rend(); ++drop) spi::run_once(*drop);
    return rebuilds;
}

// Refuses, with the extension's own error naming them, to retype customer
// keys from `current` to `wanted` while objects of the user's depend on them.
void require_keys_retypable(Oid current, Oid wanted) {
    spi::run_once(kObjectsOverKeys, true);
    const char* objects = pg::call([] { return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1); });
    if (objects != nullptr)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "cannot change customer keys from " + type_name(current) + " to " + type_name(wanted) +
                        ": objects outside the extension use its customer_id columns",
                    std::string("Used by: ") + objects + ".",
                    "Drop them, track the table, then create them again.");
}

Oid column_type(Oid relation, const std::string& column, const char* role) {
    return pg::call([&] {
        AttrNumber attnum = get_attnum(relation, column.c_str());
        if (attnum == InvalidAttrNumber || attnum < 0)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("column \"%s\" of relation \"%s\" does not exist", column.c_str(), get_rel_name(relation)),
                            errdetail("It was given as the %s column.", role)));
        return get_atttype(relation, attnum);
    });
}

void require_column_type(TrackedColumn role, const std::string& column, Oid type) {
    if (!pg::call([&] { return column_type_allowed(role, type); }))
        throw Error(ERRCODE_DATATYPE_MISMATCH, "column \"" + column + "\" has type " + type_name(type) + ", but " +
                                                   column_type_expectation(role));
}

std::string name_argument(FunctionCallInfo fcinfo, int argno, const char* what) {
    require_argument(fcinfo, argno, what);
    return NameStr(*PG_GETARG_NAME(argno));
}

// A table the caller may track (see require_trackable_relation), which the caller can read.
Oid table_argument(FunctionCallInfo fcinfo, int argno, const char* what) {
    require_argument(fcinfo, argno, what);
    Oid relation = PG_GETARG_OID(argno);
    require_trackable_relation(relation);
    // Tracking copies the table's data into metrics: the caller must be able to read it.
    pg::call([&] {
        if (pg_class_aclcheck(relation, GetOuterUserId(), ACL_SELECT) != ACLCHECK_OK)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("permission denied for table %s", get_rel_name(relation))));
    });
    return relation;
}

void require_untracked(const std::optional<TrackedTable>& current, const char* kind, const char* untrack) {
    if (current)
        throw Error(ERRCODE_DUPLICATE_OBJECT, std::string(kind) + " are already tracked from " + current->name, "",
                    std::string("Call segmentation.") + untrack + "() first to track another table.");
}

void require_matching_keys(Oid type, const std::optional<TrackedTable>& other, const char* other_kind) {
    if (!other) return;
    Oid other_type = column_type(other->relation, other->key_column, "customer");
    if (key_family(other_type) != key_family(type))
        throw Error(ERRCODE_DATATYPE_MISMATCH, "customer keys do not match: " + type_name(type) + " here, but " +
                                                   type_name(other_type) + " in the tracked " + other_kind +
                                                   " table " + other->name);
}

void create_triggers(const std::string& table, const std::string& kind, const char* function) {
    std::string execute = " FOR EACH STATEMENT EXECUTE FUNCTION segmentation." + std::string(function) + "()";
    std::string prefix = "CREATE TRIGGER segmentation_" + kind;
    spi::run_once(prefix + "_insert AFTER INSERT ON " + table + " REFERENCING NEW TABLE AS segmentation_new" + execute);
    spi::run_once(prefix + "_update AFTER UPDATE ON " + table +
                  " REFERENCING OLD TABLE AS segmentation_old NEW TABLE AS segmentation_new" + execute);
    spi::run_once(prefix + "_delete AFTER DELETE ON " + table + " REFERENCING OLD TABLE AS segmentation_old" + execute);
    spi::run_once(prefix + "_truncate AFTER TRUNCATE ON " + table + execute);
}

void drop_triggers(const TrackedTable& table, const std::string& kind) {
    if (!pg::call([&] { return get_rel_relkind(table.relation) != '\0'; })) return;  // gone with its table
    for (const char* event : {"insert", "update", "delete", "truncate"})
        spi::run_once("DROP TRIGGER IF EXISTS segmentation_" + kind + "_" + event + " ON " + table.name);
}

void record_tracking(const char* kind, Oid relation, const std::string& key, const std::string& time,
                     const std::string& amount, const std::string& loyalty) {
    Datum args[6];
    pg::call([&] {
        args[0] = CStringGetTextDatum(kind);
        args[1] = ObjectIdGetDatum(relation);
        args[2] = CStringGetTextDatum(key.c_str());
        args[3] = CStringGetTextDatum(time.c_str());
        args[4] = CStringGetTextDatum(amount.c_str());
        args[5] = CStringGetTextDatum(loyalty.c_str());
    });
    char nulls[6] = {' ', ' ', ' ', ' ', amount.empty() ? 'n' : ' ', loyalty.empty() ? 'n' : ' '};
    Oid types[6] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
    // The row's trigger retypes the key columns to match (sync_key_type).
    spi::run_text("INSERT INTO segmentation.tracked_tables "
                  "(kind, relation, customer_column, time_column, amount_column, loyalty_column) "
                  "VALUES ($1, $2, $3::name, $4::name, $5::name, $6::name)",
                  6, types, args, nulls);
}

void forget_tracking(const char* kind) {
    Datum args[1] = {pg::call([&] { return CStringGetTextDatum(kind); })};
    Oid types[1] = {TEXTOID};
    spi::run_text("DELETE FROM segmentation.tracked_tables WHERE kind = $1", 1, types, args);
}

int64 customer_count() {
    spi::run(kCountCustomers, {});
    return first_int64();
}

TriggerData* trigger_data(FunctionCallInfo fcinfo, const char* function) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, std::string("segmentation.") + function + "() must be called as a trigger");
    return reinterpret_cast<TriggerData*>(fcinfo->context);
}

}  // namespace

std::string expected_metrics_sql(const Tracking& t) {
    std::string key_type = key_type_name();
    std::string agg = "SELECT NULL::" + key_type + " AS k, 0::numeric AS s, 0::bigint AS n, "
                      "NULL::timestamptz AS lo, NULL::timestamptz AS hi WHERE false";
    if (t.orders) agg = aggregate_orders(t.orders->name, order_columns(*t.orders, key_type));
    std::string columns = " AS customer_id, coalesce(a.s, 0) AS lifetime_value, coalesce(a.n, 0) AS order_count, "
                          "a.lo AS first_order_at, a.hi AS last_order_at, ";
    if (t.customers) {
        const TrackedTable& c = *t.customers;
        std::string loyalty = c.value_column.empty() ? "NULL::text" : loyalty_as_text("c." + q(c.value_column), c.value_type);
        return "SELECT DISTINCT ON (1) c." + q(c.key_column) + "::" + key_type + columns +
               instant_sql("c." + q(c.time_column), c.time_type) + " AS customer_since, " + loyalty + " AS loyalty_level FROM " + c.name +
               " c LEFT JOIN (" + agg + ") a ON a.k = c." + q(c.key_column) + " WHERE c." + q(c.key_column) +
               " IS NOT NULL ORDER BY 1";
    }
    if (t.orders)  // customers seen once stay (with no orders) so their manual segments survive
        return "SELECT coalesce(a.k, m.customer_id)" + columns +
               "a.lo AS customer_since, NULL::text AS loyalty_level FROM (" + agg +
               ") a FULL JOIN segmentation.customer_metrics m ON m.customer_id = a.k";
    return "SELECT m.customer_id, 0::numeric AS lifetime_value, 0::bigint AS order_count, "
           "NULL::timestamptz AS first_order_at, NULL::timestamptz AS last_order_at, "
           "NULL::timestamptz AS customer_since, NULL::text AS loyalty_level "
           "FROM segmentation.customer_metrics m WHERE false";
}

namespace {

std::optional<Tracking> cached_configuration;

void forget_cached_tracking(Datum, Oid relid) {
    if (!cached_configuration) return;
    const Tracking& t = *cached_configuration;
    if (relid == InvalidOid || relid == catalog_relation_of_tracking() ||
        (t.customers && t.customers->relation == relid) || (t.orders && t.orders->relation == relid))
        cached_configuration.reset();
}

void forget_cached_tracking_at_abort(XactEvent event, void*) {
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) cached_configuration.reset();
}

}  // namespace

const Tracking& cached_tracking() {
    if (!cached_configuration) {
        Tracking t = read_tracking();
        require_sound_tracking(t);
        cached_configuration = std::move(t);
    }
    return *cached_configuration;
}

void register_tracking_callbacks() {
    CacheRegisterRelcacheCallback(forget_cached_tracking, (Datum)0);
    RegisterXactCallback(forget_cached_tracking_at_abort, nullptr);
}

Tracking read_tracking() {
    Tracking t;
    uint64 rows = spi::run(kReadTracking, {});
    for (uint64 row = 0; row < rows; ++row) {
        TrackedTable table;
        const char* kind = nullptr;
        const char* key = nullptr;
        const char* time = nullptr;
        const char* value = nullptr;
        pg::call([&] {
            HeapTuple tuple = SPI_tuptable->vals[row];
            TupleDesc desc = SPI_tuptable->tupdesc;
            bool null;
            kind = SPI_getvalue(tuple, desc, 1);
            table.relation = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &null));
            key = SPI_getvalue(tuple, desc, 3);
            time = SPI_getvalue(tuple, desc, 4);
            value = SPI_getvalue(tuple, desc, 5);
            table.live = DatumGetBool(SPI_getbinval(tuple, desc, 6, &null));
        });
        table.key_column = key;
        table.time_column = time;
        table.value_column = value == nullptr ? "" : value;
        pg::call([&] {
            char* name = get_rel_name(table.relation);
            table.name = name == nullptr ? psprintf("(dropped table %u)", table.relation)
                                         : quote_qualified_identifier(get_namespace_name(get_rel_namespace(table.relation)), name);
            auto type_of = [&](const std::string& column) {
                AttrNumber attnum = column.empty() ? InvalidAttrNumber : get_attnum(table.relation, column.c_str());
                return attnum == InvalidAttrNumber ? InvalidOid : get_atttype(table.relation, attnum);
            };
            table.key_type = type_of(table.key_column);
            table.time_type = type_of(table.time_column);
            table.value_type = type_of(table.value_column);
        });
        (std::string(kind) == "customers" ? t.customers : t.orders) = table;
    }
    return t;
}

void lock_tracked_tables(const Tracking& t, LOCKMODE customers_mode, LOCKMODE orders_mode) {
    pg::call([&] {
        if (t.customers) LockRelationOid(t.customers->relation, customers_mode);
        if (t.orders) LockRelationOid(t.orders->relation, orders_mode);
    });
}

// The tables a track_ function is about to change, as lock_tracked_tables() takes them.
static Tracking tracking_with(const char* kind, Oid relation) {
    Tracking t = read_tracking();
    TrackedTable table;
    table.relation = relation;
    (std::string(kind) == "customers" ? t.customers : t.orders) = table;
    return t;
}

void forget_customers(const std::vector<Datum>& keys, Cause cause) {
    if (keys.empty()) return;
    // Locked first, so the delete below sees every assignment committed for them.
    lock_customers(keys, true);
    Datum key_list = pg::call([&] { return key_array(keys.data(), static_cast<int>(keys.size())); });
    Datum cause_text = pg::call([cause] { return CStringGetTextDatum(cause_name(cause)); });
    uint64 rows = spi::run(kForgetCustomers, {key_list, cause_text});
    std::vector<Datum> customers = keys_from_results(rows);
    std::vector<int64> segments(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            bool null;
            segments[row] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &null));
        }
    });
    for (uint64 row = 0; row < rows; ++row) remember_change(customers[row], segments[row], false);
}

}  // namespace segmentation::glue

// ---- SQL-callable functions -------------------------------------------------------

// segmentation.track_customers(customers regclass, id_column name, created_at_column name,
//                              loyalty_column name DEFAULT NULL) -> bigint (customers tracked)
SEGMENTATION_FUNCTION(segmentation_track_customers) {
    Oid relation = table_argument(fcinfo, 0, "customers table");
    std::string id_column = name_argument(fcinfo, 1, "id_column");
    std::string created_column = name_argument(fcinfo, 2, "created_at_column");
    std::string loyalty_column = PG_ARGISNULL(3) ? "" : NameStr(*PG_GETARG_NAME(3));
    Oid id_type = column_type(relation, id_column, "customer id");
    require_column_type(TrackedColumn::CustomerId, id_column, id_type);
    require_trackable_key_column(relation, id_column);
    require_column_type(TrackedColumn::CreatedAt, created_column, column_type(relation, created_column, "creation time"));
    if (!loyalty_column.empty())
        require_column_type(TrackedColumn::Loyalty, loyalty_column,
                            column_type(relation, loyalty_column, "loyalty level"));

    spi::connect();
    require_not_distributed(relation);
    lock_tracked_tables(tracking_with("customers", relation), ShareRowExclusiveLock);  // CREATE TRIGGER's lock
    lock_definitions_exclusively();  // no evaluation runs while keys and metrics are rebuilt
    Tracking t = read_tracking();
    require_untracked(t.customers, "customers", "untrack_customers");
    require_matching_keys(id_type, t.orders, "orders");
    record_tracking("customers", relation, id_column, created_column, "", loyalty_column);
    t = read_tracking();
    create_triggers(t.customers->name, "customers", "customers_changed");
    require_sound_tracking(t);
    // Back-fill: customers the table does not have leave; the others get
    // their creation time, loyalty level and (when new) order totals.
    forget_matching(customers_missing_sql(*t.customers), Cause::Customer);
    spi::run_text(customers_upsert_sql(t, t.customers->name), 0, nullptr, nullptr);
    refresh_customers(transaction_start(), Cause::Customer);
    int64 tracked = customer_count();
    spi::finish();
    PG_RETURN_INT64(tracked);
}

// segmentation.track_orders(orders regclass, customer_column name, amount_column name,
//                           ordered_at_column name) -> bigint (customers with metrics)
SEGMENTATION_FUNCTION(segmentation_track_orders) {
    Oid relation = table_argument(fcinfo, 0, "orders table");
    std::string customer_column = name_argument(fcinfo, 1, "customer_column");
    std::string amount_column = name_argument(fcinfo, 2, "amount_column");
    std::string ordered_column = name_argument(fcinfo, 3, "ordered_at_column");
    Oid customer_type = column_type(relation, customer_column, "customer");
    require_column_type(TrackedColumn::OrderCustomer, customer_column, customer_type);
    require_trackable_key_column(relation, customer_column);
    require_column_type(TrackedColumn::Amount, amount_column, column_type(relation, amount_column, "amount"));
    require_column_type(TrackedColumn::OrderedAt, ordered_column, column_type(relation, ordered_column, "order time"));

    spi::connect();
    require_not_distributed(relation);
    lock_tracked_tables(tracking_with("orders", relation), AccessShareLock, ShareRowExclusiveLock);
    lock_definitions_exclusively();
    Tracking t = read_tracking();
    require_untracked(t.orders, "orders", "untrack_orders");
    require_matching_keys(customer_type, t.customers, "customers");
    record_tracking("orders", relation, customer_column, ordered_column, amount_column, "");
    t = read_tracking();
    create_triggers(t.orders->name, "orders", "orders_changed");
    require_sound_tracking(t);
    spi::run_text(orders_backfill_sql(t), 0, nullptr, nullptr);
    refresh_customers(transaction_start(), Cause::Order);
    int64 tracked = customer_count();
    spi::finish();
    PG_RETURN_INT64(tracked);
}

// segmentation.untrack_customers() -> boolean (whether a table was tracked)
SEGMENTATION_FUNCTION(segmentation_untrack_customers) {
    spi::connect();
    lock_tracked_tables(read_tracking(), AccessExclusiveLock);  // DROP TRIGGER's lock
    lock_definitions_exclusively();
    Tracking t = read_tracking();
    bool tracked = t.customers.has_value();
    if (tracked) {
        forget_tracking("customers");  // first: the drop guard lets untracked tables' triggers go
        drop_triggers(*t.customers, "customers");
        if (t.orders) {
            // Customers are those with orders again, known since their first order.
            forget_matching("SELECT customer_id FROM segmentation.customer_metrics WHERE order_count = 0", Cause::Customer);
            spi::run_once("UPDATE segmentation.customer_metrics SET customer_since = first_order_at, loyalty_level = NULL "
                          "WHERE customer_since IS DISTINCT FROM first_order_at OR loyalty_level IS NOT NULL");
            refresh_customers(transaction_start(), Cause::Customer);
        } else {
            forget_everyone(Cause::Customer);
        }
    }
    spi::finish();
    PG_RETURN_BOOL(tracked);
}

// segmentation.untrack_orders() -> boolean (whether a table was tracked)
SEGMENTATION_FUNCTION(segmentation_untrack_orders) {
    spi::connect();
    lock_tracked_tables(read_tracking(), AccessShareLock, AccessExclusiveLock);
    lock_definitions_exclusively();
    Tracking t = read_tracking();
    bool tracked = t.orders.has_value();
    if (tracked) {
        forget_tracking("orders");
        drop_triggers(*t.orders, "orders");
        if (t.customers) {
            spi::run_text(orders_cleared_sql(t), 0, nullptr, nullptr);
            refresh_customers(transaction_start(), Cause::Order);
        } else {
            forget_everyone(Cause::Order);
        }
    }
    spi::finish();
    PG_RETURN_BOOL(tracked);
}

// segmentation.set_live_evaluation(tracked regclass, live boolean) -> void
SEGMENTATION_FUNCTION(segmentation_set_live_evaluation) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "table and live must not be NULL");
    Oid relation = PG_GETARG_OID(0);
    bool live = PG_GETARG_BOOL(1);
    spi::connect();
    Datum args[2] = {ObjectIdGetDatum(relation), BoolGetDatum(live)};
    Oid types[2] = {OIDOID, BOOLOID};
    if (spi::run_text("UPDATE segmentation.tracked_tables SET live = $2 WHERE relation = $1", 2, types, args) == 0) {
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, relation_name(relation) + " is not tracked",
                    "", "Tracked tables are listed in segmentation.tracked_tables.");
    }
    spi::finish();
    PG_RETURN_VOID();
}

// Trigger on the tracked customers table (statement level, transition tables).
SEGMENTATION_FUNCTION(segmentation_customers_changed) {
    TriggerData* trigger = trigger_data(fcinfo, "customers_changed");
    spi::connect();
    pg::call([&] { SPI_register_trigger_data(trigger); });
    // cached_tracking() refuses a tracking broken behind the event triggers'
    // back (a column dropped in replica mode) before any SQL names its columns.
    Tracking t = cached_tracking();  // a copy: the cache may be replaced while we work
    if (t.customers && t.customers->relation == RelationGetRelid(trigger->tg_relation)) {
        TriggerEvent event = trigger->tg_event;
        // The tracked tables (the orders table is read for a new customer's
        // totals), the definitions lock, then the customers in key order,
        // then the work: the work's statements see everything committed to them.
        if (!TRIGGER_FIRED_BY_TRUNCATE(event)) lock_tracked_tables(t);
        lock_definitions_shared();
        if (TRIGGER_FIRED_BY_TRUNCATE(event)) {
            forget_everyone(Cause::Customer);
        } else {
            lock_customers(transition_keys(t.customers->key_column, !TRIGGER_FIRED_BY_INSERT(event),
                                           !TRIGGER_FIRED_BY_DELETE(event)),
                           true);
            if (TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_INSERT(event)) {
                // New customers take their order totals from the orders table,
                // once every order written for them is committed or ours.
                lock_customers_to_backfill(transition_keys(t.customers->key_column, false, true));
                std::vector<Datum> changed =
                    keys_from_results(spi::run_text(customers_upsert_sql(t, "segmentation_new"), 0, nullptr, nullptr));
                note_backfilled_customers(changed);
                if (TRIGGER_FIRED_BY_UPDATE(event)) carry_manual_assignments(*t.customers);
                if (t.customers->live && !changed.empty())
                    evaluate_customers(changed, transaction_start(), Cause::Customer);
            }
            // Last: a key that changed has its new metrics row by now.
            if (TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_DELETE(event))
                forget_matching(customers_gone_sql(*t.customers, "segmentation_old"), Cause::Customer);
        }
    }
    spi::finish();
    return PointerGetDatum(nullptr);
}

// Trigger on the tracked orders table (statement level, transition tables).
SEGMENTATION_FUNCTION(segmentation_orders_changed) {
    TriggerData* trigger = trigger_data(fcinfo, "orders_changed");
    spi::connect();
    const Tracking& t = cached_tracking();
    if (t.orders && t.orders->relation == RelationGetRelid(trigger->tg_relation)) {
        if (TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event)) {
            lock_definitions_shared();
            lock_customers(keys_from_results(spi::run_text(
                               std::string("SELECT customer_id FROM segmentation.customer_metrics WHERE ") + kHasOrders,
                               0, nullptr, nullptr)),
                           false);
            update_and_evaluate(orders_cleared_sql(t), t.orders->live, Cause::Order);
        } else {
            Tracking copy = t;  // the cache may be replaced while we work
            lock_tracked_tables(copy);
            apply_order_changes(trigger, copy);
        }
    }
    spi::finish();
    return PointerGetDatum(nullptr);
}

// Trigger on segmentation.tracked_tables: customer keys take the type of the
// tracked key column (bigint for any integer, text for text and varchar,
// uuid). It also runs when pg_restore loads the table, which retypes a
// freshly created extension's key columns before or after their data.
SEGMENTATION_FUNCTION(segmentation_sync_key_type) {
    TriggerData* trigger = trigger_data(fcinfo, "sync_key_type");
    // Every backend drops its cached configuration, this one at once.
    pg::call([&] {
        CacheInvalidateRelcacheByRelid(RelationGetRelid(trigger->tg_relation));
        CommandCounterIncrement();
    });
    spi::connect();
    Tracking t = read_tracking();
    const std::optional<TrackedTable>& source = t.customers ? t.customers : t.orders;
    if (source) {
        Oid wanted = storage_type(key_family(column_type(source->relation, source->key_column, "customer")));
        Oid current = pg::call([] { return catalog().key_type; });
        if (wanted != current) {
            std::string type = type_name(wanted);
            // Ids are converted through their text form, which only works
            // within one kind of key: history of another kind must go first.
            // (A restore loads ids as text into a new extension, then this.)
            if (key_family(current) != key_family(wanted) && !pg::call([] { return restoring_from_dump(); })) {
                spi::run_once("SELECT 1 FROM segmentation.assignment_log LIMIT 1", true);
                if (pg::call([] { return SPI_processed; }) > 0)
                    throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                "cannot change customer keys from " + type_name(current) + " to " + type,
                                "segmentation.assignment_log still holds the history of " + type_name(current) + " customers.",
                                "Archive and delete that history first, or track tables whose keys have the same type.");
            }
            // A restore may have built the user's views over the keys while
            // they were text: build them again over the retyped keys.
            std::vector<std::string> views;
            if (pg::call([] { return restoring_from_dump(); })) views = drop_views_over_keys();
            require_keys_retypable(current, wanted);
            for (const char* table : {"customer_metrics", "assignments", "assignment_log"})
                spi::run_once(std::string("ALTER TABLE segmentation.") + table + " ALTER COLUMN customer_id TYPE " + type +
                              " USING customer_id::text::" + type);
            for (const std::string& view : views) spi::run_once(view);
        }
    }
    spi::finish();
    return PointerGetDatum(nullptr);
}

