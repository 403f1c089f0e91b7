// segmentation.sync_key_type(), the trigger on segmentation.tracked_tables:
// the extension's customer keys take the type of the tracked key column.
#include <string>
#include <vector>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/membership/notify.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/tracked_columns.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Objects outside the extension built over its customer_id columns: views,
// rules, triggers, policies (recorded against the column) and columns of its
// tables' row types. Any of them makes retyping the keys fail with
// PostgreSQL's own, less helpful, error.
const char* const kObjectsOverKeys =
    "WITH keyed AS (SELECT c.oid, c.reltype, a.attnum FROM pg_catalog.pg_class c "
    "    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id' "
    "    WHERE c.relnamespace = 'segmentation'::pg_catalog.regnamespace "
    "      AND c.relname IN ('customer_metrics', 'assignments', 'assignment_log', 'overrides', 'cluster_calls', "
    "'notification_outbox')) "
    "SELECT pg_catalog.string_agg(DISTINCT user_object, '; ') FROM ("
    "  SELECT CASE WHEN r.rulename = '_RETURN' "
    "              THEN pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) "
    "              ELSE pg_catalog.pg_describe_object(d.classid, d.objid, 0) END "
    "  FROM pg_catalog.pg_depend d JOIN keyed k ON d.refobjid = k.oid AND d.refobjsubid = k.attnum "
    "  LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = "
    "d.objid "
    "  WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "    AND d.classid NOT IN ('pg_catalog.pg_class'::pg_catalog.regclass, "
    "'pg_catalog.pg_constraint'::pg_catalog.regclass, "
    "                          'pg_catalog.pg_attrdef'::pg_catalog.regclass, "
    "'pg_catalog.pg_statistic_ext'::pg_catalog.regclass) "
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
    "      AND c.relname IN ('customer_metrics', 'assignments', 'assignment_log', 'overrides', 'cluster_calls', "
    "'notification_outbox')), "
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
    "      CASE WHEN c.reloptions IS NOT NULL THEN ' WITH (' || pg_catalog.array_to_string(c.reloptions, ', ') || ')' "
    "ELSE '' END, "
    "      pg_catalog.regexp_replace(pg_catalog.pg_get_viewdef(c.oid), ';\\s*$', ''), "
    "      CASE WHEN c.relkind = 'm' THEN ' WITH NO DATA' ELSE '' END), "
    "    pg_catalog.format('ALTER %s %s OWNER TO %I', x.kind, x.name, pg_catalog.pg_get_userbyid(c.relowner))] "
    "    || ARRAY(SELECT CASE WHEN d.objsubid = 0 THEN pg_catalog.format('COMMENT ON %s %s IS %L', x.kind, x.name, "
    "d.description) "
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
            drops.emplace_back(spi::text_column(row, 1));
            rebuilds.emplace_back(spi::text_column(row, 2));
        }
    });
    for (auto drop = drops.rbegin(); drop != drops.rend(); ++drop) spi::run_once(*drop);
    return rebuilds;
}

// Refuses, with the extension's own error naming them, to retype customer
// keys from `current` to `wanted` while objects of the user's depend on them.
void require_keys_retypable(Oid current, Oid wanted) {
    spi::run_once(kObjectsOverKeys, true);
    const char* objects = pg::call([] { return spi::text_column(0, 1); });
    if (objects != nullptr)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "cannot change customer keys from " + type_name(current) + " to " + type_name(wanted) +
                        ": objects outside the extension use its customer_id columns",
                    std::string("Used by: ") + objects + ".", "Drop them, track the table, then create them again.");
}

}  // namespace

// Trigger on segmentation.tracked_tables: customer keys take the type of the
// tracked key column (bigint for any integer, text for text and varchar,
// uuid). It also runs when pg_restore loads the table, which retypes a
// freshly created extension's key columns before or after their data.
SEGMENTATION_FUNCTION(segmentation_sync_key_type) {
    TriggerData* trigger = trigger_data(fcinfo, "sync_key_type");
    // Every backend drops its cached configuration, this one at once.
    // On a Citus node the trigger fires on the node's placement of the table,
    // while the caches know the table by its own OID: both are invalidated.
    pg::call([&] {
        Oid fired_on = RelationGetRelid(trigger->tg_relation);
        CacheInvalidateRelcacheByRelid(fired_on);
        Oid table = base_catalog().tracked_tables;
        if (OidIsValid(table) && table != fired_on) CacheInvalidateRelcacheByRelid(table);
        CommandCounterIncrement();
    });
    spi::connect();
    // On Citus this runs on every node's placement of tracked_tables: each
    // node retypes its own copy of the extension's tables (citus.hpp).
    RelationScope node(node_relations());
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
                    throw Error(
                        ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "cannot change customer keys from " + type_name(current) + " to " + type,
                        "segmentation.assignment_log still holds the history of " + type_name(current) + " customers.",
                        "Archive and delete that history first, or track tables whose keys have the same type.");
            }
            // A restore may have built the user's views over the keys while
            // they were text: build them again over the retyped keys.
            std::vector<std::string> views;
            if (pg::call([] { return restoring_from_dump(); })) views = drop_views_over_keys();
            require_keys_retypable(current, wanted);
            bool has_overrides = pg::call([] { return OidIsValid(overrides_relation()); });  // 1.1
            bool has_calls = pg::call([] {                                                   // 1.1 (docs/citus.md)
                return OidIsValid(get_relname_relid("cluster_calls", get_namespace_oid("segmentation", false)));
            });
            bool has_outbox = pg::call([] {  // 1.1 (docs/citus.md, notifications)
                return OidIsValid(get_relname_relid("notification_outbox", get_namespace_oid("segmentation", false)));
            });
            for (const char* table : {"customer_metrics", "assignments", "assignment_log", "overrides", "cluster_calls",
                                      "notification_outbox"})
                if ((std::string(table) != "overrides" || has_overrides) &&
                    (std::string(table) != "cluster_calls" || has_calls) &&
                    (std::string(table) != "notification_outbox" || has_outbox))
                    spi::run_once(std::string("ALTER TABLE segmentation.") + table + " ALTER COLUMN customer_id TYPE " +
                                  type + " USING customer_id::text::" + type);
            for (const std::string& view : views) spi::run_once(view);
        }
        // cluster_calls and notification_outbox (1.1, empty between uses)
        // are created with bigint keys while the others start as text: with
        // text keys nothing above retypes them, and Citus cannot co-locate
        // them with the tracked tables.
        for (const char* table : {"cluster_calls", "notification_outbox"}) {
            Oid own_type = pg::call([&] {
                Oid own = get_relname_relid(table, get_namespace_oid("segmentation", false));
                AttrNumber key = OidIsValid(own) ? get_attnum(own, "customer_id") : InvalidAttrNumber;
                return key == InvalidAttrNumber ? InvalidOid : get_atttype(own, key);
            });
            if (OidIsValid(own_type) && own_type != wanted)
                spi::run_once(std::string("ALTER TABLE segmentation.") + table + " ALTER COLUMN customer_id TYPE " +
                              type_name(wanted) + " USING customer_id::text::" + type_name(wanted));
        }
    }
    // (The back-fill of a tracked Citus table is a cluster task: citus.hpp.)
    if (active_relations() != nullptr && source) arrange_node_tables();
    flush_shard_notifications();  // Citus: for the coordinator (notify.hpp)
    spi::finish();
    return PointerGetDatum(nullptr);
}
