// Assignments as SQL functions: calculate_automatic_segments(),
// assign_automatic_segments(), assign_manual_segment(),
// remove_manual_segment(), customer_segments().
#include <algorithm>
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
#include "glue/membership/evaluation.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;
using spi::kKeyType;

char* segmentation_actor_setting = nullptr;  // the segmentation.actor GUC

namespace {

const spi::Statement kLockCustomerKey = {
    "SELECT 1 FROM segmentation.customer_metrics WHERE customer_id = $1 FOR KEY SHARE", 1, {kKeyType}};

// A customer's state, read without a lock: assign_automatic_segments()
// writes (and locks) only when this shows something to change.
const spi::Statement kReadCustomer = {"SELECT " SEGMENTATION_STATE_COLUMNS
                                      " FROM segmentation.customer_metrics m WHERE m.customer_id = $1",
                                      1,
                                      {kKeyType}};

const spi::Statement kLockSegment = {
    "SELECT name, is_automatic FROM segmentation.segments WHERE id = $1 FOR KEY SHARE", 1, {INT8OID}};

const spi::Statement kAddManual = {
    "WITH added AS ("
    "  INSERT INTO segmentation.assignments (customer_id, segment_id, is_automatic, assigned_at, assigned_by) "
    "  VALUES ($1, $2, false, now(), $3) ON CONFLICT (customer_id, segment_id) DO NOTHING RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor) "
    "SELECT $1, $2, 'added', false, 'manual', $3 FROM added RETURNING 1",
    3,
    {kKeyType, INT8OID, TEXTOID}};

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

// Who is acting: the segmentation.actor setting when the application sets
// it (SET LOCAL segmentation.actor = 'alice@example.com'), otherwise the
// role the session acts as (outside any SECURITY DEFINER function).
Datum actor() {
    return pg::call([] {
        if (segmentation_actor_setting != nullptr && segmentation_actor_setting[0] != '\0')
            return CStringGetTextDatum(segmentation_actor_setting);
        return CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
    });
}

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

}  // namespace

// segmentation.calculate_automatic_segments(customer_id, timestamptz) -> bigint[]
SEGMENTATION_FUNCTION(segmentation_calculate_automatic_segments) {
    Datum key = key_argument(fcinfo, 0);
    TimestampTz as_of = as_of_argument(fcinfo, 1);
    spi::connect();
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot calculate segments");
    std::vector<int64> matched;
    automatic_segments()->evaluate(customer, as_of, matched);
    spi::finish();
    return int64_array(matched);
}

// segmentation.assign_automatic_segments(customer_id, OUT added bigint[], OUT removed bigint[])
SEGMENTATION_FUNCTION(segmentation_assign_automatic_segments) {
    Datum key = key_argument(fcinfo, 0);
    spi::connect();
    require_single_node("assign_automatic_segments");
    lock_tracked_tables(read_tracking());  // before the definitions lock and the customer
    if (spi::run(kReadCustomer, {key}) == 0) unknown_customer(key, "cannot assign automatic segments");
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    // The usual answer is "nothing to change": then no lock and no write.
    CustomerState state;
    read_customer_state(0, state);
    std::vector<Change> unused;
    Evaluation e = evaluate_state(state, *automatic_segments(), now, Scope{}, unused);
    std::vector<Change> changes;
    if (e.membership_changed || e.due_changed) changes = evaluate_customers({key}, now, Cause::Refresh);
    std::vector<int64> added, removed;
    for (const Change& c : changes) (c.added ? added : removed).push_back(c.segment);
    std::sort(added.begin(), added.end());
    std::sort(removed.begin(), removed.end());
    spi::finish();
    return composite_result(fcinfo, {int64_array(added), int64_array(removed)}, "assign_automatic_segments");
}

// segmentation.assign_manual_segment(customer_id, segment_id) -> boolean
SEGMENTATION_FUNCTION(segmentation_assign_manual_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    std::string doing = "cannot assign segment " + std::to_string(segment) + " to customer \"" + key_text(key) + "\"";
    spi::connect();
    require_single_node("assign_manual_segment");
    require_manual_segment(segment, doing);
    lock_customer(key, doing);
    Datum who = actor();
    bool added = spi::run(kAddManual, {key, Int64GetDatum(segment), who}) > 0;
    if (added) remember_change(key, segment, true);
    spi::finish();
    PG_RETURN_BOOL(added);
}

// segmentation.remove_manual_segment(customer_id, segment_id, reason) -> boolean
SEGMENTATION_FUNCTION(segmentation_remove_manual_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    std::string doing = "cannot remove segment " + std::to_string(segment) + " from customer \"" + key_text(key) + "\"";
    spi::connect();
    require_single_node("remove_manual_segment");
    require_manual_segment(segment, doing);
    lock_customer(key, doing);
    Datum who = actor();
    Datum reason = PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2);
    char nulls[4] = {' ', ' ', ' ', static_cast<char>(PG_ARGISNULL(2) ? 'n' : ' ')};
    bool removed = spi::run(kRemoveManual, {key, Int64GetDatum(segment), who, reason}, nulls) > 0;
    if (removed) remember_change(key, segment, false);
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
    uint64 rows = spi::run(kCustomerSegments, {key}, nullptr, true);
    start_set_result(fcinfo);
    add_spi_rows_to_set_result(fcinfo, rows);
    spi::finish();
    return (Datum)0;
}
