#include "glue/membership/segment_cache.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glue/boundary/catalog.hpp"

namespace segmentation::glue {
namespace {

std::shared_ptr<const SegmentSet> compiled;  // null until built, and after invalidation
Oid compiled_for_relation = InvalidOid;

// Which row versions of segments the compiled set was built from. Our
// triggers invalidate it on every change, but triggers do not fire for a
// replica (session_replication_role = replica, disabled triggers), so the
// set is also checked against the table, once per statement.
struct RowVersion {
    ItemPointerData ctid;
    TransactionId xmin;
    bool operator==(const RowVersion& o) const {
        return ItemPointerEquals(const_cast<ItemPointerData*>(&ctid), const_cast<ItemPointerData*>(&o.ctid)) &&
               xmin == o.xmin;
    }
};
std::vector<RowVersion> compiled_from;

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
    bool frozen;           // being deleted online
};

// PG-style: a jsonb datum's text.
SEGMENTATION_PG_CONTEXT char* jsonb_text(Datum value) {
    return JsonbToCString(nullptr, &DatumGetJsonbP(value)->root, VARSIZE_ANY(DatumGetPointer(value)));
}

// The automatic segments' row versions (ids ascending), and with `rows` their
// contents, as the latest snapshot sees them.
std::vector<RowVersion> scan_segments(std::vector<StoredSegment>* rows) {
    std::vector<std::pair<int64, RowVersion>> versions;
    pg::call([&] {
        const Catalog& c = catalog();
        Relation relation = table_open(c.segments, AccessShareLock);
        TupleDesc desc = RelationGetDescr(relation);
        AttrNumber id_column = get_attnum(c.segments, "id");
        AttrNumber name_column = get_attnum(c.segments, "name");
        AttrNumber criteria_column = get_attnum(c.segments, "criteria");
        AttrNumber automatic_column = get_attnum(c.segments, "is_automatic");
        AttrNumber change_column = get_attnum(c.segments, "pending_change");
        AttrNumber pending_criteria_column = get_attnum(c.segments, "pending_criteria");
        Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
        TableScanDesc scan = table_beginscan(relation, snapshot, 0, nullptr);
        HeapTuple tuple;
        while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            bool null;
            Datum automatic = heap_getattr(tuple, automatic_column, desc, &null);
            if (null || !DatumGetBool(automatic)) continue;
            int64 id = DatumGetInt64(heap_getattr(tuple, id_column, desc, &null));
            versions.emplace_back(id, RowVersion{tuple->t_self, HeapTupleHeaderGetRawXmin(tuple->t_data)});
            if (rows == nullptr) continue;
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
            rows->push_back(StoredSegment{id, name, text, strcmp(pending, "deleting") == 0});
        }
        table_endscan(scan);
        UnregisterSnapshot(snapshot);
        table_close(relation, AccessShareLock);
        compiled_for_relation = c.segments;
    });
    std::sort(versions.begin(), versions.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (rows != nullptr)
        std::sort(rows->begin(), rows->end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    std::vector<RowVersion> result;
    for (const auto& v : versions) result.push_back(v.second);
    return result;
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

}  // namespace

std::shared_ptr<const SegmentSet> automatic_segments() {
    lock_definitions(AccessShareLock);
    if (compiled && still_current()) return compiled;
    compiled.reset();
    std::vector<StoredSegment> rows;
    std::vector<RowVersion> versions = scan_segments(&rows);
    auto set = std::make_shared<SegmentSet>();
    for (const StoredSegment& segment : rows) {
        if (segment.frozen) {
            set->freeze(segment.id);
            continue;
        }
        try {
            set->add(segment.id, Matcher(parse_criteria(segment.criteria)));
        } catch (const CriteriaError& e) {
            // Only possible if the table was changed around its CHECK constraint.
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        "segment " + std::to_string(segment.id) + " (\"" + segment.name +
                            "\") has invalid criteria: " + e.what(),
                        "", "Correct or delete the segment; until then no automatic segment can be evaluated.");
        }
    }
    compiled_from = std::move(versions);
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
