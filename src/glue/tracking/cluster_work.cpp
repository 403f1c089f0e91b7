// Citus: tasks on every shard and calls on the customer's node
// (cluster_work.hpp, docs/citus.md).
#include "glue/tracking/cluster_work.hpp"

#include <string>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/membership/notify.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/segments/actor.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"

namespace segmentation::glue {
namespace {

// Task and call ids: unique among this node's backends; rows of other
// transactions are never visible before they are deleted, so ids only need
// to tell this transaction's calls apart.
int64 next_id() {
    static int64 counter = 0;
    ++counter;
    return pg::call([] { return (static_cast<int64>(MyProcPid) << 32); }) | (counter & 0xFFFFFFFF);
}

// Settings for the duration of a task or call (restored by end(), or by the
// transaction's abort on error).
class Settings {
public:
    Settings() : level_(pg::call([] { return NewGUCNestLevel(); })) {}
    void set(const char* name, const char* value) {
        pg::call(
            [&] { (void)set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false); });
    }
    void end() {
        pg::call([&] { AtEOXact_GUC(true, level_); });
    }

private:
    int level_;
};

std::string text_of(Datum value) {
    const char* chars = pg::call([&] { return TextDatumGetCString(value); });
    return chars;
}

// A column of the trigger's row, by name.
struct RowColumns {
    TupleDesc desc;
    HeapTuple tuple;
    SEGMENTATION_PG_CONTEXT Datum get(const char* name, bool* null) const {
        return SPI_getbinval(tuple, desc, SPI_fnumber(desc, name), null);
    }
};

const char* const kTaskNotOnShards = "segmentation's cluster tasks run only on a Citus cluster's nodes";

}  // namespace

bool runs_on_cluster() { return active_relations() == nullptr && extension_tables_distributed(); }

// Writes the task row: its trigger runs the task on every node. `segment`
// and `after` are those of an online change's step.
void start_task(int64 id, const char* task, TimestampTz as_of, std::optional<int64> segment = std::nullopt,
                const std::optional<std::string>& after = std::nullopt) {
    Datum args[8] = {Int64GetDatum(id),
                     pg::call([&] { return CStringGetTextDatum(task); }),
                     TimestampTzGetDatum(as_of),
                     actor(),
                     pg::call([] { return CStringGetTextDatum(GetConfigOption("TimeZone", false, false)); }),
                     pg::call([] { return CStringGetTextDatum(GetConfigOption("DateStyle", false, false)); }),
                     Int64GetDatum(segment.value_or(0)),
                     after ? pg::call([&] { return CStringGetTextDatum(after->c_str()); }) : (Datum)0};
    Oid types[8] = {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID};
    char nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', segment ? ' ' : 'n', after ? ' ' : 'n'};
    if (!segment && !after) {
        // (The columns of an online change's step are new in 1.1's last section.)
        spi::run_text(
            "INSERT INTO segmentation.cluster_tasks (id, task, as_of, actor, time_zone, date_style) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            6, types, args);
        return;
    }
    spi::run_text(
        "INSERT INTO segmentation.cluster_tasks (id, task, as_of, actor, time_zone, date_style, segment_id, "
        "after_customer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        8, types, args, nulls);
}

RefreshTotals cluster_refresh(const char* task, TimestampTz as_of) {
    Settings settings;
    settings.set("citus.multi_shard_modify_mode", "sequential");
    int64 id = next_id();
    start_task(id, task, as_of);
    Datum args[1] = {Int64GetDatum(id)};
    Oid types[1] = {INT8OID};
    spi::run_text(
        "SELECT coalesce(sum(customers), 0)::pg_catalog.int8, coalesce(sum(added), 0)::pg_catalog.int8, "
        "coalesce(sum(removed), 0)::pg_catalog.int8 FROM segmentation.cluster_calls WHERE id = $1",
        1, types, args);
    RefreshTotals totals;
    pg::call([&] {
        totals.customers = spi::int64_column(0, 1);
        totals.added = spi::int64_column(0, 2);
        totals.removed = spi::int64_column(0, 3);
    });
    spi::run_text("DELETE FROM segmentation.cluster_calls WHERE id = $1", 1, types, args);
    spi::run_text("DELETE FROM segmentation.cluster_tasks WHERE id = $1", 1, types, args);
    settings.end();
    return totals;
}

void cluster_untracked(const char* task) {
    Settings settings;
    settings.set("citus.multi_shard_modify_mode", "sequential");
    int64 id = next_id();
    start_task(id, task, transaction_start());
    Datum args[1] = {Int64GetDatum(id)};
    Oid types[1] = {INT8OID};
    spi::run_text("DELETE FROM segmentation.cluster_tasks WHERE id = $1", 1, types, args);
    settings.end();
}

std::optional<std::string> cluster_change_step(int64 segment, const std::optional<std::string>& after) {
    Settings settings;
    settings.set("citus.multi_shard_modify_mode", "sequential");
    int64 id = next_id();
    start_task(id, "segment_change_step", transaction_start(), segment, after);
    Datum args[1] = {Int64GetDatum(id)};
    Oid types[1] = {INT8OID};
    // The next step starts after the least of the groups' last customers:
    // no group skips one (a group ahead looks at some again, all up to date).
    std::string least = "pg_catalog.min(drift_customer::" + key_type_name() + ")::pg_catalog.text";
    spi::run_text("SELECT " + least + " FROM segmentation.cluster_calls WHERE id = $1", 1, types, args);
    std::optional<std::string> next;
    pg::call([&] {
        const char* text = spi::text_column(0, 1);
        if (text != nullptr) next = text;
    });
    spi::run_text("DELETE FROM segmentation.cluster_calls WHERE id = $1", 1, types, args);
    spi::run_text("DELETE FROM segmentation.cluster_tasks WHERE id = $1", 1, types, args);
    settings.end();
    return next;
}

void cluster_verify(FunctionCallInfo fcinfo, TimestampTz as_of) {
    Settings settings;
    settings.set("citus.multi_shard_modify_mode", "sequential");
    int64 id = next_id();
    start_task(id, "verify", as_of);
    Datum args[1] = {Int64GetDatum(id)};
    Oid types[1] = {INT8OID};
    // One server sorts each query's rows by customer and problem, and lists
    // the queries in turn (verify_function.cpp).
    uint64 rows = spi::run_text(
        "SELECT drift_customer, problem, expected, actual FROM segmentation.cluster_calls WHERE id = $1 "
        "ORDER BY ordinal, 1, 2, 3, 4",
        1, types, args);
    add_spi_rows_to_set_result(fcinfo, rows);
    spi::run_text("DELETE FROM segmentation.cluster_calls WHERE id = $1", 1, types, args);
    spi::run_text("DELETE FROM segmentation.cluster_tasks WHERE id = $1", 1, types, args);
    settings.end();
}

ClusterCallResult cluster_call(const char* call, Datum key, int64 segment, Datum reason, bool reason_null) {
    Settings settings;
    settings.set("citus.multi_shard_modify_mode", "sequential");
    int64 id = next_id();
    Oid key_type = pg::call([] { return catalog().key_type; });
    // Evaluated at the coordinator's transaction start, as on one server.
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    Datum args[7] = {key,
                     Int64GetDatum(id),
                     pg::call([&] { return CStringGetTextDatum(call); }),
                     Int64GetDatum(segment),
                     TimestampTzGetDatum(now),
                     actor(),
                     reason};
    Oid types[7] = {key_type, INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
    char nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', static_cast<char>(reason_null ? 'n' : ' ')};
    spi::run_text(
        "INSERT INTO segmentation.cluster_calls (customer_id, id, call, segment_id, as_of, actor, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING added_ids, removed_ids, coalesce(changed, false)",
        7, types, args, nulls);
    ClusterCallResult result;
    pg::call([&] {
        for (int column : {1, 2}) {
            bool null;
            Datum ids = spi::column(0, column, &null);
            if (null) continue;
            ArrayType* array = DatumGetArrayTypeP(ids);
            Datum* items;
            int count;
            deconstruct_array(array, INT8OID, 8, true, TYPALIGN_DOUBLE, &items, nullptr, &count);
            for (int i = 0; i < count; ++i)
                (column == 1 ? result.added : result.removed).push_back(DatumGetInt64(items[i]));
        }
        result.changed = spi::bool_column(0, 3);
    });
    spi::run_text("DELETE FROM segmentation.cluster_calls WHERE customer_id = $1 AND id = $2", 2, types, args);
    settings.end();
    return result;
}

}  // namespace segmentation::glue

using namespace segmentation;
using namespace segmentation::glue;

// AFTER INSERT ... FOR EACH ROW on segmentation.cluster_tasks: on every
// node's placement, the task on each of the node's shard groups.
SEGMENTATION_FUNCTION(segmentation_cluster_task_run) {
    TriggerData* trigger = trigger_data(fcinfo, "cluster_task_run");
    RowColumns row{pg::call([&] { return RelationGetDescr(trigger->tg_relation); }), trigger->tg_trigtuple};
    int64 id = 0;
    TimestampTz as_of = 0;
    Datum task_datum = 0, actor_datum = 0, zone_datum = 0, style_datum = 0;
    pg::call([&] {
        bool null;
        id = DatumGetInt64(row.get("id", &null));
        as_of = DatumGetTimestampTz(row.get("as_of", &null));
        task_datum = row.get("task", &null);
        actor_datum = row.get("actor", &null);
        zone_datum = row.get("time_zone", &null);
        style_datum = row.get("date_style", &null);
    });
    std::string task = text_of(task_datum);
    // An online change's step: its segment and where it starts.
    std::optional<int64> segment;
    std::optional<std::string> after;
    if (task == "segment_change_step") {
        bool segment_null = true, after_null = true;
        Datum segment_datum = 0, after_datum = 0;
        pg::call([&] {
            segment_datum = row.get("segment_id", &segment_null);
            after_datum = row.get("after_customer", &after_null);
        });
        if (!segment_null) segment = DatumGetInt64(segment_datum);
        if (!after_null) after = text_of(after_datum);
        if (!segment) throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "segment_change_step task without a segment");
    }
    std::string who = text_of(actor_datum);
    std::string zone = text_of(zone_datum);
    std::string style = text_of(style_datum);
    spi::connect();
    RelationScope node(node_relations());
    if (active_relations() == nullptr) throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, kTaskNotOnShards);
    // The log names the caller on the coordinator, not the role Citus connects as.
    Settings settings;
    settings.set("segmentation.actor", who.c_str());
    settings.set("TimeZone", zone.c_str());  // verify's rows show times as the caller's session would
    settings.set("DateStyle", style.c_str());
    for (const RelationSetPtr& group : local_shard_groups()) {
        poll_interrupts();
        RelationScope shard(group);
        lock_tracked_tables(cached_tracking());  // the lock order: tables, definitions, customers
        if (task == "verify") {
            verify_into_cluster_calls(as_of, id);
            continue;
        }
        if (task == "segment_change_step") {
            std::optional<std::string> last = change_step_here(*segment, after);
            Datum args[3] = {Int64GetDatum(id), task_datum,
                             last ? pg::call([&] { return CStringGetTextDatum(last->c_str()); }) : (Datum)0};
            Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
            char nulls[3] = {' ', ' ', last ? ' ' : 'n'};
            spi::run_text("INSERT INTO segmentation.cluster_calls (id, call, drift_customer) VALUES ($1, $2, $3)", 3,
                          types, args, nulls);
            continue;
        }
        if (task.rfind("untracked_", 0) == 0) {
            bool customers = task.rfind("untracked_customers", 0) == 0;
            untracked_here(customers ? "customers" : "orders", task.find("_with_other") != std::string::npos,
                           task.find("_paused") == std::string::npos, as_of);
            continue;
        }
        RefreshTotals totals;
        if (task == "refresh_all")
            totals = refresh_customers(as_of, Cause::Refresh);
        else if (task == "refresh_due")
            totals = refresh_due_customers(as_of);
        else if (task.rfind("track_", 0) == 0)
            totals = backfill_here(task, as_of);
        else
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown cluster task \"" + task + "\"");
        Datum args[5] = {Int64GetDatum(id), task_datum, Int64GetDatum(totals.customers), Int64GetDatum(totals.added),
                         Int64GetDatum(totals.removed)};
        Oid types[5] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID};
        spi::run_text(
            "INSERT INTO segmentation.cluster_calls (id, call, customers, added, removed) VALUES ($1, $2, $3, $4, $5)",
            5, types, args);
    }
    flush_shard_notifications();  // for the coordinator (notify.hpp)
    settings.end();
    spi::finish();
    return PointerGetDatum(nullptr);
}

// BEFORE INSERT ... FOR EACH ROW on segmentation.cluster_calls: on the shard
// of the row's customer, the call, its results written into the row. Rows
// without a customer (a task's results) are written as they are.
SEGMENTATION_FUNCTION(segmentation_cluster_call_run) {
    TriggerData* trigger = trigger_data(fcinfo, "cluster_call_run");
    RowColumns row{pg::call([&] { return RelationGetDescr(trigger->tg_relation); }), trigger->tg_trigtuple};
    bool no_customer = false, reason_null = true, segment_null = true;
    Datum key = 0, call_datum = 0, actor_datum = 0, reason = 0;
    int64 segment = 0;
    TimestampTz as_of = 0;
    pg::call([&] {
        bool null;
        key = row.get("customer_id", &no_customer);
        Datum at = row.get("as_of", &null);
        if (!null) as_of = DatumGetTimestampTz(at);
        call_datum = row.get("call", &null);
        actor_datum = row.get("actor", &null);
        reason = row.get("reason", &reason_null);
        Datum s = row.get("segment_id", &segment_null);
        if (!segment_null) segment = DatumGetInt64(s);
    });
    if (no_customer) return PointerGetDatum(trigger->tg_trigtuple);
    std::string call = text_of(call_datum);
    std::string who = text_of(actor_datum);
    spi::connect();
    RelationScope shard(shard_relations(pg::call([&] { return RelationGetRelid(trigger->tg_relation); })));
    if (active_relations() == nullptr) throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, kTaskNotOnShards);
    Settings settings;
    settings.set("segmentation.actor", who.c_str());
    ClusterCallResult result;
    if (call == "assign_automatic_segments")
        result = assign_automatic_here(key, as_of);
    else if (call == "assign_manual_segment")
        result.changed = assign_manual_here(key, segment, as_of);
    else if (call == "remove_manual_segment")
        result.changed = remove_manual_here(key, segment, reason, reason_null, as_of);
    else if (call == "include_customer")
        result.changed = include_customer_here(key, segment, reason, reason_null, as_of);
    else if (call == "exclude_customer")
        result.changed = exclude_customer_here(key, segment, reason, reason_null, as_of);
    else if (call == "remove_override")
        result.changed = remove_override_here(key, segment, reason, reason_null, as_of);
    else
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown cluster call \"" + call + "\"");
    flush_shard_notifications();  // for the coordinator (notify.hpp)
    settings.end();
    spi::finish();
    // (After finish(): the row must outlive the SPI connection.)
    Datum values[3] = {int64_array(result.added), int64_array(result.removed), BoolGetDatum(result.changed)};
    return pg::call([&] {
        TupleDesc desc = row.desc;
        int columns[3] = {SPI_fnumber(desc, "added_ids"), SPI_fnumber(desc, "removed_ids"),
                          SPI_fnumber(desc, "changed")};
        bool nulls[3] = {false, false, false};
        return PointerGetDatum(heap_modify_tuple_by_cols(row.tuple, desc, 3, columns, values, nulls));
    });
}
