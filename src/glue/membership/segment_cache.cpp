#include "glue/membership/segment_cache.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"

extern "C" {
#include "catalog/pg_trigger.h"
#include "common/hashfn.h"
}

namespace segmentation::glue {
namespace {

std::shared_ptr<const SegmentSet> compiled;  // null until built, and after invalidation
Oid compiled_for_relation = InvalidOid;

// Which row versions of segments the compiled set was built from. Our
// triggers invalidate it on every change. The segments_touched triggers fire
// always, replica mode included; while both are there and enabled always,
// the set is trusted as it is (`compiled_watched`) in the scope it was built
// in. Otherwise (a database still at 1.0, triggers disabled, a Citus
// placement without them) it is checked against the table once per statement.
struct RowVersion {
    ItemPointerData ctid;
    TransactionId xmin;
    bool operator==(const RowVersion& o) const {
        return ItemPointerEquals(const_cast<ItemPointerData*>(&ctid), const_cast<ItemPointerData*>(&o.ctid)) &&
               xmin == o.xmin;
    }
};
std::vector<RowVersion> compiled_from;
Oid compiled_watched = InvalidOid;  // the segments relation, when it was watched

// The statement the set was last checked in.
struct Statement {
    LocalTransactionId transaction = InvalidLocalTransactionId;
    TimestampTz start = 0;
    CommandId command = InvalidCommandId;
    bool operator==(const Statement& o) const {
        return transaction == o.transaction && start == o.start && command == o.command;
    }
};
Statement checked_in;

void drop_compiled(Datum, Oid relid) {
    if (relid == InvalidOid || relid == compiled_for_relation) compiled.reset();
}

void drop_compiled_at_abort(XactEvent event, void*) {
    // This transaction may have built the set from its own uncommitted edits.
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) compiled.reset();
}

void lock_definitions(LOCKMODE mode) {
    // An object lock on the extension (sub-id 1, which no DDL uses). Taking it
    // also processes pending invalidations, so a wait for an editor's commit
    // ends with that editor's changes visible to automatic_segments().
    pg::call([mode] { LockDatabaseObject(ExtensionRelationId, catalog().extension, 1, mode); });
}

struct StoredSegment {
    int64 id;
    std::string name;
    std::string criteria;  // jsonb's text: the criteria in force
    bool automatic;
    bool frozen;   // being deleted online
    bool pending;  // an online change of it is in progress
};

// PG-style: whether every change to `relation` (segments) fires our
// segments_touched function whatever session_replication_role says: a row
// trigger for INSERT, UPDATE and DELETE and a TRUNCATE trigger, enabled
// always. Enabling or disabling a trigger invalidates the relation, so the
// answer holds as long as the set compiled with it.
SEGMENTATION_PG_CONTEXT bool changes_always_invalidate(Relation relation) {
    const TriggerDesc* triggers = relation->trigdesc;
    if (triggers == nullptr) return false;
    Oid schema = catalog().schema;
    bool insert = false, update = false, remove = false, truncate = false;
    for (int i = 0; i < triggers->numtriggers; ++i) {
        const Trigger& t = triggers->triggers[i];
        if (t.tgenabled != TRIGGER_FIRES_ALWAYS || get_func_namespace(t.tgfoid) != schema) continue;
        char* function = get_func_name(t.tgfoid);
        if (function == nullptr || strcmp(function, "segments_touched") != 0) continue;
        if (TRIGGER_FOR_ROW(t.tgtype)) {
            insert |= TRIGGER_FOR_INSERT(t.tgtype);
            update |= TRIGGER_FOR_UPDATE(t.tgtype);
            remove |= TRIGGER_FOR_DELETE(t.tgtype);
        } else {
            truncate |= TRIGGER_FOR_TRUNCATE(t.tgtype);
        }
    }
    return insert && update && remove && truncate;
}

// PG-style: a jsonb datum's text.
SEGMENTATION_PG_CONTEXT char* jsonb_text(Datum value) {
    return JsonbToCString(nullptr, &DatumGetJsonbP(value)->root, VARSIZE_ANY(DatumGetPointer(value)));
}

// The segments' row versions (in ctid order), and with `rows` their
// contents (ids ascending) and `watched`, whether every change to the table
// invalidates (changes_always_invalidate), as the latest snapshot sees
// them. Manual segments count too: criteria may refer to them.
std::vector<RowVersion> scan_segments(std::vector<StoredSegment>* rows, bool* watched = nullptr) {
    std::vector<RowVersion> versions;
    pg::call([&] {
        const Catalog& c = catalog();
        Relation relation = table_open(c.segments, AccessShareLock);
        TupleDesc desc = RelationGetDescr(relation);
        AttrNumber id_column = InvalidAttrNumber, name_column = InvalidAttrNumber, criteria_column = InvalidAttrNumber,
                   automatic_column = InvalidAttrNumber, change_column = InvalidAttrNumber,
                   pending_criteria_column = InvalidAttrNumber;
        if (rows != nullptr) {
            id_column = get_attnum(c.segments, "id");
            name_column = get_attnum(c.segments, "name");
            criteria_column = get_attnum(c.segments, "criteria");
            automatic_column = get_attnum(c.segments, "is_automatic");
            change_column = get_attnum(c.segments, "pending_change");
            pending_criteria_column = get_attnum(c.segments, "pending_criteria");
        }
        if (watched != nullptr) *watched = changes_always_invalidate(relation);
        Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
        TableScanDesc scan = table_beginscan(relation, snapshot, 0, nullptr);
        HeapTuple tuple;
        while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            versions.push_back(RowVersion{tuple->t_self, HeapTupleHeaderGetRawXmin(tuple->t_data)});
            if (rows == nullptr) continue;
            bool null;
            Datum automatic_datum = heap_getattr(tuple, automatic_column, desc, &null);
            bool automatic = !null && DatumGetBool(automatic_datum);
            int64 id = DatumGetInt64(heap_getattr(tuple, id_column, desc, &null));
            char* name = TextDatumGetCString(heap_getattr(tuple, name_column, desc, &null));
            // An online change in progress (segmentation.update_segment_concurrently
            // and friends) puts its new criteria in force, or freezes a
            // segment being deleted. A library newer than the installed SQL
            // may find no such columns.
            bool change_null = true;
            Datum change =
                change_column == InvalidAttrNumber ? (Datum)0 : heap_getattr(tuple, change_column, desc, &change_null);
            const char* pending = change_null ? "" : TextDatumGetCString(change);
            Datum criteria = strcmp(pending, "redefining") == 0
                                 ? heap_getattr(tuple, pending_criteria_column, desc, &null)
                                 : heap_getattr(tuple, criteria_column, desc, &null);
            char* text = null ? pstrdup("{}") : jsonb_text(criteria);
            rows->push_back(
                StoredSegment{id, name, text, automatic, strcmp(pending, "deleting") == 0, pending[0] != '\0'});
        }
        table_endscan(scan);
        UnregisterSnapshot(snapshot);
        table_close(relation, AccessShareLock);
        compiled_for_relation = c.segments;
    });
    // A scan may start mid-table (synchronized scans): the order is the ctids'.
    std::sort(versions.begin(), versions.end(), [](const RowVersion& a, const RowVersion& b) {
        BlockNumber a_block = ItemPointerGetBlockNumberNoCheck(&a.ctid);
        BlockNumber b_block = ItemPointerGetBlockNumberNoCheck(&b.ctid);
        if (a_block != b_block) return a_block < b_block;
        return ItemPointerGetOffsetNumberNoCheck(&a.ctid) < ItemPointerGetOffsetNumberNoCheck(&b.ctid);
    });
    if (rows != nullptr)
        std::sort(rows->begin(), rows->end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return versions;
}

// A number for the definitions these row versions hold: any change to a
// segment makes a new row version (another ctid or xmin), so the number
// changes with every change, committed or not, and is the same in every
// session that sees the same rows.
int64 definitions_version(const std::vector<RowVersion>& versions) {
    std::vector<uint32> words;
    words.reserve(versions.size() * 3);
    for (const RowVersion& v : versions) {
        words.push_back(ItemPointerGetBlockNumberNoCheck(&v.ctid));
        words.push_back(ItemPointerGetOffsetNumberNoCheck(&v.ctid));
        words.push_back(v.xmin);
    }
    return pg::call([&] {
        return static_cast<int64>(hash_bytes_extended(reinterpret_cast<const unsigned char*>(words.data()),
                                                      static_cast<int>(words.size() * sizeof(uint32)), 0));
    });
}

Statement current_statement() {
    return pg::call([] {
        return Statement{compat::my_local_transaction_id(), GetCurrentStatementStartTimestamp(),
                         GetCurrentCommandId(false)};
    });
}

// False when segments changed without our trigger telling (checked once per
// statement, and again after this transaction's own writes).
bool still_current() {
    Statement now = current_statement();
    if (now == checked_in) return true;
    if (scan_segments(nullptr) != compiled_from) return false;
    checked_in = now;
    return true;
}

std::string segment_label(const StoredSegment& segment) {
    return std::to_string(segment.id) + " (\"" + segment.name + "\")";
}

const StoredSegment* find_stored(const std::vector<StoredSegment>& rows, int64 id) {
    auto it = std::lower_bound(rows.begin(), rows.end(), id, [](const StoredSegment& s, int64 v) { return s.id < v; });
    return it != rows.end() && it->id == id ? &*it : nullptr;
}

Criteria stored_criteria(const StoredSegment& segment) {
    try {
        return parse_criteria(segment.criteria);
    } catch (const CriteriaError& e) {
        // Only possible if the table was changed around its CHECK constraint.
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    "segment " + segment_label(segment) + " has invalid criteria: " + e.what(), "",
                    "Correct or delete the segment; until then no automatic segment can be evaluated.");
    }
}

// ---- references between segments (inSegment, notInSegment) -------------------

// 42704 when an automatic segment refers to a segment that does not exist.
void check_references_exist(const StoredSegment& segment, const Criteria& criteria,
                            const std::vector<StoredSegment>& rows) {
    for (int64 referenced : referenced_segments(criteria))
        if (find_stored(rows, referenced) == nullptr)
            throw Error(ERRCODE_UNDEFINED_OBJECT,
                        "segment " + segment_label(segment) + ": " + reference_path(criteria, referenced) +
                            " refers to segment " + std::to_string(referenced) + ", which does not exist",
                        "", "inSegment and notInSegment name existing segments by id.");
}

// 22023 naming the cycle: segment 3 ("A") -> 5 ("B") -> 3 ("A").
[[noreturn]] void refuse_cycle(const ReferenceCycle& cycle, const std::vector<StoredSegment>& rows) {
    std::string path;
    for (int64 id : cycle.cycle()) {
        if (!path.empty()) path += " -> ";
        const StoredSegment* segment = find_stored(rows, id);
        path += segment != nullptr ? segment_label(*segment) : std::to_string(id);
    }
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "segment criteria refer to each other in a cycle: " + path,
                "Each segment is evaluated after the segments its inSegment and notInSegment name.",
                "Remove one of these references.");
}

// Whether segmentation.overrides has any row (the latest snapshot). Where
// Citus is installed, always: the overrides may be in shards this table
// does not show (docs/citus.md), and reading them costs an index lookup.
bool any_override() {
    return pg::call([] {
        Oid overrides = overrides_relation();
        if (!OidIsValid(overrides)) return false;
        if (citus_present()) return true;
        Relation relation = table_open(overrides, AccessShareLock);
        Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
        TableScanDesc scan = table_beginscan(relation, snapshot, 0, nullptr);
        bool found = heap_getnext(scan, ForwardScanDirection) != nullptr;
        table_endscan(scan);
        UnregisterSnapshot(snapshot);
        table_close(relation, AccessShareLock);
        return found;
    });
}

}  // namespace

bool segment_exists(int64 id) {
    static const spi::Statement kSegmentExists = {"SELECT 1 FROM segmentation.segments WHERE id = $1", 1, {INT8OID}};
    return spi::run(kSegmentExists, {Int64GetDatum(id)}, nullptr, true) > 0;
}

std::vector<std::string> segments_referring_to(const std::vector<int64>& segments, int64& referenced) {
    std::vector<StoredSegment> rows;
    scan_segments(&rows);
    std::vector<std::string> found;
    for (int64 target : segments) {
        for (const StoredSegment& segment : rows) {
            if (!segment.automatic) continue;
            std::vector<int64> references = referenced_segments(stored_criteria(segment));
            if (std::binary_search(references.begin(), references.end(), target))
                found.push_back(segment_label(segment));
        }
        if (!found.empty()) {
            referenced = target;
            return found;
        }
    }
    return found;
}

std::shared_ptr<const SegmentSet> automatic_segments() {
    lock_definitions(AccessShareLock);
    // On a Citus node outside any scope (the coordinator's API functions,
    // a function pushed down to a worker), segments is read in the node's
    // placement of the reference table: its own copy, the shell table, is
    // empty or stale (docs/citus.md).
    RelationSetPtr node;
    if (active_relations() == nullptr && pg::call([] { return citus_present(); })) {
        spi::connect();
        node = node_relations();
        spi::finish();
    }
    RelationScope scope(node);
    if (compiled && (compiled_watched == pg::call([] { return catalog().segments; }) || still_current()))
        return compiled;
    compiled.reset();
    std::vector<StoredSegment> rows;
    bool watched = false;
    std::vector<RowVersion> versions = scan_segments(&rows, &watched);
    auto set = std::make_shared<SegmentSet>();
    for (const StoredSegment& segment : rows) {
        if (!segment.automatic) continue;
        if (segment.frozen) {
            set->freeze(segment.id);
            continue;
        }
        Criteria criteria = stored_criteria(segment);
        check_references_exist(segment, criteria, rows);
        set->add(segment.id, Matcher(criteria));
    }
    try {
        set->order_by_references();
    } catch (const ReferenceCycle& cycle) {
        refuse_cycle(cycle, rows);
    }
    set->set_has_overrides(any_override());
    bool settled = std::none_of(rows.begin(), rows.end(), [](const StoredSegment& s) { return s.pending; });
    set->set_version(definitions_version(versions), settled);
    compiled_from = std::move(versions);
    compiled_watched = watched ? pg::call([] { return catalog().segments; }) : InvalidOid;
    checked_in = current_statement();
    compiled = std::move(set);
    return compiled;
}

void lock_definitions_shared() { lock_definitions(AccessShareLock); }

void lock_definitions_exclusively() { lock_definitions(AccessExclusiveLock); }

void register_segment_cache_callbacks() {
    CacheRegisterRelcacheCallback(drop_compiled, (Datum)0);
    RegisterXactCallback(drop_compiled_at_abort, nullptr);
}

}  // namespace segmentation::glue
