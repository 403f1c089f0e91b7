// Event triggers that keep tracked tables tracked: DDL that would break a
// tracking (dropping a tracked table, column or trigger; renaming or retyping
// a tracked column; disabling a trigger; making the table unlogged or part
// of an inheritance hierarchy; renaming a value of the loyalty enum) is
// refused, and the user is told to untrack first. Without them, a retyped
// column could, for instance, route the extension's own reads through a cast
// its owner wrote, or a rewrite change its values without a trigger.
#include <string>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/tracked_columns.hpp"
#include "glue/tracking/configuration.hpp"

extern "C" {
#include "tcop/deparse_utility.h"
}

using namespace segmentation;
using namespace segmentation::glue;

namespace {

[[noreturn]] void refuse(const std::string& message, const std::string& kind) {
    throw Error(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, message,
                "Customer metrics and segment memberships are computed from it.",
                "Call segmentation.untrack_" + kind + "() first.");
}

std::string kind_of_broken(const Tracking& t) {
    if (t.customers && tracking_problem(Tracking{t.customers, std::nullopt})) return "customers";
    return "orders";
}

// ALTER TABLE ... ALTER COLUMN ... TYPE rewrites the column's values without
// firing triggers, even to the same type (USING, a narrower typmod): any
// retyping of a tracked column is refused. The subcommands come from the
// commands this event collected (pg_ddl_command is a CollectedCommand*).
void refuse_retyped_tracked_column(const Tracking& t) {
    struct Column {
        Oid relation;
        AttrNumber attnum;
    };
    struct Named {
        const TrackedTable* table;
        const std::string* column;
        const char* kind;
    };
    std::vector<Column> columns;
    std::vector<Named> names;
    for (const auto& [table, kind] : {std::pair{&t.customers, "customers"}, std::pair{&t.orders, "orders"}}) {
        if (!*table) continue;
        std::vector<const std::string*> tracked = {&(*table)->key_column, &(*table)->time_column,
                                                   &(*table)->value_column};
        for (const std::string& attribute : (*table)->attribute_columns) tracked.push_back(&attribute);
        for (const std::string* column : tracked) {
            if (column->empty()) continue;
            Oid relation = (*table)->relation;
            columns.push_back({relation, pg::call([&] { return get_attnum(relation, column->c_str()); })});
            names.push_back({&**table, column, kind});
        }
    }
    uint64 rows = spi::run_once("SELECT command FROM pg_catalog.pg_event_trigger_ddl_commands()", true);
    int retyped = pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            bool null;
            Datum command = spi::column(row, 1, &null);
            auto* collected = reinterpret_cast<CollectedCommand*>(DatumGetPointer(command));
            if (null || collected->type != SCT_AlterTable) continue;
            ListCell* cell;
            foreach (cell, collected->d.alterTable.subcmds) {
                auto* subcommand = static_cast<CollectedATSubcmd*>(lfirst(cell));
                auto* alter = reinterpret_cast<AlterTableCmd*>(subcommand->parsetree);
                if (!IsA(alter, AlterTableCmd) || alter->subtype != AT_AlterColumnType ||
                    subcommand->address.classId != RelationRelationId)
                    continue;
                for (size_t i = 0; i < columns.size(); ++i)
                    if (columns[i].relation == subcommand->address.objectId &&
                        columns[i].attnum == subcommand->address.objectSubId)
                        return static_cast<int>(i);
            }
        }
        return -1;
    });
    if (retyped >= 0) {
        const Named& n = names[retyped];
        refuse("cannot change the type of column \"" + *n.column + "\" of " + n.table->name +
                   ": segmentation tracks it (a column of the tracked " + n.kind + " table)",
               n.kind);
    }
}

// ALTER TYPE ... RENAME VALUE on the enum of the tracked loyalty column
// changes every customer's level without a trigger.
void refuse_renamed_loyalty_level(FunctionCallInfo fcinfo) {
    bool renames_value = pg::call([&] {
        Node* statement = reinterpret_cast<EventTriggerData*>(fcinfo->context)->parsetree;
        return IsA(statement, AlterEnumStmt) && reinterpret_cast<AlterEnumStmt*>(statement)->oldVal != nullptr;
    });
    if (!renames_value) return;
    Tracking t = read_tracking();
    if (!t.customers) return;
    // The loyalty column's type, then the attribute columns' (their text is stored too).
    std::vector<std::pair<Oid, std::string>> typed = {{t.customers->value_type, t.customers->value_column}};
    for (std::size_t i = 0; i < t.customers->attribute_columns.size(); ++i)
        typed.emplace_back(t.customers->attribute_types[i], t.customers->attribute_columns[i]);
    for (std::size_t i = 0; i < typed.size(); ++i) {
        Oid type = typed[i].first;
        if (type == InvalidOid) continue;
        Datum args[1] = {ObjectIdGetDatum(type)};
        Oid types[1] = {OIDOID};
        if (spi::run_text("SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() "
                          "WHERE classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND objid = $1",
                          1, types, args) > 0)
            refuse(std::string("cannot rename a value of type ") + pg::call([&] { return format_type_be(type); }) +
                       ": segmentation tracks column \"" + typed[i].second + "\" of " + t.customers->name +
                       ", of that type, as " + (i == 0 ? "the loyalty level" : "a customer attribute"),
                   "customers");
    }
}

}  // namespace

// ON sql_drop: a tracked table or column, or one of the extension's
// triggers on a tracked table, cannot be dropped. Dropping the extension
// drops its configuration too, and is allowed.
SEGMENTATION_FUNCTION(segmentation_guard_tracked_drop) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "guard_tracked_drop must run as an event trigger");
    spi::connect();
    RelationScope node(node_relations());  // on Citus, this node's placement of tracked_tables
    // Attribute columns too, in a database at 1.1 or later (a 1.0 one has no attribute_columns).
    bool attributes = pg::call([] { return catalog().has_attributes; });
    uint64 rows = spi::run_once(
        std::string("WITH dropped AS (SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()) "
                    "SELECT t.kind, d.object_identity, d.objsubid <> 0 FROM dropped d "
                    "JOIN segmentation.tracked_tables t ON t.relation::pg_catalog.oid = d.objid "
                    "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
                    "  AND NOT EXISTS (SELECT 1 FROM dropped x WHERE x.objid = "
                    "'segmentation.tracked_tables'::pg_catalog.regclass) "
                    "  AND (d.objsubid = 0 OR d.address_names[3] IN (t.customer_column::pg_catalog.text, "
                    "       t.time_column::pg_catalog.text, t.amount_column::pg_catalog.text, "
                    "t.loyalty_column::pg_catalog.text)") +
            (attributes ? " OR d.address_names[3] OPERATOR(pg_catalog.=) ANY (t.attribute_columns::pg_catalog.text[])"
                        : "") +
            ") LIMIT 1",
        true);
    if (rows > 0) {
        std::string kind, object;
        bool column = false;
        pg::call([&] {
            kind = spi::text_column(0, 1);
            object = spi::text_column(0, 2);
            column = spi::bool_column(0, 3);
        });
        refuse("cannot drop " + object + " because segmentation tracks it" +
                   (column ? " (a column of the tracked " + kind + " table)" : " as the " + kind + " table"),
               kind);
    }
    // A dropped trigger may have been one of ours, on a table still tracked.
    // Only that table's tracking is checked: untracking one table must work
    // while the other's tracking is broken.
    uint64 tables = spi::run_once(
        "SELECT DISTINCT t.kind FROM pg_catalog.pg_event_trigger_dropped_objects() d "
        "JOIN segmentation.tracked_tables t ON t.relation::pg_catalog.oid = pg_catalog.to_regclass("
        "    pg_catalog.quote_ident(d.address_names[1]) || '.' || "
        "pg_catalog.quote_ident(d.address_names[2]))::pg_catalog.oid "
        "WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND d.address_names[3] LIKE 'segmentation\\_%'",
        true);
    if (tables > 0 && !pg::call([] { return restoring_from_dump(); })) {
        std::vector<std::string> kinds;
        pg::call([&] {
            for (uint64 row = 0; row < tables; ++row) kinds.emplace_back(spi::text_column(row, 1));
        });
        Tracking t = read_tracking();
        for (const std::string& kind : kinds) {
            Tracking only =
                kind == "customers" ? Tracking{t.customers, std::nullopt} : Tracking{std::nullopt, t.orders};
            if (auto problem = tracking_problem(only))
                refuse("cannot drop that trigger: it keeps a tracked table tracked (" + *problem + ")", kind);
        }
    }
    spi::finish();
    PG_RETURN_VOID();
}

// ON ddl_command_end: after ALTER TABLE and friends on a tracked table (or
// CREATE TABLE ... INHERITS one), the tracking must still hold (no tracked
// column retyped; columns there, with allowed types; the table permanent and
// outside any inheritance hierarchy; triggers present and enabled), or the
// command is undone. So is renaming a value of the loyalty level's enum.
SEGMENTATION_FUNCTION(segmentation_guard_tracked_alter) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "guard_tracked_alter must run as an event trigger");
    if (pg::call([] { return restoring_from_dump(); })) PG_RETURN_VOID();  // a restore re-creates it all in order
    spi::connect();
    RelationScope node(node_relations());
    refuse_renamed_loyalty_level(fcinfo);
    // Commands on a tracked table, or on a table inheriting from one or
    // inherited by one (CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT,
    // ATTACH PARTITION), or on a trigger.
    uint64 touched = spi::run_once(
        "WITH tracked AS (SELECT relation::pg_catalog.oid AS oid FROM segmentation.tracked_tables), "
        "related AS (SELECT oid FROM tracked "
        "            UNION ALL SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tracked t ON i.inhparent = t.oid "
        "            UNION ALL SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN tracked t ON i.inhrelid = t.oid) "
        "SELECT c.command_tag FROM pg_catalog.pg_event_trigger_ddl_commands() c "
        "WHERE NOT c.in_extension AND (c.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
        "  OR (c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.objid IN (SELECT oid FROM related))) LIMIT "
        "1",
        false);  // not read-only: the command's own pg_inherits rows must be seen
    if (touched > 0) {
        std::string command = pg::call([] { return spi::text_column(0, 1); });
        Tracking t = read_tracking();
        refuse_retyped_tracked_column(t);
        if (auto problem = tracking_problem(t))
            refuse(command + " would break the tracking of a table: " + *problem, kind_of_broken(t));
    }
    spi::finish();
    PG_RETURN_VOID();
}

// ON ddl_command_end of CREATE TRIGGER, in a Citus database: a tracking
// trigger created on a table that segmentation does not track (as that
// kind) is Citus copying it to a shard while making a tracked table a Citus
// table, on this node or on a worker. The shard's trigger would not keep
// metrics, so distributing the table is refused (citus.hpp).
SEGMENTATION_FUNCTION(segmentation_guard_tracking_trigger_copies) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                    "guard_tracking_trigger_copies must run as an event trigger");
    if (!pg::call([] { return citus_installed(); }) || pg::call([] { return restoring_from_dump(); })) PG_RETURN_VOID();
    spi::connect();
    RelationScope node(node_relations());
    // When the extension's tables are Citus tables, the tracked table is a
    // distributed table too, and a copy on one of its shards is its tracking.
    std::string shard_of_tracked =
        active_relations() == nullptr
            ? ""
            : " OR EXISTS (SELECT 1 FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid = t.relation "
              "AND pg_catalog.to_regclass(pg_catalog.shard_name(s.logicalrelid, s.shardid, false)) "
              "OPERATOR(pg_catalog.=) g.tgrelid::pg_catalog.regclass)";
    uint64 copies = spi::run_once(
        "SELECT p.proname FROM pg_catalog.pg_event_trigger_ddl_commands() c "
        "JOIN pg_catalog.pg_trigger g ON g.oid = c.objid "
        "JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid "
        "WHERE c.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
        "  AND p.pronamespace = 'segmentation'::pg_catalog.regnamespace "
        "  AND p.proname IN ('customers_changed', 'orders_changed') "
        "  AND NOT EXISTS (SELECT 1 FROM segmentation.tracked_tables t "
        "                  WHERE (t.relation::pg_catalog.oid = g.tgrelid" +
        shard_of_tracked +
        ") AND p.proname = t.kind || '_changed') "
        "LIMIT 1");  // not read-only: the snapshot must see the trigger just created
    if (copies > 0) refuse_distributing_tracked_table(pg::call([] { return spi::text_column(0, 1); }));
    spi::finish();
    PG_RETURN_VOID();
}
