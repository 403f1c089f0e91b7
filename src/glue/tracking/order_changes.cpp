#include "glue/tracking/order_changes.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/membership.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/membership/windows.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/tracking/metrics_sql.hpp"
#include "glue/tracking/metrics_writer.hpp"
#include "glue/tracking/tracked_columns.hpp"

extern "C" {
#include "access/genam.h"
#include "catalog/dependency.h"
#include "common/hashfn.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/fmgrprotos.h"
}

namespace segmentation::glue {
namespace {

// ---- the statement's order rows --------------------------------------------

// Where the tracked columns are in the orders table, and their types.
struct OrderLayout {
    AttrNumber key, amount, time;
    Oid key_type, amount_type, time_type;
};

struct OrderRow {
    Datum key;     // as a customer key of the storage key type
    Datum amount;  // numeric (0 for a NULL amount)
    bool has_time;
    TimestampTz time;
    bool added;  // a row of the new transition table (else the old one)
};

// From the tracking configuration, which knows where the columns are as
// long as it is cached (a change to the orders table drops it).
OrderLayout order_layout(const TrackedTable& orders) {
    for (const auto& [attnum, name] :
         {std::pair{orders.key_attnum, &orders.key_column}, std::pair{orders.value_attnum, &orders.value_column},
          std::pair{orders.time_attnum, &orders.time_column}})
        if (attnum == InvalidAttrNumber)
            throw Error(ERRCODE_UNDEFINED_COLUMN,
                        "tracked column \"" + *name + "\" of " + orders.name + " no longer exists");
    return {orders.key_attnum, orders.value_attnum, orders.time_attnum,
            orders.key_type,   orders.value_type,   orders.time_type};
}

// PG-style: one transition table's rows, converted to keys, numerics and
// timestamptz, appended to `rows`.
SEGMENTATION_PG_CONTEXT void read_rows(Tuplestorestate* table, TupleDesc desc, const OrderLayout& l, bool added,
                                       std::vector<OrderRow>& rows) {
    TupleTableSlot* slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
    // A read pointer of our own, as the executor's scans of transition tables do.
    int pointer = tuplestore_alloc_read_pointer(table, EXEC_FLAG_REWIND);
    tuplestore_select_read_pointer(table, pointer);
    tuplestore_rescan(table);
    Datum zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
    while (tuplestore_gettupleslot(table, true, false, slot)) {
        bool null;
        Datum key = slot_getattr(slot, l.key, &null);
        if (null) continue;  // an order without a customer counts for nobody
        OrderRow row;
        row.added = added;
        switch (l.key_type) {
            case INT2OID: row.key = Int64GetDatum(DatumGetInt16(key)); break;
            case INT4OID: row.key = Int64GetDatum(DatumGetInt32(key)); break;
            case INT8OID: row.key = Int64GetDatum(DatumGetInt64(key)); break;
            case UUIDOID: row.key = datumCopy(key, false, UUID_LEN); break;
            default:
                row.key = PointerGetDatum(pg_detoast_datum_packed(
                    reinterpret_cast<struct varlena*>(DatumGetPointer(datumCopy(key, false, -1)))));
        }
        Datum amount = slot_getattr(slot, l.amount, &null);
        if (null)
            row.amount = zero;
        else if (l.amount_type == NUMERICOID)
            row.amount = datumCopy(amount, false, -1);
        else if (l.amount_type == INT2OID)
            row.amount = DirectFunctionCall1(int2_numeric, amount);
        else if (l.amount_type == INT4OID)
            row.amount = DirectFunctionCall1(int4_numeric, amount);
        else if (l.amount_type == INT8OID)
            row.amount = DirectFunctionCall1(int8_numeric, amount);
        else
            row.amount = DirectFunctionCall1(cash_numeric, amount);
        Datum time = slot_getattr(slot, l.time, &null);
        row.has_time = !null;
        if (!null) row.time = instant_of(time, l.time_type);
        rows.push_back(row);
    }
    ExecDropSingleTupleTableSlot(slot);
}

// The bytes that identify a key, for grouping (keys compare by bytes).
std::string key_bytes(Datum key, Oid storage_type) {
    if (storage_type == INT8OID) {
        int64 value = DatumGetInt64(key);
        return std::string(reinterpret_cast<const char*>(&value), sizeof value);
    }
    if (storage_type == UUIDOID) return std::string(static_cast<const char*>(DatumGetPointer(key)), UUID_LEN);
    const struct varlena* text = reinterpret_cast<const struct varlena*>(DatumGetPointer(key));
    return std::string(VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text));
}

// ---- one customer's change ---------------------------------------------------

struct Delta {
    Datum key;
    Datum added_sum = (Datum)0, removed_sum = (Datum)0;  // numerics, (Datum)0 when no rows
    int64 added = 0, removed = 0;
    std::optional<TimestampTz> add_lo, add_hi, rem_lo, rem_hi;
};

void widen(std::optional<TimestampTz>& lo, std::optional<TimestampTz>& hi, TimestampTz t) {
    if (!lo || t < *lo) lo = t;
    if (!hi || t > *hi) hi = t;
}

// Deltas per customer, in key order (the order every path locks customers in).
std::vector<Delta> customer_deltas(const std::vector<OrderRow>& rows, Oid storage_type) {
    // The usual statement, one order inserted or deleted: one customer,
    // nothing to group, add up or sort.
    if (rows.size() == 1) {
        const OrderRow& row = rows[0];
        Delta d{row.key};
        (row.added ? d.added : d.removed) = 1;
        (row.added ? d.added_sum : d.removed_sum) = row.amount;
        if (row.has_time) row.added ? widen(d.add_lo, d.add_hi, row.time) : widen(d.rem_lo, d.rem_hi, row.time);
        return {d};
    }
    std::vector<Delta> deltas;
    std::vector<std::size_t> delta_of_row(rows.size());
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const OrderRow& row = rows[i];
        auto [it, inserted] = index.try_emplace(key_bytes(row.key, storage_type), deltas.size());
        if (inserted) deltas.push_back(Delta{row.key});
        delta_of_row[i] = it->second;
        Delta& d = deltas[it->second];
        if (row.added) {
            d.added += 1;
            if (row.has_time) widen(d.add_lo, d.add_hi, row.time);
        } else {
            d.removed += 1;
            if (row.has_time) widen(d.rem_lo, d.rem_hi, row.time);
        }
    }
    // Sums in numeric: exact whatever the scale.
    pg::call([&] {
        for (std::size_t i = 0; i < rows.size(); ++i) {
            Delta& d = deltas[delta_of_row[i]];
            Datum& sum = rows[i].added ? d.added_sum : d.removed_sum;
            sum = sum == (Datum)0 ? rows[i].amount : DirectFunctionCall2(numeric_add, sum, rows[i].amount);
        }
    });
    // Rows changed only in columns we do not track change nothing.
    std::vector<Delta> effective;
    for (Delta& d : deltas) {
        bool same = d.added == d.removed && d.add_lo == d.rem_lo && d.add_hi == d.rem_hi && pg::call([&] {
                        return d.added_sum == (Datum)0 ||
                               DatumGetInt32(DirectFunctionCall2(numeric_cmp, d.added_sum, d.removed_sum)) == 0;
                    });
        if (!same) effective.push_back(d);
    }
    pg::call([&] {
        TypeCacheEntry* type = lookup_type_cache(storage_type, TYPECACHE_CMP_PROC_FINFO);
        Oid collation = catalog().key_collation;  // the order customer_id sorts in
        struct Order {
            FmgrInfo* compare;
            Oid collation;
        } order{&type->cmp_proc_finfo, collation};
        qsort_arg(
            effective.data(), effective.size(), sizeof(Delta),
            [](const void* a, const void* b, void* arg) -> int {
                auto* o = static_cast<Order*>(arg);
                return DatumGetInt32(FunctionCall2Coll(o->compare, o->collation, static_cast<const Delta*>(a)->key,
                                                       static_cast<const Delta*>(b)->key));
            },
            &order);
    });
    return effective;
}

// The statements of the rare paths, built per tracked table.
std::string recompute_sql(const TrackedTable& orders) {
    std::string key = pg::call([&] { return quote_identifier(orders.key_column.c_str()); });
    std::string time = pg::call([&] { return quote_identifier(orders.time_column.c_str()); });
    std::string instant = instant_sql("o." + time, orders.time_type);
    return "SELECT min(" + instant + "), max(" + instant + ") FROM " + orders.name + " o WHERE o." + key + " = $1";
}

// A customer's totals from the orders table itself.
std::string totals_sql(const TrackedTable& orders) {
    std::string key = pg::call([&] { return quote_identifier(orders.key_column.c_str()); });
    std::string amount = pg::call([&] { return quote_identifier(orders.value_column.c_str()); });
    std::string time = pg::call([&] { return quote_identifier(orders.time_column.c_str()); });
    return "SELECT coalesce(sum(coalesce(o." + amount + "::numeric, 0)), 0), count(*), min(o." + time +
           "::timestamptz), max(o." + time + "::timestamptz) FROM " + orders.name + " o WHERE o." + key + " = $1";
}

// ---- customers created while orders are in flight ----------------------------

// Customers whose metrics a customers-table statement of this transaction
// back-filled from the orders table. That back-fill saw every order row of
// this transaction, including those of an orders statement whose trigger
// has not fired yet (the shop's own trigger created the customer first; a
// foreign key cascaded a new key to the orders): for these customers the
// orders trigger counts the orders again instead of adding its rows. Kept
// until the transaction ends; an entry left by a rolled-back savepoint
// only costs a recount.
std::unordered_set<std::string> backfilled_customers;

void forget_backfilled_customers(XactEvent event, void*) {
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
        event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
        backfilled_customers.clear();
}

// The lock slot of a customer key (see lock_customer_slots).
constexpr int kCustomerLockSlots = 64;
constexpr uint16 kFirstCustomerLockSubId = 2;  // sub-id 1 is the definitions lock

int customer_lock_slot(Datum key, Oid storage_type) {
    std::string bytes = key_bytes(key, storage_type);
    uint32 hash = pg::call([&] {
        return hash_bytes(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    });
    return static_cast<int>(hash % kCustomerLockSlots);
}

const spi::Statement kCreateCustomers = {
    "INSERT INTO segmentation.customer_metrics AS m "
    "  (customer_id, lifetime_value, order_count, first_order_at, last_order_at, customer_since, reevaluate_at) "
    "SELECT u.k, u.s, u.n, u.lo, u.hi, u.lo, CASE WHEN $6 THEN NULL ELSE '-infinity'::timestamptz END "
    "FROM unnest($1::{key}[], $2::numeric[], $3::bigint[], $4::timestamptz[], $5::timestamptz[]) AS u(k, s, n, lo, hi) "
    // A concurrent transaction may have created the customer meanwhile.
    "ON CONFLICT (customer_id) DO UPDATE SET "
    "  lifetime_value = m.lifetime_value + excluded.lifetime_value, order_count = m.order_count + "
    "excluded.order_count, "
    "  first_order_at = least(m.first_order_at, excluded.first_order_at), "
    "  last_order_at = greatest(m.last_order_at, excluded.last_order_at), "
    "  customer_since = least(m.first_order_at, excluded.first_order_at), "
    "  reevaluate_at = CASE WHEN $6 THEN m.reevaluate_at ELSE '-infinity'::timestamptz END "
    "RETURNING m.customer_id",
    6,
    {spi::kKeyArrayType, NUMERICARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, BOOLOID}};

// Orders of customers not in customer_metrics: without a customers table,
// their first order makes them customers.
void create_customers(const std::vector<Delta>& fresh, bool live) {
    std::vector<const Delta*> created;
    for (const Delta& d : fresh)
        if (d.added > d.removed) created.push_back(&d);
    if (created.empty()) return;
    Datum arrays[5];
    pg::call([&] {
        int n = static_cast<int>(created.size());
        Datum* keys = static_cast<Datum*>(palloc(sizeof(Datum) * n));
        Datum* sums = static_cast<Datum*>(palloc(sizeof(Datum) * n));
        Datum* counts = static_cast<Datum*>(palloc(sizeof(Datum) * n));
        Datum* los = static_cast<Datum*>(palloc(sizeof(Datum) * n));
        Datum* his = static_cast<Datum*>(palloc(sizeof(Datum) * n));
        bool* lo_nulls = static_cast<bool*>(palloc(sizeof(bool) * n));
        bool* hi_nulls = static_cast<bool*>(palloc(sizeof(bool) * n));
        for (int i = 0; i < n; ++i) {
            const Delta& d = *created[i];
            keys[i] = d.key;
            sums[i] =
                d.removed_sum == (Datum)0 ? d.added_sum : DirectFunctionCall2(numeric_sub, d.added_sum, d.removed_sum);
            counts[i] = Int64GetDatum(d.added - d.removed);
            lo_nulls[i] = !d.add_lo;
            los[i] = d.add_lo ? TimestampTzGetDatum(*d.add_lo) : (Datum)0;
            hi_nulls[i] = !d.add_hi;
            his[i] = d.add_hi ? TimestampTzGetDatum(*d.add_hi) : (Datum)0;
        }
        int dims[1] = {n};
        int lower[1] = {1};
        arrays[0] = key_array(keys, n);
        arrays[1] = PointerGetDatum(construct_array(sums, n, NUMERICOID, -1, false, TYPALIGN_INT));
        arrays[2] = int64_array_of(counts, n);
        arrays[3] = PointerGetDatum(
            construct_md_array(los, lo_nulls, 1, dims, lower, TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE));
        arrays[4] = PointerGetDatum(
            construct_md_array(his, hi_nulls, 1, dims, lower, TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE));
    });
    uint64 rows =
        spi::run(kCreateCustomers, {arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], BoolGetDatum(live)});
    if (!live || rows == 0) return;
    std::vector<Datum> keys(rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) keys[row] = spi::column(row, 1);
    });
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    evaluate_customers(keys, now, Cause::Order);
}

// PG-style: locks the slots of `keys` in `mode`, in slot order (so that
// two sessions taking several cannot deadlock), until the transaction ends.
void lock_customer_slots(const std::vector<Datum>& keys, LOCKMODE mode) {
    if (keys.empty()) return;
    Oid storage_type = pg::call([] { return catalog().key_type; });
    std::vector<bool> wanted(kCustomerLockSlots, false);
    for (Datum key : keys) wanted[customer_lock_slot(key, storage_type)] = true;
    for (int slot = 0; slot < kCustomerLockSlots; ++slot)
        if (wanted[slot])
            pg::call([&] {
                LockDatabaseObject(ExtensionRelationId, catalog().extension, kFirstCustomerLockSubId + slot, mode);
            });
}

}  // namespace

void lock_customers_to_backfill(const std::vector<Datum>& keys) { lock_customer_slots(keys, ShareLock); }

void note_backfilled_customers(const std::vector<Datum>& keys) {
    if (keys.empty()) return;
    Oid storage_type = pg::call([] { return catalog().key_type; });
    for (Datum key : keys) backfilled_customers.insert(key_bytes(key, storage_type));
}

SEGMENTATION_PG_CONTEXT void register_order_changes_callbacks() {
    RegisterXactCallback(forget_backfilled_customers, nullptr);
}

void apply_order_changes(TriggerData* trigger, const Tracking& tracking) {
    const TrackedTable& orders = *tracking.orders;
    bool orders_only = !tracking.customers.has_value();
    OrderLayout layout = order_layout(orders);
    Oid storage_type = pg::call([] { return catalog().key_type; });

    std::vector<OrderRow> rows;
    pg::call([&] {
        TupleDesc desc = RelationGetDescr(trigger->tg_relation);
        if (trigger->tg_oldtable != nullptr) read_rows(trigger->tg_oldtable, desc, layout, false, rows);
        if (trigger->tg_newtable != nullptr) read_rows(trigger->tg_newtable, desc, layout, true, rows);
    });
    std::vector<Delta> deltas = customer_deltas(rows, storage_type);
    if (deltas.empty()) return;

    // The definitions lock before any customer lock (see CONTRIBUTING.md).
    std::shared_ptr<const SegmentSet> segments = orders.live ? automatic_segments() : nullptr;
    if (!orders.live) lock_definitions_shared();
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    std::string recompute, totals;  // built when first needed

    Writer writer;
    MetricsColumns columns = metrics_columns();
    pg::call([&] { open_writer(writer, columns); });
    std::vector<Delta> fresh, unknown;
    std::vector<Change> changes;
    std::vector<int64> current, matched;
    MembershipContext context;
    // New totals from the delta; first and last move with least/greatest
    // unless the order holding them left, and then only this customer is
    // read again.
    auto add_delta = [&](const Delta& d, NewMetrics& m) {
        bool recompute_first = false, recompute_last = false;
        pg::call([&] {
            bool null;
            Datum value = slot_getattr(writer.current, writer.columns.lifetime_value, &null);
            if (d.added_sum != (Datum)0) value = DirectFunctionCall2(numeric_add, value, d.added_sum);
            if (d.removed_sum != (Datum)0) value = DirectFunctionCall2(numeric_sub, value, d.removed_sum);
            m.lifetime_value = value;
            m.order_count =
                DatumGetInt64(slot_getattr(writer.current, writer.columns.order_count, &null)) + d.added - d.removed;
        });
        auto first = pg::call([&] { return timestamp_column(writer.current, writer.columns.first_order_at); });
        auto last = pg::call([&] { return timestamp_column(writer.current, writer.columns.last_order_at); });
        if (m.order_count > 0) {
            recompute_first = d.rem_lo && first && *d.rem_lo <= *first && !(d.add_lo && *d.add_lo <= *first);
            recompute_last = d.rem_hi && last && *d.rem_hi >= *last && !(d.add_hi && *d.add_hi >= *last);
            m.first = first;
            if (d.add_lo && (!m.first || *d.add_lo < *m.first)) m.first = d.add_lo;
            m.last = last;
            if (d.add_hi && (!m.last || *d.add_hi > *m.last)) m.last = d.add_hi;
        }
        if (recompute_first || recompute_last) {
            Oid types[1] = {storage_type};
            if (recompute.empty()) recompute = recompute_sql(orders);
            spi::run_text(recompute, 1, types, &d.key);
            pg::call([&] {
                m.first = spi::timestamp_column(0, 1);
                m.last = spi::timestamp_column(0, 2);
            });
        }
    };
    // Evaluates the customer with its new metrics and writes them.
    auto finish_customer = [&](const Delta& d, NewMetrics& m) {
        m.since = orders_only
                      ? m.first
                      : pg::call([&] { return timestamp_column(writer.current, writer.columns.customer_since); });

        std::optional<TimestampTz> stored_due =
            pg::call([&] { return timestamp_column(writer.current, writer.columns.reevaluate_at); });
        if (!orders.live) {
            m.due = DT_NOBEGIN;  // -infinity: waiting for refresh_due()
        } else {
            Customer after;
            // Customer attributes, decoded below when some criteria test them.
            const char* attributes = nullptr;
            bool wants_attributes = segments->uses_attributes();
            pg::call([&] {
                MetricValues v = metric_values_of(writer);
                if (wants_attributes) attributes = attributes_text(v.attributes, v.attributes_null);
                v.lifetime_value = m.lifetime_value;
                v.order_count = Int64GetDatum(m.order_count);
                v.last_order_at = m.last ? TimestampTzGetDatum(*m.last) : (Datum)0;
                v.last_order_at_null = !m.last;
                v.customer_since = m.since ? TimestampTzGetDatum(*m.since) : (Datum)0;
                v.customer_since_null = !m.since;
                after = customer_from_values(v, d.key);
            });
            static AttributeValues attribute_values;
            if (wants_attributes) {
                read_attribute_values(attributes, attribute_values);
                after.attributes = &attribute_values;
            }
            // Window criteria (membership/windows.hpp): this customer's in-window orders, this statement's included.
            static WindowTotals window_totals;
            if (segments->uses_windows()) {
                read_window_totals(d.key, segments->window_spans(), now, window_totals);
                after.windows = &window_totals;
            }
            // The customer's automatic segments: as its row remembers them, when
            // it remembers them for these definitions (settled: no online change
            // moving members meanwhile); else from assignments, with its manual
            // segments, which inSegment of a manual segment needs.
            current.clear();
            context.manual.clear();
            bool remembered =
                segments->remembered_membership_usable() && pg::call([&] {
                    return remembered_segments_of_slot(writer.current, writer.columns, segments->version(), current);
                });
            if (!remembered) pg::call([&] { read_automatic_segments(writer, d.key, current, &context.manual); });
            if (segments->has_overrides()) context = read_membership_context(d.key, true);
            matched.clear();
            m.due = due_time_to_store(stored_due, storable_instant(segments->evaluate(after, now, matched, context)),
                                      now, true);
            // What it is in after this statement's changes, remembered in its
            // row unless the row already holds exactly that.
            std::vector<int64> after_changes = current;
            bool changed = false;
            for_each_membership_change(matched, current, [&](int64 segment, bool added) {
                if (segments->frozen(segment)) return;
                changes.push_back(Change{d.key, segment, added});
                changed = true;
                auto at = std::lower_bound(after_changes.begin(), after_changes.end(), segment);
                if (added)
                    after_changes.insert(at, segment);
                else
                    after_changes.erase(at);
            });
            if (changed || !remembered) {
                m.automatic_segments = std::move(after_changes);
                m.segments_version = segments->version();
            }
        }
        pg::call([&] { write_row(writer, m, orders_only); });
    };
    // Applies one customer's delta, if the customer has a metrics row.
    auto apply_delta = [&](const Delta& d) -> bool {
        if (!pg::call([&] { return find_and_lock(writer, d.key); })) return false;
        NewMetrics m;
        if (!backfilled_customers.empty() && backfilled_customers.count(key_bytes(d.key, storage_type)) > 0) {
            // Its metrics may already hold this statement's rows: count
            // again, from the orders table (the customer is locked, so
            // every committed order of it is visible, and ours are).
            if (totals.empty()) totals = totals_sql(orders);
            Oid types[1] = {storage_type};
            spi::run_text(totals, 1, types, &d.key);
            pg::call([&] {
                m.lifetime_value = spi::column(0, 1);
                m.order_count = spi::int64_column(0, 2);
                m.first = spi::timestamp_column(0, 3);
                m.last = spi::timestamp_column(0, 4);
            });
        } else {
            add_delta(d, m);
        }
        finish_customer(d, m);
        return true;
    };
    for (const Delta& d : deltas) {
        poll_interrupts();
        if (apply_delta(d)) continue;
        // A customer not (yet) known: without a customers table, its first
        // order makes it one; with one, the order waits for its customer.
        (orders_only ? fresh : unknown).push_back(d);
    }
    if (!unknown.empty()) {
        // Such orders are counted by the insert of their customer, which
        // reads the orders table. That insert may be under way in another
        // transaction, too early to see this one's rows: hold a lock its
        // back-fill waits for (lock_customers_to_backfill), then look again
        // for a customer committed meanwhile, which has not counted them.
        std::vector<Datum> keys;
        for (const Delta& d : unknown) keys.push_back(d.key);
        lock_customer_slots(keys, RowExclusiveLock);
        for (const Delta& d : unknown) apply_delta(d);
    }
    std::vector<Change> made;
    made.reserve(changes.size());
    pg::call([&] {
        for (const Change& change : changes)
            if (write_change(writer, change)) made.push_back(change);
        close_writer(writer);
    });
    for (const Change& change : made) remember_change(change.customer, change.segment, change.added);
    if (!fresh.empty()) create_customers(fresh, orders.live);
}

}  // namespace segmentation::glue

using namespace segmentation;
using namespace segmentation::glue;

// Trigger on the tracked orders table (statement level, transition tables).
SEGMENTATION_FUNCTION(segmentation_orders_changed) {
    TriggerData* trigger = trigger_data(fcinfo, "orders_changed");
    spi::OwnerConnection connection(fcinfo->flinfo->fn_oid);  // SQL, if any, as the owner (spi.hpp)
    // On a Citus shard: the co-located shards of the extension's tables.
    RelationScope shard(shard_relations(RelationGetRelid(trigger->tg_relation)));
    // A tracked Citus table itself (the coordinator's shell): only its
    // TRUNCATE fires here, and Citus truncates the shards without their
    // triggers (citus.hpp).
    if (active_relations() == nullptr && extension_tables_distributed()) {
        if (TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event)) refuse_truncating_citus_table(trigger->tg_relation);
        connection.finish();
        return PointerGetDatum(nullptr);
    }
    std::shared_ptr<const Tracking> tracking = shared_cached_tracking();  // alive while the cache may be replaced
    const Tracking& t = *tracking;
    if (t.orders && t.orders->relation == RelationGetRelid(trigger->tg_relation)) {
        if (TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event)) {
            lock_definitions_shared();
            lock_customers(keys_from_results(spi::run_text(
                               std::string("SELECT customer_id FROM segmentation.customer_metrics WHERE ") + kHasOrders,
                               0, nullptr, nullptr)),
                           false);
            update_and_evaluate(orders_cleared_sql(t), t.orders->live, Cause::Order);
        } else {
            lock_tracked_tables(t);
            apply_order_changes(trigger, t);
        }
    }
    flush_shard_notifications();  // Citus: for the coordinator (notify.hpp)
    connection.finish();
    return PointerGetDatum(nullptr);
}
