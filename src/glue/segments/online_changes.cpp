// Online segment changes (README "Changing segments online"): the one step
// that the procedures of src/sql/parts/05_segments.sql run again and again,
// each time in a transaction of its own, so that order writes never wait
// for more than one step's customers.
//
// While a change is pending, every evaluator already uses what it brings
// (segment_cache.cpp: the pending criteria of a segment being created or
// redefined; a segment being deleted is frozen). A step only brings the
// customers that nobody has evaluated since up to date.
#include <algorithm>
#include <string>
#include <vector>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/customer_scan.hpp"
#include "glue/membership/evaluation.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/segments/actor.hpp"
#include "glue/tracking/cluster_work.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;
using spi::kKeyType;

namespace {

constexpr std::size_t kStepCustomers = 5000;  // customers one step evaluates at most
// Customers one step moves at most: they stay locked until the step commits,
// so this bounds how long an order of one of them can wait for a step.
constexpr std::size_t kStepWrites = 250;
constexpr int64 kStepRemovals = 2500;  // assignments one deletion step removes

// The key share lock keeps the segment from being deleted under the step.
const spi::Statement kPendingChange = {
    "SELECT pending_change FROM segmentation.segments WHERE id = $1 FOR KEY SHARE", 1, {INT8OID}};

// The next assignments of the segment in key order (after the last one the
// step before removed: each step starts where the last ended instead of
// walking the index entries of every row removed so far), removed and
// logged; the rows come back in key order, so the last is where the next
// step starts.
#define SEGMENTATION_REMOVE_SOME(after)                                                                        \
    "WITH dropped AS ("                                                                                        \
    "  DELETE FROM segmentation.assignments AS a "                                                             \
    "  WHERE a.segment_id = $1 AND a.customer_id = ANY (ARRAY("                                                \
    "    SELECT s.customer_id FROM segmentation.assignments s WHERE s.segment_id = $1" after                   \
    "    ORDER BY s.customer_id LIMIT $2)) "                                                                   \
    "  RETURNING a.customer_id, a.segment_id, a.is_automatic), "                                               \
    "logged AS ("                                                                                              \
    "  INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor) " \
    "  SELECT customer_id, segment_id, 'removed', is_automatic, 'definition', $3 FROM dropped "                \
    "  RETURNING customer_id) "                                                                                \
    "SELECT customer_id FROM logged ORDER BY customer_id"

const spi::Statement kRemoveFirst = {SEGMENTATION_REMOVE_SOME(""), 3, {INT8OID, INT8OID, TEXTOID}};
const spi::Statement kRemoveAfter = {
    SEGMENTATION_REMOVE_SOME(" AND s.customer_id > $4"), 4, {INT8OID, INT8OID, TEXTOID, kKeyType}};

// Removes up to kStepRemovals assignments of a segment being deleted, the
// first ones (`from_start`) or those after `after`; the last one's key as
// text, or nothing when none were left. Nothing adds members to a segment
// being deleted (it is frozen), so one pass in key order removes them all.
std::optional<std::string> remove_some(int64 segment, bool from_start, Datum after) {
    uint64 rows = from_start
                      ? spi::run(kRemoveFirst, {Int64GetDatum(segment), Int64GetDatum(kStepRemovals), actor()})
                      : spi::run(kRemoveAfter, {Int64GetDatum(segment), Int64GetDatum(kStepRemovals), actor(), after});
    if (rows == 0) return std::nullopt;
    std::vector<Datum> customers(rows);
    const char* last = pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) customers[row] = spi::column(row, 1);
        return key_to_text(customers[rows - 1]);
    });
    for (Datum customer : customers) remember_change(customer, segment, false);
    return std::string(last);
}

// Evaluates the segment for up to kStepCustomers customers after `after`
// (from the first when `from_start`), writing what changed; the last
// customer's key, or nothing at the end.
std::optional<Datum> evaluate_some(int64 segment, bool from_start, Datum after) {
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    Scope scope = scope_with_dependents(*segments, {segment});
    OverriddenCustomers overridden;
    overridden.load(segments->has_overrides());
    CustomerScan scan;
    if (!segments->uses_attributes()) scan.skip_attributes();
    if (from_start)
        scan.open();
    else
        scan.open_after(after);
    std::vector<CustomerState> batch;
    std::size_t count = scan.next(batch, kStepCustomers);
    scan.close();
    if (count == 0) return std::nullopt;
    // Only customers whose membership or due time must change are locked,
    // read again and written (their own writers may have evaluated them
    // meanwhile). The due time only ever moves earlier here: the new criteria
    // may change with the clock sooner than the old.
    std::vector<Datum> stale;
    std::size_t covered = collect_stale_customers(batch, *segments, now, scope, overridden, stale, kStepWrites);
    evaluate_customers(stale, now, Cause::Definition, scope);
    return batch[covered - 1].key;  // the next step starts after the last customer this one covered
}

// The segment's pending change ("" when none); 42704 when it does not exist.
std::string pending_change(int64 segment) {
    if (spi::run(kPendingChange, {Int64GetDatum(segment)}) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, "segment " + std::to_string(segment) + " does not exist");
    return pg::call([]() -> const char* {
        bool null;
        Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null);
        return null ? "" : TextDatumGetCString(value);
    });
}

// The step's work where the customers are: on one server, or on Citus for
// the shard group in scope. The last customer covered (as text), or nothing
// when no work was left.
std::optional<std::string> step_here(int64 segment, const std::string& change, std::optional<Datum> after) {
    if (change == "deleting") return remove_some(segment, !after.has_value(), after.value_or((Datum)0));
    std::optional<Datum> last = evaluate_some(segment, !after.has_value(), after.value_or((Datum)0));
    if (!last) return std::nullopt;
    return std::string(pg::call([&] { return key_to_text(*last); }));
}

}  // namespace

namespace segmentation::glue {

std::optional<std::string> change_step_here(int64 segment, const std::optional<std::string>& after) {
    std::string change = pending_change(segment);
    if (change.empty()) return std::nullopt;  // completed meanwhile: nothing to do
    std::optional<Datum> key;
    if (after)
        key = pg::call([&] {
            Oid input, parameter;
            getTypeInputInfo(catalog().key_type, &input, &parameter);
            return OidInputFunctionCall(input, const_cast<char*>(after->c_str()), parameter, -1);
        });
    return step_here(segment, change, key);
}

}  // namespace segmentation::glue

// segmentation.segment_change_step(segment_id bigint, after text) -> text:
// one step of the segment's pending change. Returns where the next step
// starts (a customer key, as text), or NULL when the change has no work left
// and can be completed.
SEGMENTATION_FUNCTION(segmentation_segment_change_step) {
    require_argument(fcinfo, 0, "segment id");
    int64 segment = pg::call([&] { return PG_GETARG_INT64(0); });
    bool from_start = pg::call([&] { return PG_ARGISNULL(1); });
    spi::connect();
    // The lock order: tracked tables, definitions, customers.
    lock_tracked_tables(read_tracking());
    lock_definitions_shared();
    std::string change = pending_change(segment);
    if (change.empty())
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "segment " + std::to_string(segment) + " has no online change in progress");
    summarize_changes();
    std::optional<Datum> after;
    if (!from_start) after = pg::call([&] { return customer_key_argument(fcinfo, 1); });
    // Where the next step starts. On Citus, each node does the step on each
    // of its shard groups (cluster_work.hpp).
    std::optional<std::string> next;
    if (runs_on_cluster()) {
        std::optional<std::string> after_text;
        if (after) after_text = std::string(pg::call([&] { return key_to_text(*after); }));
        next = cluster_change_step(segment, after_text);
    } else {
        next = step_here(segment, change, after);
    }
    spi::finish();  // frees the step's memory: the result is made after it
    if (!next) PG_RETURN_NULL();
    return pg::call([&] { return CStringGetTextDatum(next->c_str()); });
}
