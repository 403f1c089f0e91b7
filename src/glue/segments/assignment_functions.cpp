// Assignments as SQL functions: calculate_automatic_segments(),
// assign_automatic_segments(), assign_manual_segment(),
// remove_manual_segment(), customer_segments().
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/matcher.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/guard.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/results.hpp"
#include "glue/matching/match_cache.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/membership/customer_scan.hpp"
#include "glue/membership/evaluation.hpp"
#include "glue/membership/windows.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/segments/actor.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/cluster_work.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"

using namespace segmentation;
using namespace segmentation::glue;
using spi::kKeyType;

namespace {

const spi::Statement kLockCustomerKey = {
    "SELECT 1 FROM segmentation.customer_metrics WHERE customer_id = $1 FOR KEY SHARE", 1, {kKeyType}};

// A customer's state, read without a lock: assign_automatic_segments()
// writes (and locks) only when this shows something to change. Without
// overrides it reads the state with a CustomerScan (two index probes).
const spi::Statement kReadCustomerWithOverrides = {"SELECT " SEGMENTATION_STATE_COLUMNS_WITH_OVERRIDES
                                                   " FROM segmentation.customer_metrics m WHERE m.customer_id = $1",
                                                   1,
                                                   {kKeyType}};

const spi::Statement kLockSegment = {
    "SELECT name, is_automatic FROM segmentation.segments WHERE id = $1 FOR KEY SHARE", 1, {INT8OID}};

const spi::Statement kAddManual = {
    "WITH added AS ("
    "  INSERT INTO segmentation.assignments (customer_id, segment_id, is_automatic, assigned_at, assigned_by) "
    "  VALUES ($1, $2, false, $4, $3) ON CONFLICT (customer_id, segment_id) DO NOTHING RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor) "
    "SELECT $1, $2, 'added', false, 'manual', $3 FROM added RETURNING 1",
    4,
    {kKeyType, INT8OID, TEXTOID, TIMESTAMPTZOID}};

const spi::Statement kRemoveManual = {
    "WITH removed AS ("
    "  DELETE FROM segmentation.assignments "
    "  WHERE customer_id = $1 AND segment_id = $2 AND NOT is_automatic RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor, reason) "
    "SELECT $1, $2, 'removed', false, 'manual', $3, $4 FROM removed RETURNING 1",
    4,
    {kKeyType, INT8OID, TEXTOID, TEXTOID}};

const spi::Statement kCustomerSegments = {
    "SELECT a.segment_id, s.name, s.criteria, a.is_automatic, a.assigned_at, a.assigned_by "
    "FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id "
    "WHERE a.customer_id = $1 ORDER BY s.name, a.segment_id",
    1,
    {kKeyType}};

// 1.1: the override column; an excluded customer's segment is listed too,
// with override 'excluded' and no assigned_at (it is not a membership).
const spi::Statement kCustomerSegmentsWithOverrides = {
    "SELECT a.segment_id, s.name, s.criteria, a.is_automatic, a.assigned_at, a.assigned_by, "
    "       CASE WHEN o.included THEN 'included' END "
    "FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id "
    "LEFT JOIN segmentation.overrides o ON o.customer_id = a.customer_id AND o.segment_id = a.segment_id "
    "WHERE a.customer_id = $1 "
    "UNION ALL "
    "SELECT o.segment_id, s.name, s.criteria, true, NULL, NULL, 'excluded' "
    "FROM segmentation.overrides o JOIN segmentation.segments s ON s.id = o.segment_id "
    "WHERE o.customer_id = $1 AND NOT o.included "
    "ORDER BY 2, 1",
    1,
    {kKeyType}};

// Locks the customer's metrics row against deletion. Under READ COMMITTED the
// lookup may have waited for a transaction that deleted the customer and
// inserted it again: the new row is not in that statement's snapshot, so a
// second lookup, with a snapshot of its own, finds it.
void lock_customer(Datum key, const std::string& doing) {
    if (spi::run(kLockCustomerKey, {key}) > 0 || spi::run(kLockCustomerKey, {key}) > 0) return;
    unknown_customer(key, doing);
}

// The manual segment `segment`, locked against deletion; errors name both
// the customer and the segment.
void require_manual_segment(int64 segment, const std::string& doing) {
    if (spi::run(kLockSegment, {Int64GetDatum(segment)}) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": segment " + std::to_string(segment) + " does not exist");
    bool automatic = false;
    std::string name = pg::call([&] {
        automatic = spi::bool_column(0, 2);
        return spi::text_column(0, 1);
    });
    if (automatic)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    doing + ": segment " + std::to_string(segment) + " (\"" + name + "\") is automatic",
                    "Members of automatic segments follow the segment's criteria.",
                    "Only manual segments can be assigned or removed by hand.");
}

// After a manual change of `segment` for the customer, in the same
// statement: the automatic segments whose criteria refer to it (inSegment,
// notInSegment), directly or through others, are evaluated again.
void cascade_manual_change(const SegmentSet& segments, Datum key, int64 segment, const Attribution& by,
                           TimestampTz now) {
    Scope scope;
    scope.segments = segments.dependents({segment});
    if (scope.segments.empty()) return;
    evaluate_customers({key}, now, Cause::Manual, scope, &by);
}

// ---- overrides of automatic segments -----------------------------------------

enum class OverrideChange { Include, Exclude, Remove };

const spi::Statement kLockCustomerForOverride = {
    "SELECT 1 FROM segmentation.customer_metrics WHERE customer_id = $1 FOR NO KEY UPDATE", 1, {kKeyType}};

// Makes or changes the override (true when it did) and logs it.
const spi::Statement kSetOverride = {
    "WITH made AS ("
    "  INSERT INTO segmentation.overrides AS o (customer_id, segment_id, included, actor, reason, created_at) "
    "  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id, segment_id) DO UPDATE "
    "  SET included = excluded.included, actor = excluded.actor, reason = excluded.reason, "
    "      created_at = excluded.created_at "
    "  WHERE o.included <> excluded.included RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor, reason) "
    "SELECT $1, $2, CASE WHEN $3 THEN 'included' ELSE 'excluded' END, true, 'override', $4, $5 FROM made "
    "RETURNING 1",
    6,
    {kKeyType, INT8OID, BOOLOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}};

const spi::Statement kRemoveOverride = {
    "WITH gone AS (DELETE FROM segmentation.overrides WHERE customer_id = $1 AND segment_id = $2 RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor, reason) "
    "SELECT $1, $2, 'override_removed', true, 'override', $3, $4 FROM gone RETURNING 1",
    4,
    {kKeyType, INT8OID, TEXTOID, TEXTOID}};

std::string override_doing(OverrideChange change, int64 segment, Datum key) {
    std::string customer = "customer \"" + key_text(key) + "\"";
    std::string id = "segment " + std::to_string(segment);
    switch (change) {
        case OverrideChange::Include: return "cannot include " + customer + " in " + id;
        case OverrideChange::Exclude: return "cannot exclude " + customer + " from " + id;
        case OverrideChange::Remove: break;
    }
    return "cannot remove the override of " + id + " for " + customer;
}

// The automatic segment `segment`, locked against deletion.
void require_automatic_segment(int64 segment, const std::string& doing) {
    if (spi::run(kLockSegment, {Int64GetDatum(segment)}) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": segment " + std::to_string(segment) + " does not exist");
    bool automatic = false;
    std::string name = pg::call([&] {
        automatic = spi::bool_column(0, 2);
        return spi::text_column(0, 1);
    });
    if (!automatic)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    doing + ": segment " + std::to_string(segment) + " (\"" + name + "\") is manual",
                    "Overrides apply to automatic segments.",
                    "Assign or remove manual segments with assign_manual_segment() and remove_manual_segment().");
}

}  // namespace

// segmentation.calculate_automatic_segments(customer_id, timestamptz) -> bigint[]
SEGMENTATION_FUNCTION(segmentation_calculate_automatic_segments) {
    Datum key = key_argument(fcinfo, 0);
    TimestampTz as_of = as_of_argument(fcinfo, 1);
    spi::connect();
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot calculate segments");
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    MembershipContext context;
    if (segments->refers_to_manual() || segments->has_overrides())
        context = read_membership_context(key, segments->has_overrides());
    WindowTotals windows;  // windows.hpp: read only when criteria use windows
    if (segments->uses_windows()) {
        read_window_totals(key, segments->window_spans(), as_of, windows);
        customer.windows = &windows;
    }
    std::vector<int64> matched;
    segments->evaluate(customer, as_of, matched, context);
    spi::finish();
    return int64_array(matched);
}

namespace segmentation::glue {

// The lock order: tables (on Citus, the shard in scope), definitions, customers.
// The cached tracking (kept until tracked_tables changes) spares a query per
// call (the recalculate button: 7.7% of a backend's time in a profile). Held
// by shared_ptr, since taking a lock may replace the cached one (a copy of
// the whole Tracking was 0.5% of that backend's time).
void lock_tables_here() {
    std::shared_ptr<const Tracking> tracking = shared_cached_tracking();
    lock_tracked_tables(*tracking);
}

ClusterCallResult assign_automatic_here(Datum key, TimestampTz now) {
    lock_tables_here();  // before the definitions lock and the customer
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    bool with_overrides = segments->has_overrides();
    // The usual answer is "nothing to change": then no lock and no write.
    CustomerState state;
    bool remembered = false;
    if (with_overrides) {
        if (spi::run(kReadCustomerWithOverrides, {key}) == 0) unknown_customer(key, "cannot assign automatic segments");
        read_customer_state(0, state, true);
    } else {
        // Index probes without SPI (the statement's executor start-up,
        // plan check and a third probe were half the call's time in a
        // profile): the metrics row, and the assignments only when the row
        // does not remember the customer's automatic segments for these
        // definitions, under the order path's conditions
        // (SegmentSet::remembered_membership_usable). The snapshot sees this
        // transaction's own writes, as a statement's would.
        pg::call([] { CommandCounterIncrement(); });
        std::optional<int64> version;
        if (segments->remembered_membership_usable()) version = segments->version();
        if (!read_one_customer(key, version, state, remembered))
            unknown_customer(key, "cannot assign automatic segments");
    }
    if (segments->uses_windows()) read_window_totals(state.key, segments->window_spans(), now, state.windows);
    std::vector<Change> unused;
    Evaluation e = evaluate_state(state, *segments, now, Scope{}, unused);
    std::vector<Change> changes;
    if (e.membership_changed || e.due_changed) {
        // Locks the customer and evaluates it again from its assignments.
        changes = evaluate_customers({key}, now, Cause::Refresh);
        // What the row remembered disagreed with the evaluation, and the
        // assignments did not (nothing changed): the memory was wrong, and
        // is forgotten (a change has the row remember the assignments
        // instead, apply_automatic_changes).
        if (remembered && e.membership_changed && changes.empty()) forget_remembered_segments({key});
    }
    ClusterCallResult result;
    for (const Change& c : changes) (c.added ? result.added : result.removed).push_back(c.segment);
    std::sort(result.added.begin(), result.added.end());
    std::sort(result.removed.begin(), result.removed.end());
    return result;
}

bool assign_manual_here(Datum key, int64 segment, TimestampTz now) {
    std::string doing = "cannot assign segment " + std::to_string(segment) + " to customer \"" + key_text(key) + "\"";
    lock_tables_here();
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    require_manual_segment(segment, doing);
    lock_customer(key, doing);
    Datum who = actor();
    bool added = spi::run(kAddManual, {key, Int64GetDatum(segment), who, TimestampTzGetDatum(now)}) > 0;
    if (added) remember_change(key, segment, true);
    if (added) cascade_manual_change(*segments, key, segment, Attribution{who, (Datum)0, true}, now);
    return added;
}

bool remove_manual_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now) {
    std::string doing = "cannot remove segment " + std::to_string(segment) + " from customer \"" + key_text(key) + "\"";
    lock_tables_here();
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    require_manual_segment(segment, doing);
    lock_customer(key, doing);
    Datum who = actor();
    char nulls[4] = {' ', ' ', ' ', static_cast<char>(reason_null ? 'n' : ' ')};
    bool removed = spi::run(kRemoveManual, {key, Int64GetDatum(segment), who, reason}, nulls) > 0;
    if (removed) remember_change(key, segment, false);
    if (removed) cascade_manual_change(*segments, key, segment, Attribution{who, reason, reason_null}, now);
    return removed;
}

// include_customer, exclude_customer, remove_override: one path, run where
// the customer is (on Citus, on its node, through cluster_call).
bool change_override_here(Datum key, int64 segment, OverrideChange change, Datum reason, bool reason_null,
                          TimestampTz now) {
    std::string doing = override_doing(change, segment, key);
    // Tables, definitions, customer: the one lock order. Overrides change
    // what every evaluation reads (SegmentSet::has_overrides), so they are
    // made like a definition change, with the definitions lock exclusive.
    lock_tables_here();
    lock_definitions_exclusively();
    require_automatic_segment(segment, doing);
    if (spi::run(kLockCustomerForOverride, {key}) == 0 && spi::run(kLockCustomerForOverride, {key}) == 0)
        unknown_customer(key, doing);
    Attribution by{actor(), reason, reason_null};
    char nulls[6] = {' ', ' ', ' ', ' ', static_cast<char>(by.reason_null ? 'n' : ' '), ' '};
    bool changed = change == OverrideChange::Remove
                       ? spi::run(kRemoveOverride, {key, Int64GetDatum(segment), by.actor, by.reason}, nulls + 1) > 0
                       : spi::run(kSetOverride,
                                  {key, Int64GetDatum(segment), BoolGetDatum(change == OverrideChange::Include),
                                   by.actor, by.reason, TimestampTzGetDatum(now)},
                                  nulls) > 0;
    if (changed) {
        // Every backend compiles its segments again (this one at once), so
        // that all evaluations read overrides from now on.
        pg::call([] {
            CacheInvalidateRelcacheByRelid(catalog().segments);
            CommandCounterIncrement();
        });
        std::shared_ptr<const SegmentSet> segments = automatic_segments();
        Scope scope = scope_with_dependents(*segments, {segment});
        evaluate_customers({key}, now, Cause::Override, scope, &by);
    }
    return changed;
}

bool include_customer_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now) {
    return change_override_here(key, segment, OverrideChange::Include, reason, reason_null, now);
}

bool exclude_customer_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now) {
    return change_override_here(key, segment, OverrideChange::Exclude, reason, reason_null, now);
}

bool remove_override_here(Datum key, int64 segment, Datum reason, bool reason_null, TimestampTz now) {
    return change_override_here(key, segment, OverrideChange::Remove, reason, reason_null, now);
}

}  // namespace segmentation::glue

// segmentation.assign_automatic_segments(customer_id, OUT added bigint[], OUT removed bigint[])
SEGMENTATION_FUNCTION(segmentation_assign_automatic_segments) {
    Datum key = key_argument(fcinfo, 0);
    spi::connect();
    // On Citus, on the node holding the customer.
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    ClusterCallResult result = runs_on_cluster() ? cluster_call("assign_automatic_segments", key, 0, (Datum)0, true)
                                                 : assign_automatic_here(key, now);
    spi::finish();
    return composite_result(fcinfo, {int64_array(result.added), int64_array(result.removed)},
                            "assign_automatic_segments");
}

// segmentation.assign_manual_segment(customer_id, segment_id) -> boolean
SEGMENTATION_FUNCTION(segmentation_assign_manual_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    spi::connect();
    bool added = runs_on_cluster() ? cluster_call("assign_manual_segment", key, segment, (Datum)0, true).changed
                                   : assign_manual_here(key, segment, transaction_start());
    spi::finish();
    PG_RETURN_BOOL(added);
}

// segmentation.remove_manual_segment(customer_id, segment_id, reason) -> boolean
SEGMENTATION_FUNCTION(segmentation_remove_manual_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    Datum reason = PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2);
    bool reason_null = PG_ARGISNULL(2);
    spi::connect();
    bool removed = runs_on_cluster() ? cluster_call("remove_manual_segment", key, segment, reason, reason_null).changed
                                     : remove_manual_here(key, segment, reason, reason_null, transaction_start());
    spi::finish();
    PG_RETURN_BOOL(removed);
}

// segmentation.customer_segments(customer_id) -> setof (segment_id, name, criteria, is_automatic, assigned_at,
// assigned_by)
SEGMENTATION_FUNCTION(segmentation_customer_segments) {
    Datum key = key_argument(fcinfo, 0);
    spi::connect();
    Customer unused;
    if (!load_customer(key, unused)) unknown_customer(key, "cannot list segments");
    bool with_overrides = pg::call([] { return OidIsValid(overrides_relation()); });
    uint64 rows = spi::run(with_overrides ? kCustomerSegmentsWithOverrides : kCustomerSegments, {key}, nullptr, true);
    start_set_result(fcinfo);
    add_spi_rows_to_set_result(fcinfo, rows);
    spi::finish();
    return (Datum)0;
}

namespace {

// include_customer, exclude_customer, remove_override: here, or on Citus on
// the node holding the customer (`call` names the function there).
bool change_override(FunctionCallInfo fcinfo, const char* call, OverrideChange change) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    Datum reason = PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2);
    bool reason_null = PG_ARGISNULL(2);
    spi::connect();
    bool changed = runs_on_cluster()
                       ? cluster_call(call, key, segment, reason, reason_null).changed
                       : change_override_here(key, segment, change, reason, reason_null, transaction_start());
    spi::finish();
    return changed;
}

}  // namespace

// segmentation.include_customer(customer_id, segment_id, reason) -> boolean
SEGMENTATION_FUNCTION(segmentation_include_customer) {
    PG_RETURN_BOOL(change_override(fcinfo, "include_customer", OverrideChange::Include));
}

// segmentation.exclude_customer(customer_id, segment_id, reason) -> boolean
SEGMENTATION_FUNCTION(segmentation_exclude_customer) {
    PG_RETURN_BOOL(change_override(fcinfo, "exclude_customer", OverrideChange::Exclude));
}

// segmentation.remove_override(customer_id, segment_id, reason) -> boolean
SEGMENTATION_FUNCTION(segmentation_remove_override) {
    PG_RETURN_BOOL(change_override(fcinfo, "remove_override", OverrideChange::Remove));
}
