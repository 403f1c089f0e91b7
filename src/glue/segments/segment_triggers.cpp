// Triggers on segmentation.segments: a new automatic segment is populated,
// an edited one re-evaluated (its own membership only), a deleted one takes
// its assignments with it; all in the editing transaction. Manual
// assignments are never touched by criteria, only by deletion of their
// segment.
#include <algorithm>
#include <string>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/results.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Automatic segments whose criteria are new or changed in this statement.
const char* const kRedefinedInserted = "SELECT id FROM segmentation_new WHERE is_automatic ORDER BY id";
const char* const kRedefinedUpdated =
    "SELECT n.id FROM segmentation_new n JOIN segmentation_old o ON o.id = n.id "
    "WHERE n.is_automatic AND n.criteria IS DISTINCT FROM o.criteria ORDER BY n.id";

const spi::Statement kForgetSegments = {
    "WITH dropped AS (DELETE FROM segmentation.assignments WHERE segment_id = ANY($1) "
    "                 RETURNING customer_id, segment_id, is_automatic) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause) "
    "SELECT customer_id, segment_id, 'removed', is_automatic, 'definition' FROM dropped "
    "RETURNING customer_id, segment_id",
    1,
    {INT8ARRAYOID}};

std::vector<int64> ids_from_results(uint64 rows) {
    std::vector<int64> ids(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) ids[row] = spi::int64_column(row, 1);
    });
    return ids;
}

void forget_segments(const std::vector<int64>& segments) {
    if (segments.empty()) return;
    uint64 rows = spi::run(kForgetSegments, {int64_array(segments)});
    std::vector<Datum> customers(rows);
    std::vector<int64> ids(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            customers[row] = spi::column(row, 1);
            ids[row] = spi::int64_column(row, 2);
        }
    });
    for (uint64 row = 0; row < rows; ++row) remember_change(customers[row], ids[row], false);
}

}  // namespace

// BEFORE UPDATE ... FOR EACH ROW on segments: stamps updated_at and keeps
// a segment automatic or manual for life.
SEGMENTATION_FUNCTION(segmentation_segments_before_update) {
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "segments_before_update must run as an UPDATE trigger");
    return pg::call([&] {
        TupleDesc desc = RelationGetDescr(trigger->tg_relation);
        int automatic = SPI_fnumber(desc, "is_automatic");
        int updated_at = SPI_fnumber(desc, "updated_at");
        int id = SPI_fnumber(desc, "id");
        bool old_null, new_null, null;
        bool was = DatumGetBool(SPI_getbinval(trigger->tg_trigtuple, desc, automatic, &old_null));
        bool is = DatumGetBool(SPI_getbinval(trigger->tg_newtuple, desc, automatic, &new_null));
        int64 old_id = DatumGetInt64(SPI_getbinval(trigger->tg_trigtuple, desc, id, &null));
        int64 new_id = DatumGetInt64(SPI_getbinval(trigger->tg_newtuple, desc, id, &null));
        if (old_id != new_id)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("segment %lld cannot change its id", static_cast<long long>(old_id)),
                            errdetail("Assignments and history refer to segments by id.")));
        if (!old_null && !new_null && was != is)
            ereport(
                ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("segment %lld cannot change from %s to %s",
                        static_cast<long long>(DatumGetInt64(SPI_getbinval(trigger->tg_trigtuple, desc, id, &null))),
                        was ? "automatic" : "manual", is ? "automatic" : "manual"),
                 errhint("Create a new segment instead.")));
        int columns[1] = {updated_at};
        Datum values[1] = {TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
        bool nulls[1] = {false};
        return PointerGetDatum(heap_modify_tuple_by_cols(trigger->tg_newtuple, desc, 1, columns, values, nulls));
    });
}

// AFTER INSERT/UPDATE/DELETE/TRUNCATE ... FOR EACH STATEMENT on segments.
SEGMENTATION_FUNCTION(segmentation_segments_changed) {
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "segments_changed must run as a trigger");
    TriggerEvent event = trigger->tg_event;
    // Every backend drops its compiled segments: this one at once (the
    // command counter increment processes our own invalidation, and makes
    // the statement's rows visible to the rebuild), others at our commit.
    pg::call([&] {
        CacheInvalidateRelcacheByRelid(RelationGetRelid(trigger->tg_relation));
        CommandCounterIncrement();
    });
    // A restore brings segments with their assignments: no population.
    if (TRIGGER_FIRED_BY_INSERT(event) && pg::call([] { return restoring_from_dump(); }))
        return PointerGetDatum(nullptr);

    spi::connect();
    pg::call([&] { SPI_register_trigger_data(trigger); });
    // On Citus this runs on every node's placement of segments (a reference
    // table): the node locks its definitions and works on its own shards.
    RelationScope node(node_relations());
    lock_tracked_tables(read_tracking());  // the lock order: tables, definitions, customers
    lock_definitions_exclusively();
    std::vector<int64> redefined, deleted;
    if (TRIGGER_FIRED_BY_INSERT(event))
        redefined = ids_from_results(spi::run_once(kRedefinedInserted, true));
    else if (TRIGGER_FIRED_BY_UPDATE(event))
        redefined = ids_from_results(spi::run_once(kRedefinedUpdated, true));
    else if (TRIGGER_FIRED_BY_DELETE(event))
        deleted = ids_from_results(spi::run_once("SELECT id FROM segmentation_old ORDER BY id", true));
    auto work = [&] {
        if (TRIGGER_FIRED_BY_TRUNCATE(event))
            deleted = ids_from_results(spi::run_once("SELECT DISTINCT segment_id FROM segmentation.assignments", true));
        forget_segments(deleted);
        if (!redefined.empty()) {
            Scope scope;
            scope.segments = redefined;
            TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
            refresh_customers(now, Cause::Definition, scope);
        }
    };
    if (active_relations() == nullptr) {
        work();
    } else {
        for (const RelationSetPtr& group : local_shard_groups()) {
            RelationScope shard(group);
            work();
        }
    }
    spi::finish();
    return PointerGetDatum(nullptr);
}
