// The executor side of the order path (metrics_writer.hpp): set up as
// logical replication's apply worker sets up its own.
#include "glue/tracking/metrics_writer.hpp"

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/results.hpp"

extern "C" {
#include "access/genam.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
}

namespace segmentation::glue {
namespace {

SEGMENTATION_PG_CONTEXT ResultRelInfo* result_relation(Writer& w, Oid relid, Index index) {
    Relation relation = table_open(relid, RowExclusiveLock);
    ResultRelInfo* info = makeNode(ResultRelInfo);
    InitResultRelInfo(info, relation, index, nullptr, 0);
    w.estate->es_opened_result_relations = lappend(w.estate->es_opened_result_relations, info);
    ExecOpenIndices(info, false);
    return info;
}

SEGMENTATION_PG_CONTEXT RangeTblEntry* range_entry(Oid relid) {
    RangeTblEntry* rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = relid;
    rte->relkind = RELKIND_RELATION;
    rte->rellockmode = RowExclusiveLock;
    return rte;
}

// PG-style: opens assignments, when first needed.
SEGMENTATION_PG_CONTEXT void need_assignments(Writer& w) {
    if (w.assignments != nullptr) return;
    const Catalog& c = catalog();
    w.assignments = result_relation(w, c.assignments, 2);
    Relation assignments = w.assignments->ri_RelationDesc;
    w.assignment_search = ExecInitExtraTupleSlot(w.estate, RelationGetDescr(assignments), &TTSOpsVirtual);
    w.assignment_found = table_slot_create(assignments, &w.estate->es_tupleTable);
    w.assignment_new = ExecInitExtraTupleSlot(w.estate, RelationGetDescr(assignments), &TTSOpsVirtual);
    w.assignments_key_oid = compat::RelationGetPrimaryKeyIndex(assignments);
    w.assignments_key = index_open(w.assignments_key_oid, AccessShareLock);
    w.assignment_columns = {get_attnum(c.assignments, "customer_id"), get_attnum(c.assignments, "segment_id"),
                            get_attnum(c.assignments, "is_automatic"), get_attnum(c.assignments, "assigned_at")};
    Oid type = w.assignments_key->rd_opcintype[0];
    Oid equality = get_opfamily_member(w.assignments_key->rd_opfamily[0], type, type, BTEqualStrategyNumber);
    ScanKeyInit(&w.assignments_scan_key, 1, BTEqualStrategyNumber, get_opcode(equality), (Datum)0);
    w.assignments_scan_key.sk_collation = w.assignments_key->rd_indcollation[0];
}

// PG-style: opens assignment_log, when first needed.
SEGMENTATION_PG_CONTEXT void need_log(Writer& w) {
    if (w.log != nullptr) return;
    const Catalog& c = catalog();
    w.log = result_relation(w, c.assignment_log, 3);
    w.log_new = ExecInitExtraTupleSlot(w.estate, RelationGetDescr(w.log->ri_RelationDesc), &TTSOpsVirtual);
    w.log_columns = {get_attnum(c.assignment_log, "id"),           get_attnum(c.assignment_log, "customer_id"),
                     get_attnum(c.assignment_log, "segment_id"),   get_attnum(c.assignment_log, "action"),
                     get_attnum(c.assignment_log, "is_automatic"), get_attnum(c.assignment_log, "cause"),
                     get_attnum(c.assignment_log, "logged_at")};
    w.cause = CStringGetTextDatum("order");
}

// PG-style: a virtual tuple of `slot`'s table, all NULL but for `values`.
SEGMENTATION_PG_CONTEXT void fill(TupleTableSlot* slot, std::initializer_list<std::pair<AttrNumber, Datum>> values) {
    ExecClearTuple(slot);
    for (int i = 0; i < slot->tts_tupleDescriptor->natts; ++i) slot->tts_isnull[i] = true;
    for (const auto& [column, value] : values) {
        slot->tts_values[column - 1] = value;
        slot->tts_isnull[column - 1] = false;
    }
    ExecStoreVirtualTuple(slot);
}

}  // namespace

// PG-style.
SEGMENTATION_PG_CONTEXT void open_writer(Writer& w, const MetricsColumns& columns) {
    const Catalog& c = catalog();
    w.estate = CreateExecutorState();
    compat::ExecInitRangeTable(w.estate, list_make3(range_entry(c.customer_metrics), range_entry(c.assignments),
                                                    range_entry(c.assignment_log)));
    // A statement with two writes to the orders table (a CTE) fires two of
    // our triggers with no command boundary between them: start a new
    // command, so the rows the first one wrote are visible to this one, and
    // lockable (a row written by the current command is not).
    CommandCounterIncrement();
    w.estate->es_output_cid = GetCurrentCommandId(true);
    AfterTriggerBeginQuery();
    w.metrics = result_relation(w, c.customer_metrics, 1);
    compat::EvalPlanQualInit(&w.epq, w.estate, nullptr, NIL, -1);

    Relation metrics = w.metrics->ri_RelationDesc;
    w.metrics_key = compat::RelationGetPrimaryKeyIndex(metrics);
    w.search = ExecInitExtraTupleSlot(w.estate, RelationGetDescr(metrics), &TTSOpsVirtual);
    w.current = table_slot_create(metrics, &w.estate->es_tupleTable);
    w.updated = ExecInitExtraTupleSlot(w.estate, RelationGetDescr(metrics), &TTSOpsVirtual);

    w.columns = columns;
    w.now = GetCurrentTransactionStartTimestamp();
}

// PG-style.
SEGMENTATION_PG_CONTEXT void close_writer(Writer& w) {
    if (w.assignments != nullptr) index_close(w.assignments_key, NoLock);
    EvalPlanQualEnd(&w.epq);
    for (ResultRelInfo* info : {w.metrics, w.assignments, w.log})
        if (info != nullptr) ExecCloseIndices(info);
    AfterTriggerEndQuery(w.estate);
    ExecResetTupleTable(w.estate->es_tupleTable, false);
    for (ResultRelInfo* info : {w.metrics, w.assignments, w.log})
        if (info != nullptr) table_close(info->ri_RelationDesc, NoLock);
    FreeExecutorState(w.estate);
}

// PG-style: the customer's automatic segments, ascending (index order),
// read with a snapshot taken now, after the customer was locked: every
// committed change to them is visible, and no other can be under way.
SEGMENTATION_PG_CONTEXT void read_automatic_segments(Writer& w, Datum key, std::vector<int64>& segments,
                                                     std::vector<int64>* manual) {
    need_assignments(w);
    Relation assignments = w.assignments->ri_RelationDesc;
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    IndexScanDesc scan = compat::index_beginscan(assignments, w.assignments_key, snapshot, 1, 0);
    ScanKeyData scan_key = w.assignments_scan_key;
    scan_key.sk_argument = key;
    index_rescan(scan, &scan_key, 1, nullptr, 0);
    TupleTableSlot* slot = w.assignment_found;
    while (index_getnext_slot(scan, ForwardScanDirection, slot)) {
        bool null;
        if (DatumGetBool(slot_getattr(slot, w.assignment_columns.automatic, &null)))
            segments.push_back(DatumGetInt64(slot_getattr(slot, w.assignment_columns.segment, &null)));
        else if (manual != nullptr)  // inSegment of a manual segment
            manual->push_back(DatumGetInt64(slot_getattr(slot, w.assignment_columns.segment, &null)));
    }
    ExecClearTuple(slot);
    index_endscan(scan);
    UnregisterSnapshot(snapshot);
}

// PG-style: adds or removes one automatic assignment, with its log row, and
// says whether it did. The customer is locked and its assignments were read
// after the lock was granted, so nobody else can be changing its automatic
// assignments: the row to remove is there, the one to add is not.
SEGMENTATION_PG_CONTEXT bool write_change(Writer& w, const Change& change) {
    need_assignments(w);
    const auto& a = w.assignment_columns;
    if (change.added) {
        fill(w.assignment_new, {{a.customer, change.customer},
                                {a.segment, Int64GetDatum(change.segment)},
                                {a.automatic, BoolGetDatum(true)},
                                {a.assigned_at, TimestampTzGetDatum(w.now)}});
        ExecSimpleRelationInsert(w.assignments, w.estate, w.assignment_new);
    } else {
        fill(w.assignment_search, {{a.customer, change.customer}, {a.segment, Int64GetDatum(change.segment)}});
        if (!RelationFindReplTupleByIndex(w.assignments->ri_RelationDesc, w.assignments_key_oid, LockTupleExclusive,
                                          w.assignment_search, w.assignment_found))
            return false;
        EvalPlanQualSetSlot(&w.epq, w.assignment_found);
        ExecSimpleRelationDelete(w.assignments, w.estate, &w.epq, w.assignment_found);
    }
    need_log(w);
    const auto& l = w.log_columns;
    fill(w.log_new, {{l.id, Int64GetDatum(nextval_internal(catalog().assignment_log_sequence, false))},
                     {l.customer, change.customer},
                     {l.segment, Int64GetDatum(change.segment)},
                     {l.action, CStringGetTextDatum(change.added ? "added" : "removed")},
                     {l.automatic, BoolGetDatum(true)},
                     {l.cause, w.cause},
                     {l.logged_at, TimestampTzGetDatum(w.now)}});
    ExecSimpleRelationInsert(w.log, w.estate, w.log_new);
    return true;
}

// PG-style: finds the customer's metrics row and locks it (waiting for any
// other writer), leaving its newest version in w.current.
SEGMENTATION_PG_CONTEXT bool find_and_lock(Writer& w, Datum key) {
    fill(w.search, {{w.columns.key, key}});
    return RelationFindReplTupleByIndex(w.metrics->ri_RelationDesc, w.metrics_key, LockTupleNoKeyExclusive, w.search,
                                        w.current);
}

SEGMENTATION_PG_CONTEXT std::optional<TimestampTz> timestamp_column(TupleTableSlot* slot, AttrNumber column) {
    bool null;
    Datum value = slot_getattr(slot, column, &null);
    if (null) return std::nullopt;
    return DatumGetTimestampTz(value);
}

// PG-style: the stored metrics of the customer in w.current.
SEGMENTATION_PG_CONTEXT MetricValues metric_values_of(Writer& w) { return metric_values_of_slot(w.current, w.columns); }

// PG-style: writes the new version of the row in w.current.
SEGMENTATION_PG_CONTEXT void write_row(Writer& w, const NewMetrics& m, bool orders_only) {
    TupleTableSlot* updated = w.updated;
    slot_getallattrs(w.current);
    ExecClearTuple(updated);
    int natts = updated->tts_tupleDescriptor->natts;
    memcpy(updated->tts_values, w.current->tts_values, sizeof(Datum) * natts);
    memcpy(updated->tts_isnull, w.current->tts_isnull, sizeof(bool) * natts);
    auto set = [&](AttrNumber column, std::optional<TimestampTz> value) {
        updated->tts_isnull[column - 1] = !value.has_value();
        updated->tts_values[column - 1] = value ? TimestampTzGetDatum(*value) : (Datum)0;
    };
    const MetricsColumns& c = w.columns;
    updated->tts_values[c.lifetime_value - 1] = m.lifetime_value;
    updated->tts_isnull[c.lifetime_value - 1] = false;
    updated->tts_values[c.order_count - 1] = Int64GetDatum(m.order_count);
    updated->tts_isnull[c.order_count - 1] = false;
    set(c.first_order_at, m.first);
    set(c.last_order_at, m.last);
    if (orders_only) set(c.customer_since, m.since);
    set(c.reevaluate_at, m.due);
    if (m.automatic_segments && c.automatic_segments != InvalidAttrNumber) {
        updated->tts_values[c.automatic_segments - 1] = int64_array_of(*m.automatic_segments);
        updated->tts_isnull[c.automatic_segments - 1] = false;
        updated->tts_values[c.segments_version - 1] = Int64GetDatum(m.segments_version);
        updated->tts_isnull[c.segments_version - 1] = false;
    }
    ExecStoreVirtualTuple(updated);
    EvalPlanQualSetSlot(&w.epq, updated);
    ExecSimpleRelationUpdate(w.metrics, w.estate, &w.epq, w.current, updated);
}

}  // namespace segmentation::glue
