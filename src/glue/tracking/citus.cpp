// Citus: tracking hash-distributed tables (citus.hpp, docs/citus.md).
#include "glue/tracking/citus.hpp"

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/tracking/attribute_functions.hpp"
#include "glue/tracking/cluster_work.hpp"
#include "glue/tracking/metrics_sql.hpp"

namespace segmentation::glue {
namespace {

const char* const kSupported =
    "segmentation tracks plain PostgreSQL tables, and on Citus customers and orders tables distributed by their "
    "customer column and co-located (docs/citus.md).";

// Citus's classification of `relation` ('' when it is not a Citus table),
// with its distribution column's name and its colocation group.
struct CitusTable {
    std::string kind;
    std::string column;
    int64 colocation = 0;
};

CitusTable citus_table(Oid relation) {
    CitusTable table;
    if (!pg::call([] { return citus_installed(); })) return table;
    Datum args[1] = {ObjectIdGetDatum(relation)};
    Oid types[1] = {REGCLASSOID};
    uint64 rows = spi::run_text(
        "SELECT CASE WHEN partmethod = 'n' AND repmodel = 't' THEN 'reference table' "
        "            WHEN partmethod = 'n' AND colocationid = 0 THEN 'local table' "
        "            WHEN partmethod = 'h' THEN 'hash' ELSE 'distributed table' END, "
        "       pg_catalog.column_to_column_name(logicalrelid, partkey), colocationid::pg_catalog.int8 "
        "FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1",
        1, types, args, nullptr, true);
    if (rows == 0) return table;
    pg::call([&] {
        table.kind = spi::text_column(0, 1);
        const char* column = spi::text_column(0, 2);
        table.column = column == nullptr ? "" : column;
        table.colocation = spi::int64_column(0, 3);
    });
    return table;
}

std::string relation_name(Oid relation) {
    return pg::call([&] { return get_rel_name(relation); });
}

[[noreturn]] void refuse(const std::string& message, const std::string& detail) {
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, message, detail, kSupported);
}

void set_local(const char* name, const char* value) {
    pg::call(
        [&] { (void)set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false); });
}

}  // namespace

SEGMENTATION_PG_CONTEXT bool citus_installed() { return citus_present(); }

bool require_trackable_citus_table(Oid relation, const std::string& key_column, const Tracking& current) {
    CitusTable table = citus_table(relation);
    bool other_on_citus = false;
    for (const auto* other : {&current.customers, &current.orders})
        if (*other && !citus_table((*other)->relation).kind.empty()) other_on_citus = true;
    if (table.kind.empty()) {
        if (other_on_citus)
            refuse("\"" + relation_name(relation) + "\" is not a Citus table, but the other tracked table is",
                   "Customers and orders must both be Citus tables, or neither.");
        return false;
    }
    std::string name = relation_name(relation);
    if (table.kind != "hash")
        refuse("\"" + name + "\" is a Citus " + table.kind + ", which segmentation cannot track",
               "Its rows are written to shards, where the tracking triggers cannot keep metrics exact.");
    if (table.column != key_column)
        refuse("\"" + name + "\" is distributed by \"" + table.column + "\", not by its customer column \"" +
                   key_column + "\"",
               "Everything about one customer must live on one node.");
    // The other tracked table (customers for orders, orders for customers):
    // a customer's row and orders must be on the same node, in the same shard group.
    for (const auto* other : {&current.customers, &current.orders}) {
        if (!*other || (*other)->relation == relation) continue;
        CitusTable theirs = citus_table((*other)->relation);
        if (theirs.kind.empty())
            refuse("\"" + name + "\" is a Citus table, but the other tracked table " + (*other)->name + " is not",
                   "Customers and orders must both be Citus tables, or neither.");
        if (theirs.colocation != table.colocation)
            refuse("\"" + name + "\" is not co-located with the tracked table " + (*other)->name,
                   "A customer's row and orders must be in the same shard group: distribute it with colocate_with "
                   "=> '" +
                       (*other)->name + "'.");
    }
    return true;
}

void prepare_distributed_tracking() {
    // One connection per node for the rest of the transaction: the shards'
    // triggers and DDL then see the configuration row written just before.
    set_local("citus.multi_shard_modify_mode", "sequential");
    // The tracking triggers go to the shards with the table.
    set_local("citus.enable_unsafe_triggers", "on");
    if (extension_tables_distributed()) return;
    // The coordinator's functions read segments and tracked_tables in the
    // coordinator's placement of these reference tables, which exists only
    // when the coordinator is in Citus's metadata.
    spi::run_once("SELECT 1 FROM pg_catalog.pg_dist_node WHERE groupid = 0 AND noderole = 'primary'", true);
    if (pg::call([] { return SPI_processed; }) == 0)
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "the Citus coordinator is not in the cluster's metadata",
                    "segmentation keeps its definitions in reference tables, with a copy on every node, the "
                    "coordinator's included.",
                    "Run SELECT citus_set_coordinator_host('<host>', <port>) on the coordinator first.");
    spi::run_once(
        "SELECT 1 FROM segmentation.customer_metrics UNION ALL SELECT 1 FROM segmentation.assignments "
        "UNION ALL SELECT 1 FROM segmentation.assignment_log LIMIT 1",
        true);
    if (pg::call([] { return SPI_processed; }) > 0)
        refuse("segmentation's tables hold customers already",
               "Its tables become Citus tables when a first Citus table is tracked, and must be empty then.");
    spi::run_once("SELECT pg_catalog.create_reference_table('segmentation.segments')");
    spi::run_once("SELECT pg_catalog.create_reference_table('segmentation.tracked_tables')");
    spi::run_once("SELECT pg_catalog.create_reference_table('segmentation.cluster_tasks')");
    // The coordinator's own copy is arranged by the row's trigger on its placement.
}

void distribute_extension_tables(Oid relation) {
    spi::run_once(
        "SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = 'segmentation.customer_metrics'::pg_catalog."
        "regclass",
        true);
    if (pg::call([] { return SPI_processed; }) > 0) return;
    std::string colocate = pg::call([&] {
        return quote_literal_cstr(
            quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)), get_rel_name(relation)));
    });
    for (const char* table :
         {"customer_metrics", "assignments", "assignment_log", "cluster_calls", "notification_outbox"})
        spi::run_once(std::string("SELECT pg_catalog.create_distributed_table('segmentation.") + table +
                      "', 'customer_id', colocate_with => " + colocate + ")");
}

void arrange_node_tables() {
    // Log ids unique across nodes: each node group draws from its own range
    // of 2^48 ids (the coordinator, group 0, keeps the first).
    spi::run_once(
        "SELECT pg_catalog.format('ALTER SEQUENCE segmentation.assignment_log_id_seq MINVALUE %s MAXVALUE %s "
        "START %s RESTART %s', lo, hi, lo, lo) FROM (SELECT (groupid::pg_catalog.int8 << 48) + 1 AS lo, "
        "((groupid::pg_catalog.int8 + 1) << 48) - 1 AS hi FROM pg_catalog.pg_dist_local_group) g "
        "JOIN pg_catalog.pg_sequence s ON s.seqrelid = 'segmentation.assignment_log_id_seq'::pg_catalog.regclass "
        "WHERE s.seqmin <> g.lo",
        true);
    if (pg::call([] { return SPI_processed; }) > 0) {
        std::string alter = pg::call([] { return spi::text_column(0, 1); });
        spi::run_once(alter);
    }
    // Citus keys every unique index of a distributed table by its distribution column.
    spi::run_once(
        "SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = 'segmentation.assignment_log'::pg_catalog.regclass "
        "AND i.indisprimary AND i.indnatts = 1",
        true);
    if (pg::call([] { return SPI_processed; }) > 0)
        spi::run_once(
            "ALTER TABLE segmentation.assignment_log DROP CONSTRAINT assignment_log_pkey, "
            "ADD CONSTRAINT assignment_log_pkey PRIMARY KEY (customer_id, id)");
}

void backfill_on_every_node(const char* task) { (void)cluster_refresh(task, transaction_start()); }

RefreshTotals backfill_here(const std::string& task, TimestampTz as_of) {
    Tracking local = cached_tracking();  // the tracked tables' shards in scope
    if (task == "track_orders" && local.orders) {
        spi::run_text(orders_backfill_sql(local), 0, nullptr, nullptr);
        return refresh_customers(as_of, Cause::Order);
    }
    if (task == "track_customers" && local.customers) {
        // As on one server: customers the table does not have leave; the
        // others get their creation time, loyalty level, attributes and
        // (when new) order totals.
        forget_matching(customers_missing_sql(*local.customers), Cause::Customer);
        spi::run_text(customers_upsert_sql(local, local.customers->name), 0, nullptr, nullptr);
        return refresh_customers(as_of, Cause::Customer);
    }
    if (task == "track_attributes" && local.customers) {
        spi::run_text(attributes_backfill_sql(*local.customers), 0, nullptr, nullptr);
        return refresh_customers(as_of, Cause::Customer);
    }
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown cluster task \"" + task + "\"");
}

void refuse_distributing_tracked_table(const std::string& trigger_function) {
    std::string kind = trigger_function == "customers_changed" ? "customers" : "orders";
    throw Error(
        ERRCODE_FEATURE_NOT_SUPPORTED, "a table tracked by segmentation cannot become a Citus table",
        "Its tracking trigger was being created on a table segmentation does not track (Citus copies "
        "triggers to the shards of a table it distributes), where it would not keep metrics and segment "
        "membership up to date.",
        "Call segmentation.untrack_" + kind + "() first, distribute the table, then track it again. " + kSupported);
}

void refuse_truncating_citus_table(Relation relation) {
    std::string name = pg::call([&] {
        return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(relation)),
                                          RelationGetRelationName(relation));
    });
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "cannot truncate " + name + ": segmentation tracks it on Citus",
                "Citus truncates the table's shards without firing their triggers: metrics and segment membership "
                "would stay as they were.",
                "Use DELETE FROM " + name + " instead.");
}

}  // namespace segmentation::glue
