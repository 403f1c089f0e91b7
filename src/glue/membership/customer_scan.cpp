#include "glue/membership/customer_scan.hpp"

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/spi.hpp"

extern "C" {
#include "access/genam.h"
#include "access/nbtree.h"
#include "access/visibilitymap.h"
}

namespace segmentation::glue {

struct CustomerScan::Handles {
    // The scans allocate as they go (btree keeps killed items, for one),
    // and must find that memory at their end: everything of theirs lives
    // here, apart from the per-batch copies handed to the caller.
    MemoryContext context;
    Snapshot snapshot;
    Relation metrics, metrics_key, assignments, assignments_key;
    IndexScanDesc metrics_scan, assignments_scan;
    TupleTableSlot* metrics_slot;
    TupleTableSlot* heap_slot;  // for assignments on pages not all-visible
    Buffer visibility;
    FmgrInfo* compare;  // the primary key's order, the order every path locks in
    Oid collation;
    AttrNumber key, reevaluate_at;
    MetricAttributes metric;
    // A btree scan asked again after its end starts over: remember the end.
    bool metrics_done, assignments_done;
    // The assignment read ahead of the customer it belongs to, if any.
    bool pending;
    Datum pending_key;
    int64 pending_segment;
    bool pending_automatic;
};

namespace {

using Handles = CustomerScan::Handles;

// PG-style, in the scan's context: the next assignment in key order, as index data (the index holds
// customer_id, segment_id and, included, is_automatic).
SEGMENTATION_PG_CONTEXT bool read_assignment(Handles& h) {
    ItemPointer tid;
    while (!h.assignments_done && (tid = index_getnext_tid(h.assignments_scan, ForwardScanDirection)) != nullptr) {
        if (!VM_ALL_VISIBLE(h.assignments, ItemPointerGetBlockNumber(tid), &h.visibility)) {
            if (!index_fetch_heap(h.assignments_scan, h.heap_slot)) continue;  // not visible to us
            ExecClearTuple(h.heap_slot);
        }
        IndexTuple tuple = h.assignments_scan->xs_itup;
        TupleDesc desc = h.assignments_scan->xs_itupdesc;
        bool null;
        Form_pg_attribute key = TupleDescAttr(desc, 0);
        // Read ahead across batches, so kept in the scan's context; one at a time.
        if (!key->attbyval && h.pending_key != (Datum)0) pfree(DatumGetPointer(h.pending_key));
        h.pending_key = datumCopy(index_getattr(tuple, 1, desc, &null), key->attbyval, key->attlen);
        h.pending_segment = DatumGetInt64(index_getattr(tuple, 2, desc, &null));
        h.pending_automatic = DatumGetBool(index_getattr(tuple, 3, desc, &null));
        h.pending = true;
        return true;
    }
    h.assignments_done = true;
    return false;
}

// PG-style, in the scan's context: the automatic and the manual segments of `key`, skipping
// assignments of keys before it (orphans, which verify() reports).
SEGMENTATION_PG_CONTEXT void read_segments(Handles& h, Datum key, std::vector<int64>& segments,
                                           std::vector<int64>& manual) {
    for (;;) {
        if (!h.pending && !read_assignment(h)) return;
        int order = DatumGetInt32(FunctionCall2Coll(h.compare, h.collation, h.pending_key, key));
        if (order > 0) return;  // belongs to a later customer
        if (order == 0) (h.pending_automatic ? segments : manual).push_back(h.pending_segment);
        h.pending = false;
    }
}

// PG-style: the customer of the customer_metrics row in `slot` into `state`
// (its key and loyalty level copied: they outlive the slot), with its due
// time; returns its attributes' text when `with_attributes` (decoded by the
// caller after its PostgreSQL calls), else nullptr.
SEGMENTATION_PG_CONTEXT const char* read_customer_row(TupleTableSlot* slot, AttrNumber key,
                                                      const MetricAttributes& metric, AttrNumber reevaluate_at,
                                                      bool with_attributes, CustomerState& state) {
    Form_pg_attribute key_attribute = TupleDescAttr(slot->tts_tupleDescriptor, key - 1);
    bool null;
    state.key = datumCopy(slot_getattr(slot, key, &null), key_attribute->attbyval, key_attribute->attlen);
    MetricValues v = metric_values_of_slot(slot, metric);
    if (!v.loyalty_level_null) v.loyalty_level = datumCopy(v.loyalty_level, false, -1);
    state.customer = customer_from_values(v, state.key);
    Datum due = slot_getattr(slot, reevaluate_at, &null);
    state.reevaluate_at = null ? std::nullopt : std::optional<TimestampTz>(DatumGetTimestampTz(due));
    return with_attributes ? attributes_text(v.attributes, v.attributes_null) : nullptr;
}

// PG-style: restarts `scan` of `index` at the first key after `after`, or
// at the start.
SEGMENTATION_PG_CONTEXT void start_scan(IndexScanDesc scan, Relation index, bool from_start, Datum after) {
    if (from_start) {
        index_rescan(scan, nullptr, 0, nullptr, 0);
        return;
    }
    ScanKeyData key;
    Oid type = index->rd_opcintype[0];
    StrategyNumber strategy = BTGreaterStrategyNumber;
    Oid op = get_opfamily_member(index->rd_opfamily[0], type, type, strategy);
    ScanKeyInit(&key, 1, strategy, get_opcode(op), after);
    key.sk_collation = index->rd_indcollation[0];
    index_rescan(scan, &key, 1, nullptr, 0);
}

}  // namespace

void CustomerScan::open_at(bool from_start, Datum after) {
    handles_ = pg::call([&] {
        const Catalog& c = catalog();
        MemoryContext context =
            AllocSetContextCreate(CurrentMemoryContext, "segmentation customer scan", ALLOCSET_DEFAULT_SIZES);
        MemoryContext caller = MemoryContextSwitchTo(context);
        auto* h = static_cast<Handles*>(palloc0(sizeof(Handles)));
        h->context = context;
        h->snapshot = RegisterSnapshot(GetTransactionSnapshot());
        h->metrics = table_open(c.customer_metrics, AccessShareLock);
        h->metrics_key = index_open(compat::RelationGetPrimaryKeyIndex(h->metrics), AccessShareLock);
        h->assignments = table_open(c.assignments, AccessShareLock);
        h->assignments_key = index_open(compat::RelationGetPrimaryKeyIndex(h->assignments), AccessShareLock);
        if (IndexRelationGetNumberOfAttributes(h->assignments_key) != 3)
            elog(ERROR, "segmentation: the primary key of segmentation.assignments must include is_automatic");
        int keys = from_start ? 0 : 1;
        h->metrics_scan = compat::index_beginscan(h->metrics, h->metrics_key, h->snapshot, keys, 0);
        start_scan(h->metrics_scan, h->metrics_key, from_start, after);
        h->assignments_scan = compat::index_beginscan(h->assignments, h->assignments_key, h->snapshot, keys, 0);
        h->assignments_scan->xs_want_itup = true;
        start_scan(h->assignments_scan, h->assignments_key, from_start, after);
        h->metrics_slot = table_slot_create(h->metrics, nullptr);
        h->heap_slot = table_slot_create(h->assignments, nullptr);
        h->visibility = InvalidBuffer;
        h->compare = index_getprocinfo(h->metrics_key, 1, BTORDER_PROC);
        h->collation = h->metrics_key->rd_indcollation[0];
        h->key = get_attnum(c.customer_metrics, "customer_id");
        h->metric = metric_attributes(c.customer_metrics);
        h->reevaluate_at = get_attnum(c.customer_metrics, "reevaluate_at");
        MemoryContextSwitchTo(caller);
        return h;
    });
}

std::size_t CustomerScan::next(std::vector<CustomerState>& batch, std::size_t limit) {
    Handles& h = *handles_;
    std::size_t first = batch.size();
    batch.resize(first + limit);
    static std::vector<const char*> attributes;  // their text, decoded after the scan's PostgreSQL calls
    attributes.assign(limit, nullptr);
    std::size_t count = pg::call([&]() -> std::size_t {
        MemoryContext batch_context = CurrentMemoryContext;  // pg::call restores it on error
        std::size_t n = 0;
        while (n < limit && !h.metrics_done) {
            MemoryContextSwitchTo(h.context);
            if (!index_getnext_slot(h.metrics_scan, ForwardScanDirection, h.metrics_slot)) {
                h.metrics_done = true;
                break;
            }
            MemoryContextSwitchTo(batch_context);
            CustomerState& state = batch[first + n];
            attributes[n] =
                read_customer_row(h.metrics_slot, h.key, h.metric, h.reevaluate_at, with_attributes_, state);
            state.current.clear();
            state.context = MembershipContext{};  // overrides: see CustomerScan's comment
            MemoryContextSwitchTo(h.context);
            read_segments(h, state.key, state.current, state.context.manual);
            ++n;
        }
        MemoryContextSwitchTo(batch_context);
        return n;
    });
    batch.resize(first + count);
    for (std::size_t i = 0; with_attributes_ && i < count; ++i) {
        CustomerState& state = batch[first + i];
        read_attribute_values(attributes[i], state.attributes);
        state.customer.attributes = &state.attributes;  // valid while `batch` is not reallocated
    }
    return count;
}

void CustomerScan::close() {
    if (handles_ == nullptr) return;
    Handles* h = handles_;
    handles_ = nullptr;
    pg::call([h] {
        if (BufferIsValid(h->visibility)) ReleaseBuffer(h->visibility);
        ExecDropSingleTupleTableSlot(h->metrics_slot);
        ExecDropSingleTupleTableSlot(h->heap_slot);
        index_endscan(h->metrics_scan);
        index_endscan(h->assignments_scan);
        index_close(h->metrics_key, NoLock);
        index_close(h->assignments_key, NoLock);
        table_close(h->metrics, NoLock);
        table_close(h->assignments, NoLock);
        UnregisterSnapshot(h->snapshot);
        MemoryContextDelete(h->context);  // h included
    });
}

namespace {

// PG-style: the bytes that identify a key (keys of every storage type compare by their bytes).
SEGMENTATION_PG_CONTEXT std::pair<const char*, std::size_t> key_span(Datum key) {
    const Catalog& c = catalog();
    if (c.key_by_value) return {reinterpret_cast<const char*>(&key), sizeof(Datum)};
    if (c.key_length > 0)
        return {static_cast<const char*>(DatumGetPointer(key)), static_cast<std::size_t>(c.key_length)};
    auto* text = reinterpret_cast<struct varlena*>(DatumGetPointer(key));
    if (VARATT_IS_EXTENDED(text)) text = pg_detoast_datum_packed(text);
    return {VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text)};
}

}  // namespace

void OverriddenCustomers::load(bool any) {
    keys_.clear();
    if (!any) return;
    uint64 rows = spi::run_once("SELECT DISTINCT customer_id FROM segmentation.overrides", true);
    for (uint64 row = 0; row < rows; ++row) {
        auto span = pg::call([&] { return key_span(spi::column(row, 1)); });
        keys_.emplace(span.first, span.second);
    }
}

bool OverriddenCustomers::contains(Datum key) const {
    if (keys_.empty()) return false;
    auto span = pg::call([&] { return key_span(key); });
    return keys_.count(std::string(span.first, span.second)) > 0;
}

namespace {

// The equality functions read_one_customer probes the two primary keys
// with, looked up once per catalog generation (not per call: these were
// syscache look-ups on every click). Its columns: metrics_columns().
struct OneCustomerCatalog {
    uint64 generation = 0;
    Oid metrics = InvalidOid;
    RegProcedure metrics_equal = InvalidOid, assignments_equal = InvalidOid;
};

// PG-style: the equality function of the first column of a btree index.
SEGMENTATION_PG_CONTEXT RegProcedure first_column_equality(Relation index) {
    Oid type = index->rd_opcintype[0];
    return get_opcode(get_opfamily_member(index->rd_opfamily[0], type, type, BTEqualStrategyNumber));
}

// PG-style: `c` for the open relations, looked up again when the catalog changed.
SEGMENTATION_PG_CONTEXT OneCustomerCatalog& one_customer_catalog(const Catalog& c, Relation metrics_key) {
    static OneCustomerCatalog cached;
    if (cached.generation == catalog_generation() && cached.metrics == c.customer_metrics &&
        OidIsValid(cached.metrics_equal))
        return cached;
    OneCustomerCatalog fresh;
    fresh.generation = catalog_generation();
    fresh.metrics = c.customer_metrics;
    fresh.metrics_equal = first_column_equality(metrics_key);
    cached = fresh;
    return cached;
}

}  // namespace

bool read_one_customer(Datum key, std::optional<int64> remembered, CustomerState& state, bool& used_remembered) {
    state.current.clear();
    state.context = MembershipContext{};
    used_remembered = false;
    MetricsColumns columns = metrics_columns();
    const char* attributes = nullptr;
    bool found = pg::call([&] {
        const Catalog& c = catalog();
        Snapshot snapshot = RegisterSnapshot(GetTransactionSnapshot());
        Relation metrics = table_open(c.customer_metrics, AccessShareLock);
        Relation metrics_key = index_open(compat::RelationGetPrimaryKeyIndex(metrics), AccessShareLock);
        OneCustomerCatalog& at = one_customer_catalog(c, metrics_key);

        ScanKeyData scan_key;
        ScanKeyInit(&scan_key, 1, BTEqualStrategyNumber, at.metrics_equal, key);
        scan_key.sk_collation = metrics_key->rd_indcollation[0];
        IndexScanDesc scan = compat::index_beginscan(metrics, metrics_key, snapshot, 1, 0);
        index_rescan(scan, &scan_key, 1, nullptr, 0);
        TupleTableSlot* slot = table_slot_create(metrics, nullptr);
        bool exists = index_getnext_slot(scan, ForwardScanDirection, slot);
        if (exists) {
            attributes = read_customer_row(slot, columns.key, columns, columns.reevaluate_at, true, state);
            used_remembered = remembered && remembered_segments_of_slot(slot, columns, *remembered, state.current);
        }
        ExecDropSingleTupleTableSlot(slot);
        index_endscan(scan);

        index_close(metrics_key, NoLock);
        table_close(metrics, NoLock);

        if (exists && !used_remembered) {
            // Index-only, as CustomerScan: the key includes is_automatic.
            Relation assignments = table_open(c.assignments, AccessShareLock);
            Relation assignments_key = index_open(compat::RelationGetPrimaryKeyIndex(assignments), AccessShareLock);
            if (IndexRelationGetNumberOfAttributes(assignments_key) != 3)
                elog(ERROR, "segmentation: the primary key of segmentation.assignments must include is_automatic");
            if (!OidIsValid(at.assignments_equal)) at.assignments_equal = first_column_equality(assignments_key);
            ScanKeyInit(&scan_key, 1, BTEqualStrategyNumber, at.assignments_equal, state.key);
            scan_key.sk_collation = assignments_key->rd_indcollation[0];
            scan = compat::index_beginscan(assignments, assignments_key, snapshot, 1, 0);
            scan->xs_want_itup = true;
            index_rescan(scan, &scan_key, 1, nullptr, 0);
            TupleTableSlot* heap_slot = table_slot_create(assignments, nullptr);
            Buffer visibility = InvalidBuffer;
            ItemPointer tid;
            while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != nullptr) {
                if (!VM_ALL_VISIBLE(assignments, ItemPointerGetBlockNumber(tid), &visibility)) {
                    if (!index_fetch_heap(scan, heap_slot)) continue;  // not visible to us
                    ExecClearTuple(heap_slot);
                }
                bool null;
                int64 segment = DatumGetInt64(index_getattr(scan->xs_itup, 2, scan->xs_itupdesc, &null));
                bool automatic = DatumGetBool(index_getattr(scan->xs_itup, 3, scan->xs_itupdesc, &null));
                (automatic ? state.current : state.context.manual).push_back(segment);
            }
            if (BufferIsValid(visibility)) ReleaseBuffer(visibility);
            ExecDropSingleTupleTableSlot(heap_slot);
            index_endscan(scan);
            index_close(assignments_key, NoLock);
            table_close(assignments, NoLock);
        }
        UnregisterSnapshot(snapshot);
        return exists;
    });
    if (found) {
        read_attribute_values(attributes, state.attributes);
        state.customer.attributes = &state.attributes;
    }
    return found;
}

}  // namespace segmentation::glue
