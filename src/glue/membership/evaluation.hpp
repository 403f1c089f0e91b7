// Automatic membership: evaluating customers against the automatic segments
// and writing what changed (assignments, the log, notifications, and when
// each customer must next be looked at).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/matcher.hpp"
#include "core/windows.hpp"
#include "glue/boundary/guard.hpp"
#include "glue/boundary/metric_values.hpp"

namespace segmentation::glue {

// Why membership changed, as recorded in assignment_log.cause.
enum class Cause { Order, Customer, Definition, Time, Refresh, Manual, Override };
const char* cause_name(Cause cause);

// Who made a change by hand, for the log rows of the automatic changes it
// causes (a manual assignment cascading through inSegment, an override).
struct Attribution {
    Datum actor;   // text
    Datum reason;  // text, unless reason_null
    bool reason_null;
};

struct Change {
    Datum customer;  // a key of the key type
    int64 segment;
    bool added;  // false: removed
};

// What limits an evaluation: the membership of some segments (those whose
// definition changed, ascending) or, when empty, of all of them.
struct Scope {
    std::vector<int64> segments;
    bool all() const { return segments.empty(); }
    bool covers(int64 segment) const;
};

// The scope of a change to `changed`: those segments and every segment whose
// criteria refer to them (inSegment, notInSegment), directly or through
// others, which move with them.
Scope scope_with_dependents(const SegmentSet& segments, const std::vector<int64>& changed);

// A customer as stored: metrics, automatic segments, due time, and what
// else decides its membership (manual segments, overrides).
struct CustomerState {
    Datum key;
    Customer customer;  // its attributes are `attributes` (evaluate_state points it there)
    std::optional<TimestampTz> reevaluate_at;
    std::vector<int64> current;  // automatic segments it is in, ascending
    AttributeValues attributes;
    MembershipContext context;  // manual segments and overrides
    // Totals of its in-window orders (windows.hpp), read apart from the
    // row when some segment's criteria use windows (evaluate_state points
    // customer.windows here).
    WindowTotals windows;
};

// The columns a statement must select, in order, for read_customer_state(),
// from customer_metrics aliased m.
#define SEGMENTATION_STATE_COLUMNS                                                              \
    "m.customer_id, " SEGMENTATION_METRIC_COLUMNS                                               \
    ", m.reevaluate_at, "                                                                       \
    "ARRAY(SELECT a.segment_id FROM segmentation.assignments a "                                \
    "      WHERE a.customer_id = m.customer_id AND a.is_automatic ORDER BY a.segment_id), "     \
    "ARRAY(SELECT a.segment_id FROM segmentation.assignments a "                                \
    "      WHERE a.customer_id = m.customer_id AND NOT a.is_automatic ORDER BY a.segment_id), " \
    "{attributes}"

// The same followed by the customer's overrides (included, then excluded),
// for when some customer has one (SegmentSet::has_overrides(); the table is
// new in 1.1).
#define SEGMENTATION_STATE_COLUMNS_WITH_OVERRIDES                                       \
    SEGMENTATION_STATE_COLUMNS                                                          \
    ", "                                                                                \
    "ARRAY(SELECT o.segment_id FROM segmentation.overrides o "                          \
    "      WHERE o.customer_id = m.customer_id AND o.included ORDER BY o.segment_id), " \
    "ARRAY(SELECT o.segment_id FROM segmentation.overrides o "                          \
    "      WHERE o.customer_id = m.customer_id AND NOT o.included ORDER BY o.segment_id)"

// Decodes row `row` of SPI_tuptable (selected with SEGMENTATION_STATE_COLUMNS,
// or with SEGMENTATION_STATE_COLUMNS_WITH_OVERRIDES when `with_overrides`).
void read_customer_state(uint64 row, CustomerState& state, bool with_overrides = false);

// A customer's manual segments and overrides (when `with_overrides`), read
// now. Needs SPI.
MembershipContext read_membership_context(Datum key, bool with_overrides);

// The segments a customer is in at `as_of`, ascending: its automatic
// segments evaluated (in the order of their references, with its overrides)
// and its manual segments as assigned. `customer` is the one load_customer()
// read for `key`. Each of `referenced` must exist, else 42704 prefixed with
// `doing`. Needs SPI.
std::vector<int64> segments_at(Datum key, const Customer& customer, TimestampTz as_of,
                               const std::vector<int64>& referenced, const std::string& doing);

struct Evaluation {
    bool membership_changed = false;
    bool due_changed = false;           // reevaluate_at must be set to due_at (see evaluate_state)
    std::optional<TimestampTz> due_at;  // when the result may next change with time
};

// Evaluates one customer, appending what must change to `changes`.
Evaluation evaluate_state(const CustomerState& state, const SegmentSet& segments, TimestampTz as_of, const Scope& scope,
                          std::vector<Change>& changes);

// Writes automatic changes: assignments, log rows and notifications. Returns
// the changes that took effect (a concurrent writer may have made some).
std::vector<Change> apply_automatic_changes(const std::vector<Change>& changes, Cause cause,
                                            const Attribution* by = nullptr);

// Forgets the automatic segments the rows of these customers remember for
// the order path (customer_metrics.automatic_segments), so that their next
// order reads the assignments. Needs SPI; the customers should be locked.
void forget_remembered_segments(const std::vector<Datum>& keys);

// After their automatic assignments changed: the rows of these customers that
// remember their automatic segments remember them as the assignments now
// hold them, under the definitions version in force, where the order path
// would use them; elsewhere they forget. Needs SPI; the customers should be
// locked.
void remember_assigned_segments(const std::vector<Datum>& keys);

// Locks customers' metrics rows in key order, for changing their metrics
// (FOR NO KEY UPDATE) or removing them (FOR UPDATE). In READ COMMITTED, the
// statements that follow see every change committed to those customers
// before the locks were granted: lock first, then read and write.
void lock_customers(const std::vector<Datum>& keys, bool for_removal = false);

// Evaluates the given customers at `as_of` and makes their automatic
// assignments and reevaluate_at match. Customers are locked first (in key
// order) so concurrent evaluations of one customer serialize; unknown keys
// are skipped. Returns the changes that took effect. Needs SPI.
std::vector<Change> evaluate_customers(const std::vector<Datum>& keys, TimestampTz as_of, Cause cause,
                                       const Scope& scope = {}, const Attribution* by = nullptr);

// Writes what evaluations found: the due times (reevaluate_at of
// `due_keys`, NULL where a time is absent) and the changes, as
// evaluate_customers does after its reads. Returns the changes that took
// effect. Needs SPI.
std::vector<Change> write_evaluations(const std::vector<Change>& changes, const std::vector<Datum>& due_keys,
                                      const std::vector<std::optional<TimestampTz>>& due_times, Cause cause,
                                      const Attribution* by = nullptr);

}  // namespace segmentation::glue
