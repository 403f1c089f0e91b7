// Triggers on segmentation.segments: a new automatic segment is populated,
// an edited one re-evaluated (its own membership and that of the segments
// whose criteria refer to it, inSegment / notInSegment), a deleted one takes
// its assignments and overrides with it; all in the editing transaction.
// Manual assignments are never touched by criteria, only by deletion of
// their segment. References are checked here, for every way of writing the
// table: they must name existing segments and make no cycle, and a segment
// others refer to cannot be deleted.
#include <algorithm>
#include <string>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/results.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/segments/actor.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Automatic segments whose criteria are new or changed in this statement.
// An online change (pending_change) populates its segment in steps of its
// own, and its completion, which stores the criteria already applied,
// re-evaluates nothing. (A database still at 1.0 has no online changes.)
const char* const kRedefinedInserted = "SELECT id FROM segmentation_new WHERE is_automatic ORDER BY id";
const char* const kRedefinedInsertedNow =
    "SELECT id FROM segmentation_new WHERE is_automatic AND pending_change IS NULL ORDER BY id";
const char* const kRedefinedUpdated =
    "SELECT n.id FROM segmentation_new n JOIN segmentation_old o ON o.id = n.id "
    "WHERE n.is_automatic AND n.criteria IS DISTINCT FROM o.criteria ORDER BY n.id";
const char* const kRedefinedUpdatedNow =
    "SELECT n.id FROM segmentation_new n JOIN segmentation_old o ON o.id = n.id "
    "WHERE n.is_automatic AND n.criteria IS DISTINCT FROM o.criteria "
    "  AND NOT (o.pending_change IS NOT DISTINCT FROM 'redefining' AND n.pending_change IS NULL "
    "           AND n.criteria = o.pending_criteria) "
    "ORDER BY n.id";

const char* const kDeletionsStarting =
    "SELECT n.id FROM segmentation_new n JOIN segmentation_old o ON o.id = n.id "
    "WHERE n.pending_change = 'deleting' AND o.pending_change IS DISTINCT FROM 'deleting' ORDER BY n.id";

const spi::Statement kForgetSegments = {
    "WITH dropped AS (DELETE FROM segmentation.assignments WHERE segment_id = ANY($1) "
    "                 RETURNING customer_id, segment_id, is_automatic) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor) "
    "SELECT customer_id, segment_id, 'removed', is_automatic, 'definition', $2 FROM dropped "
    "RETURNING customer_id, segment_id",
    2,
    {INT8ARRAYOID, TEXTOID}};

std::vector<int64> ids_from_results(uint64 rows) {
    std::vector<int64> ids(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) ids[row] = spi::int64_column(row, 1);
    });
    return ids;
}

// 2BP01 when segments that remain refer to deleted ones.
void refuse_deleting_referenced(const std::vector<int64>& deleted) {
    if (deleted.empty()) return;
    int64 referenced = 0;
    std::vector<std::string> referrers = segments_referring_to(deleted, referenced);
    if (referrers.empty()) return;
    std::string names;
    for (std::size_t i = 0; i < referrers.size(); ++i) names += (i == 0 ? "" : ", ") + referrers[i];
    // The deleted segment's name, from the statement's transition table (an integer in the text: no quoting).
    std::string name;
    if (spi::run_once("SELECT name FROM segmentation_old WHERE id = " + std::to_string(referenced), true) > 0)
        name = pg::call([] { return spi::text_column(0, 1); });
    throw Error(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                "cannot delete segment " + std::to_string(referenced) + " (\"" + name + "\"): the criteria of segment" +
                    (referrers.size() > 1 ? "s " : " ") + names + " refer to it",
                "", "Remove the inSegment/notInSegment references first, or delete those segments too.");
}

const spi::Statement kForgetOverrides = {
    "DELETE FROM segmentation.overrides WHERE segment_id = ANY($1)", 1, {INT8ARRAYOID}};

void forget_segments(const std::vector<int64>& segments) {
    if (segments.empty()) return;
    if (pg::call([] { return OidIsValid(overrides_relation()); })) spi::run(kForgetOverrides, {int64_array(segments)});
    // Whoever deletes a segment removes its members: the log names them.
    uint64 rows = spi::run(kForgetSegments, {int64_array(segments), actor()});
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

// PG-style: a column of the old and the new row.
struct ColumnPair {
    Datum before, after;
    bool before_null, after_null;
};

SEGMENTATION_PG_CONTEXT ColumnPair column_pair(TriggerData* trigger, TupleDesc desc, const char* name) {
    int column = SPI_fnumber(desc, name);
    ColumnPair p;
    p.before = SPI_getbinval(trigger->tg_trigtuple, desc, column, &p.before_null);
    p.after = SPI_getbinval(trigger->tg_newtuple, desc, column, &p.after_null);
    return p;
}

SEGMENTATION_PG_CONTEXT bool same_jsonb(Datum a, bool a_null, Datum b, bool b_null) {
    if (a_null || b_null) return a_null == b_null;
    return DatumGetBool(DirectFunctionCall2(jsonb_eq, a, b));
}

SEGMENTATION_PG_CONTEXT const char* text_or_empty(Datum value, bool null) {
    return null ? "" : TextDatumGetCString(value);
}

// PG-style: an online change in progress is driven by its procedure alone
// (README "Changing segments online"). Allowed: editing the name or
// description meanwhile; starting a change ('redefining' with its criteria,
// or 'deleting') without touching the criteria; completing one (creating:
// the criteria kept; redefining: the pending criteria stored as the
// criteria). Anything else is refused, so no edit is lost half-applied.
SEGMENTATION_PG_CONTEXT void check_pending_change(TriggerData* trigger, TupleDesc desc, int64 id) {
    ColumnPair change = column_pair(trigger, desc, "pending_change");
    ColumnPair criteria = column_pair(trigger, desc, "criteria");
    ColumnPair pending = column_pair(trigger, desc, "pending_criteria");
    // C strings: this frame may end in ereport, which skips destructors.
    const char* before = text_or_empty(change.before, change.before_null);
    const char* after = text_or_empty(change.after, change.after_null);
    bool criteria_kept = same_jsonb(criteria.before, criteria.before_null, criteria.after, criteria.after_null);
    bool pending_kept = same_jsonb(pending.before, pending.before_null, pending.after, pending.after_null);
    bool allowed;
    if (before[0] == '\0')
        allowed = after[0] == '\0' || (strcmp(after, "creating") != 0 && criteria_kept);
    else if (strcmp(after, before) == 0)
        allowed = criteria_kept && pending_kept;
    else if (after[0] == '\0')
        allowed = (strcmp(before, "creating") == 0 && criteria_kept) ||
                  (strcmp(before, "redefining") == 0 &&
                   same_jsonb(pending.before, pending.before_null, criteria.after, criteria.after_null));
    else
        allowed = false;
    if (allowed) return;
    if (before[0] == '\0')
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("segment %lld cannot start an online change this way", static_cast<long long>(id)),
                        errhint("Use segmentation.update_segment_concurrently or "
                                "segmentation.delete_segment_concurrently.")));
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("segment %lld has an online change in progress (%s)", static_cast<long long>(id), before),
             errhint("CALL segmentation.finish_segment_change(%lld) completes it.", static_cast<long long>(id))));
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
        if (catalog().online_changes) check_pending_change(trigger, desc, old_id);
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
    std::vector<int64> redefined, deleted;
    bool online = pg::call([] { return catalog().online_changes; });
    // Completing online deletions (every deleted segment frozen since its
    // change was put in force, README "Changing segments online") changes
    // no evaluation: frozen segments are never evaluated, no criteria may
    // refer to them (refused below, as when the change started), and no
    // evaluator writes their rows. So it takes the definitions lock shared,
    // and order writes go on while it removes what the steps left, walking
    // the index entries of every row the steps removed (not yet vacuumed:
    // inserts waited 332 and 657 ms for it at 1,000,000 customers with the
    // lock exclusive, test/bench/RESULTS.md, run D). Anything else changes
    // what evaluators compute and takes the lock exclusively.
    bool completing_deletions =
        online && TRIGGER_FIRED_BY_DELETE(event) &&
        spi::run_once("SELECT 1 FROM segmentation_old WHERE pending_change IS DISTINCT FROM 'deleting' LIMIT 1",
                      true) == 0;
    if (completing_deletions)
        lock_definitions_shared();
    else
        lock_definitions_exclusively();
    if (TRIGGER_FIRED_BY_INSERT(event))
        redefined = ids_from_results(spi::run_once(online ? kRedefinedInsertedNow : kRedefinedInserted, true));
    else if (TRIGGER_FIRED_BY_UPDATE(event)) {
        redefined = ids_from_results(spi::run_once(online ? kRedefinedUpdatedNow : kRedefinedUpdated, true));
        // An online deletion starting is refused as the DELETE it ends with would be.
        if (online) refuse_deleting_referenced(ids_from_results(spi::run_once(kDeletionsStarting, true)));
    } else if (TRIGGER_FIRED_BY_DELETE(event)) {
        deleted = ids_from_results(spi::run_once("SELECT id FROM segmentation_old ORDER BY id", true));
        refuse_deleting_referenced(deleted);
    }
    // Compiling the segments checks every reference (42704, and 22023 for a cycle).
    std::shared_ptr<const SegmentSet> segments =
        TRIGGER_FIRED_BY_INSERT(event) || TRIGGER_FIRED_BY_UPDATE(event) ? automatic_segments() : nullptr;
    // The segments whose criteria refer to a redefined one change with it.
    Scope scope = redefined.empty() ? Scope{} : scope_with_dependents(*segments, redefined);
    // The assignments to forget and the customers to evaluate, on one
    // server, or on each of this node's shard groups on Citus.
    auto work = [&] {
        if (TRIGGER_FIRED_BY_TRUNCATE(event)) {
            // (On Citus, the overrides of this shard group.)
            if (pg::call([] { return OidIsValid(overrides_relation()); }))
                spi::run_once("DELETE FROM segmentation.overrides", false);
            deleted = ids_from_results(spi::run_once("SELECT DISTINCT segment_id FROM segmentation.assignments", true));
        }
        forget_segments(deleted);
        if (!redefined.empty()) {
            TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
            // The definitions lock, held exclusively, keeps every other
            // writer out: what the scan finds is written at once.
            refresh_customers(now, Cause::Definition, scope, true);
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
    flush_shard_notifications();  // Citus: for the coordinator (notify.hpp)
    spi::finish();
    return PointerGetDatum(nullptr);
}

// AFTER INSERT/UPDATE/DELETE ... FOR EACH ROW and AFTER TRUNCATE ... FOR EACH
// STATEMENT on segments, ENABLE ALWAYS: drops every backend's compiled
// segments even when the triggers above do not fire (replica mode), which
// lets orders trust their compiled set without looking at segments
// (segment_cache.cpp).
SEGMENTATION_FUNCTION(segmentation_segments_touched) {
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "segments_touched must run as a trigger");
    pg::call([&] { CacheInvalidateRelcache(trigger->tg_relation); });
    return PointerGetDatum(nullptr);
}
