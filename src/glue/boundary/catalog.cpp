#include "glue/boundary/catalog.hpp"

#include "glue/boundary/placements.hpp"

extern "C" {
#include "catalog/dependency.h"
}

namespace segmentation::glue {
namespace {

Catalog cached;
bool cached_valid = false;
uint64 generation = 1;

SEGMENTATION_PG_CONTEXT Oid relation_in_schema(const char* name, Oid schema) {
    Oid relid = get_relname_relid(name, schema);
    if (!OidIsValid(relid))
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation segmentation.%s is missing", name),
                 errhint("Reinstall the extension: DROP EXTENSION segmentation; CREATE EXTENSION segmentation.")));
    return relid;
}

// Only the key type can change while the extension exists (ALTER TABLE of
// customer_metrics); dropping the extension invalidates customer_metrics too.
void forget(Datum, Oid relid) {
    // Citus invalidates a table's relcache when it becomes a Citus table.
    bool ours = cached_valid &&
                (relid == cached.segments || relid == cached.tracked_tables || relid == cached.customer_metrics ||
                 relid == cached.assignments || relid == cached.assignment_log);
    forget_placements(ours ? InvalidOid : relid);
    if (!cached_valid) return;
    if (relid == InvalidOid || relid == cached.customer_metrics) {
        cached_valid = false;
        ++generation;
    }
}

}  // namespace

const Catalog& catalog() {
    const RelationSet* local = active_relations();
    return local != nullptr ? localized_catalog(*local) : base_catalog();
}

const Catalog& base_catalog() {
    if (cached_valid) return cached;
    Catalog c{};
    c.extension = get_extension_oid("segmentation", true);
    if (!OidIsValid(c.extension))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("extension \"segmentation\" is not installed in this database"),
                        errhint("Run CREATE EXTENSION segmentation.")));
    c.schema = get_namespace_oid("segmentation", false);  // fixed by the control file
    c.segments = relation_in_schema("segments", c.schema);
    c.assignments = relation_in_schema("assignments", c.schema);
    c.assignment_log = relation_in_schema("assignment_log", c.schema);
    c.customer_metrics = relation_in_schema("customer_metrics", c.schema);
    c.tracked_tables = relation_in_schema("tracked_tables", c.schema);
    c.assignment_log_sequence =
        compat::getIdentitySequence(c.assignment_log, get_attnum(c.assignment_log, "id"), false);
    AttrNumber key_column = get_attnum(c.customer_metrics, "customer_id");
    if (key_column == InvalidAttrNumber)
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("segmentation.customer_metrics has no customer_id column")));
    get_atttypetypmodcoll(c.customer_metrics, key_column, &c.key_type, &c.key_typmod, &c.key_collation);
    c.key_array_type = get_array_type(c.key_type);
    get_typlenbyval(c.key_type, &c.key_length, &c.key_by_value);
    c.has_attributes = get_attnum(c.customer_metrics, "attributes") != InvalidAttrNumber;
    c.online_changes = get_attnum(c.segments, "pending_change") != InvalidAttrNumber;
    c.remembers_membership = get_attnum(c.customer_metrics, "automatic_segments") != InvalidAttrNumber;
    cached = c;
    cached_valid = true;
    return cached;
}

Oid overrides_relation() { return get_relname_relid("overrides", catalog().schema); }

bool restoring_from_dump() {
    return !check_function_bodies && compat::pg_class_ownercheck(catalog().segments, GetOuterUserId());
}

Oid catalog_relation_of_tracking() { return cached_valid ? cached.tracked_tables : InvalidOid; }

void register_catalog_callbacks() { CacheRegisterRelcacheCallback(forget, (Datum)0); }

uint64 catalog_generation() { return generation; }

}  // namespace segmentation::glue
