// Where the extension's own objects are, and what type customer keys have.
// PG-style: call these inside pg::call.
#pragma once

#include "glue/boundary/postgres.hpp"

namespace segmentation::glue {

struct Catalog {
    Oid extension;
    Oid schema;
    Oid segments;
    Oid assignments;
    Oid assignment_log;
    Oid customer_metrics;
    Oid tracked_tables;
    Oid assignment_log_sequence;  // of assignment_log.id
    // Customer keys are stored with the type of the tracked key column (text
    // until something is tracked); this is customer_metrics.customer_id's.
    Oid key_type;
    int32 key_typmod;
    Oid key_collation;
    Oid key_array_type;
    int16 key_length;
    bool key_by_value;
    // Whether customer_metrics has the attributes column (1.1 on): the
    // library also runs a database still at 1.0 until it is updated.
    bool has_attributes;
    // segments has the columns of online changes (pending_change): false in
    // a database still at 1.0, which runs this library until it is updated.
    bool online_changes;
    // customer_metrics has the customer's remembered automatic segments
    // (automatic_segments, segments_version): false in a database still at
    // 1.0, and then orders read the assignments instead.
    bool remembers_membership;
};

// The current catalog, looked up once and again after any change to the
// extension's relations (a relcache invalidation). On a Citus node, while a
// RelationScope is active (placements.hpp), the relations are the local
// shards of that scope; base_catalog() is the catalog without it.
SEGMENTATION_PG_CONTEXT const Catalog& catalog();
SEGMENTATION_PG_CONTEXT const Catalog& base_catalog();

// segmentation.overrides (1.1), or InvalidOid in a database still at 1.0
// (it runs this library until ALTER EXTENSION UPDATE). Looked up each time:
// a syscache lookup.
SEGMENTATION_PG_CONTEXT Oid overrides_relation();

// The OID of segmentation.tracked_tables, or InvalidOid when the extension
// is not installed (for invalidation callbacks, which must not fail).
Oid catalog_relation_of_tracking();

// Registers the invalidation callbacks; called once from _PG_init.
SEGMENTATION_PG_CONTEXT void register_catalog_callbacks();

// True while pg_restore or a plain dump's script is loading data: both turn
// check_function_bodies off, which nothing else in normal use does, and run
// as the owner of the extension's tables (only the owner can load them).
// Rows restored into the extension's tables arrive with everything derived
// from them, so triggers must not derive it again. Anyone can turn the
// setting off, so it counts only for the owner.
SEGMENTATION_PG_CONTEXT bool restoring_from_dump();

// Bumped whenever cached catalog facts are dropped; caches derived from the
// catalog (prepared statements) compare it to know they must be rebuilt.
uint64 catalog_generation();

}  // namespace segmentation::glue
