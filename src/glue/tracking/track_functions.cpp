// track_customers(), track_orders(), their untrack_ twins and
// set_live_evaluation(): starting and stopping the tracking of the user's
// tables (configuration, triggers, back-fill of the metrics).
#include <string>
#include <vector>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/tracking/attribute_functions.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"
#include "glue/tracking/tracked_columns.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

const spi::Statement kCountCustomers = {"SELECT count(*) FROM segmentation.customer_metrics", 0, {}};

std::string relation_name(Oid relation) {
    return pg::call([&] {
        char* name = get_rel_name(relation);
        if (name == nullptr)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relation)));
        return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)), name);
    });
}

int64 first_int64() {
    return pg::call([] { return spi::int64_column(0, 1); });
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
                                                   type_name(other_type) + " in the tracked " + other_kind + " table " +
                                                   other->name);
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
    spi::run_text(
        "INSERT INTO segmentation.tracked_tables "
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

// The tables a track_ function is about to change, as lock_tracked_tables() takes them.
Tracking tracking_with(const char* kind, Oid relation) {
    Tracking t = read_tracking();
    TrackedTable table;
    table.relation = relation;
    (std::string(kind) == "customers" ? t.customers : t.orders) = table;
    return t;
}

}  // namespace

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
    require_column_type(TrackedColumn::CreatedAt, created_column,
                        column_type(relation, created_column, "creation time"));
    if (!loyalty_column.empty())
        require_column_type(TrackedColumn::Loyalty, loyalty_column,
                            column_type(relation, loyalty_column, "loyalty level"));

    spi::connect();
    Tracking t = read_tracking();
    require_untracked(t.customers, "customers", "untrack_customers");
    // On Citus, the extension's tables become Citus tables (citus.hpp), unless
    // they are already, co-located with the tracked orders.
    bool on_citus = require_trackable_citus_table(relation, id_column, t);
    bool laid_out = on_citus && extension_tables_distributed();
    if (on_citus) prepare_distributed_tracking();
    lock_tracked_tables(tracking_with("customers", relation), ShareRowExclusiveLock);  // CREATE TRIGGER's lock
    lock_definitions_exclusively();  // no evaluation runs while keys and metrics are rebuilt
    t = read_tracking();
    require_untracked(t.customers, "customers", "untrack_customers");
    require_matching_keys(id_type, t.orders, "orders");
    record_tracking("customers", relation, id_column, created_column, "", loyalty_column);
    if (on_citus && !laid_out) distribute_extension_tables(relation);
    t = read_tracking();
    create_triggers(t.customers->name, "customers", "customers_changed");
    require_sound_tracking(t);
    if (on_citus) {
        backfill_on_every_node("track_customers");  // each node, shard by shard
    } else {
        // Back-fill: customers the table does not have leave; the others get
        // their creation time, loyalty level and (when new) order totals.
        forget_matching(customers_missing_sql(*t.customers), Cause::Customer);
        spi::run_text(customers_upsert_sql(t, t.customers->name), 0, nullptr, nullptr);
        refresh_customers(transaction_start(), Cause::Customer);
    }
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
    Tracking t = read_tracking();
    require_untracked(t.orders, "orders", "untrack_orders");
    // On Citus, the extension's tables become Citus tables (citus.hpp).
    bool on_citus = require_trackable_citus_table(relation, customer_column, t);
    if (on_citus) prepare_distributed_tracking();
    lock_tracked_tables(tracking_with("orders", relation), AccessShareLock, ShareRowExclusiveLock);
    lock_definitions_exclusively();
    t = read_tracking();
    require_untracked(t.orders, "orders", "untrack_orders");
    require_matching_keys(customer_type, t.customers, "customers");
    record_tracking("orders", relation, customer_column, ordered_column, amount_column, "");
    if (on_citus) distribute_extension_tables(relation);
    t = read_tracking();
    create_triggers(t.orders->name, "orders", "orders_changed");
    require_sound_tracking(t);
    if (on_citus) {
        backfill_on_every_node("track_orders");  // each node, shard by shard
    } else {
        spi::run_text(orders_backfill_sql(t), 0, nullptr, nullptr);
        refresh_customers(transaction_start(), Cause::Order);
    }
    int64 tracked = customer_count();
    spi::finish();
    PG_RETURN_INT64(tracked);
}

// segmentation.untrack_customers() -> boolean (whether a table was tracked)
SEGMENTATION_FUNCTION(segmentation_untrack_customers) {
    spi::connect();
    require_single_node("untrack_customers");
    lock_tracked_tables(read_tracking(), AccessExclusiveLock);  // DROP TRIGGER's lock
    lock_definitions_exclusively();
    Tracking t = read_tracking();
    bool tracked = t.customers.has_value();
    // Stored criteria stay valid: attributes go with the customers table.
    if (tracked && !t.customers->attribute_columns.empty())
        refuse_attributes_in_use(t.customers->attribute_columns, "cannot untrack customers");
    if (tracked) {
        forget_tracking("customers");  // first: the drop guard lets untracked tables' triggers go
        drop_triggers(*t.customers, "customers");
        if (t.orders) {
            // Customers are those with orders again, known since their first order.
            forget_matching("SELECT customer_id FROM segmentation.customer_metrics WHERE order_count = 0",
                            Cause::Customer);
            if (pg::call([] { return catalog().has_attributes; }))
                spi::run_once(
                    "UPDATE segmentation.customer_metrics SET customer_since = first_order_at, loyalty_level = NULL, "
                    "attributes = NULL "
                    "WHERE customer_since IS DISTINCT FROM first_order_at OR loyalty_level IS NOT NULL "
                    "OR attributes IS NOT NULL");
            else
                spi::run_once(
                    "UPDATE segmentation.customer_metrics SET customer_since = first_order_at, loyalty_level = NULL "
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
    require_single_node("untrack_orders");
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
    // regclass, not oid: on Citus the statement reaches every node's copy of
    // tracked_tables with the table's name, which each node resolves to its OID.
    Oid types[2] = {REGCLASSOID, BOOLOID};
    if (spi::run_text("UPDATE segmentation.tracked_tables SET live = $2 WHERE relation = $1", 2, types, args) == 0) {
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, relation_name(relation) + " is not tracked", "",
                    "Tracked tables are listed in segmentation.tracked_tables.");
    }
    spi::finish();
    PG_RETURN_VOID();
}
