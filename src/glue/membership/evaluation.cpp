#include "glue/membership/evaluation.hpp"

#include <algorithm>

#include "core/membership.hpp"

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/results.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/windows.hpp"

namespace segmentation::glue {

static_assert(kEndOfTimestamps == END_TIMESTAMP, "core/membership.hpp: PostgreSQL's END_TIMESTAMP");

using spi::kKeyArrayType;

namespace {

// Locks in key order so that two statements touching the same customers
// cannot deadlock.
const spi::Statement kLockCustomers = {
    "SELECT 1 FROM segmentation.customer_metrics WHERE customer_id = ANY($1) "
    "ORDER BY customer_id FOR NO KEY UPDATE",
    1,
    {kKeyArrayType}};

const spi::Statement kLockCustomersForRemoval = {
    "SELECT 1 FROM segmentation.customer_metrics WHERE customer_id = ANY($1) "
    "ORDER BY customer_id FOR UPDATE",
    1,
    {kKeyArrayType}};

// Read after locking, so in READ COMMITTED this sees every committed change
// to these customers' assignments.
const spi::Statement kReadCustomers = {"SELECT " SEGMENTATION_STATE_COLUMNS
                                       " FROM segmentation.customer_metrics m WHERE m.customer_id = ANY($1)",
                                       1,
                                       {kKeyArrayType}};
const spi::Statement kReadCustomersWithOverrides = {
    "SELECT " SEGMENTATION_STATE_COLUMNS_WITH_OVERRIDES
    " FROM segmentation.customer_metrics m WHERE m.customer_id = ANY($1)",
    1,
    {kKeyArrayType}};

const spi::Statement kReadContext = {
    "SELECT ARRAY(SELECT a.segment_id FROM segmentation.assignments a "
    "             WHERE a.customer_id = $1 AND NOT a.is_automatic ORDER BY a.segment_id)",
    1,
    {spi::kKeyType}};
const spi::Statement kReadContextWithOverrides = {
    "SELECT ARRAY(SELECT a.segment_id FROM segmentation.assignments a "
    "             WHERE a.customer_id = $1 AND NOT a.is_automatic ORDER BY a.segment_id), "
    "       ARRAY(SELECT o.segment_id FROM segmentation.overrides o "
    "             WHERE o.customer_id = $1 AND o.included ORDER BY o.segment_id), "
    "       ARRAY(SELECT o.segment_id FROM segmentation.overrides o "
    "             WHERE o.customer_id = $1 AND NOT o.included ORDER BY o.segment_id)",
    1,
    {spi::kKeyType}};

// PG-style: an int64 array column (of ARRAY(SELECT ...), never NULL, no NULLs).
SEGMENTATION_PG_CONTEXT void read_ids(uint64 row, int column, std::vector<int64>& ids) {
    int64s_of_array(DatumGetArrayTypeP(spi::column(row, column)), ids);
}

const spi::Statement kAddAutomatic = {
    "WITH added AS ("
    "  INSERT INTO segmentation.assignments AS a (customer_id, segment_id, is_automatic, assigned_at) "
    "  SELECT u.c, u.s, true, now() FROM unnest($1::{key}[], $2::bigint[]) AS u(c, s) "
    "  ON CONFLICT (customer_id, segment_id) DO NOTHING "
    "  RETURNING a.customer_id, a.segment_id) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor, reason) "
    "SELECT customer_id, segment_id, 'added', true, $3, $4, $5 FROM added "
    "RETURNING customer_id, segment_id",
    5,
    {kKeyArrayType, INT8ARRAYOID, TEXTOID, TEXTOID, TEXTOID}};

const spi::Statement kRemoveAutomatic = {
    "WITH removed AS ("
    "  DELETE FROM segmentation.assignments AS a USING unnest($1::{key}[], $2::bigint[]) AS u(c, s) "
    "  WHERE a.customer_id = u.c AND a.segment_id = u.s AND a.is_automatic "
    "  RETURNING a.customer_id, a.segment_id) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor, reason) "
    "SELECT customer_id, segment_id, 'removed', true, $3, $4, $5 FROM removed "
    "RETURNING customer_id, segment_id",
    5,
    {kKeyArrayType, INT8ARRAYOID, TEXTOID, TEXTOID, TEXTOID}};

const spi::Statement kForgetRememberedSegments = {
    "UPDATE segmentation.customer_metrics SET automatic_segments = NULL, segments_version = NULL "
    "WHERE customer_id = ANY($1) AND automatic_segments IS NOT NULL",
    1,
    {kKeyArrayType}};

// What the assignments now hold, remembered under `version` by rows that
// remembered something before: only those read their assignments, and a
// row that remembers nothing is not rewritten (its next order remembers).
const spi::Statement kRememberAssignedSegments = {
    "WITH assigned AS ("
    "  SELECT r.customer_id AS c, ARRAY(SELECT a.segment_id FROM segmentation.assignments a "
    "                                  WHERE a.customer_id = r.customer_id AND a.is_automatic "
    "                                  ORDER BY a.segment_id) AS ids "
    "  FROM segmentation.customer_metrics r "
    "  WHERE r.customer_id = ANY($1) AND r.automatic_segments IS NOT NULL) "
    "UPDATE segmentation.customer_metrics AS m SET automatic_segments = assigned.ids, segments_version = $2 "
    "FROM assigned WHERE m.customer_id = assigned.c "
    "AND (m.automatic_segments IS DISTINCT FROM assigned.ids OR m.segments_version IS DISTINCT FROM $2)",
    2,
    {kKeyArrayType, INT8OID}};

const spi::Statement kSetReevaluateAt = {
    "UPDATE segmentation.customer_metrics AS m SET reevaluate_at = u.t "
    "FROM unnest($1::{key}[], $2::timestamptz[]) AS u(c, t) WHERE m.customer_id = u.c",
    2,
    {kKeyArrayType, TIMESTAMPTZARRAYOID}};

Datum keys_array(const std::vector<Datum>& keys) {
    return pg::call([&] { return key_array(keys.data(), static_cast<int>(keys.size())); });
}

Datum timestamps_array(const std::vector<std::optional<TimestampTz>>& times) {
    return pg::call([&] {
        Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * (times.size() + 1)));
        bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * (times.size() + 1)));
        for (std::size_t i = 0; i < times.size(); ++i) {
            nulls[i] = !times[i].has_value();
            items[i] = nulls[i] ? (Datum)0 : TimestampTzGetDatum(*times[i]);
        }
        int dims[1] = {static_cast<int>(times.size())};
        int lower[1] = {1};
        return PointerGetDatum(
            construct_md_array(items, nulls, 1, dims, lower, TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE));
    });
}

// Runs an add or remove statement and collects what it really changed.
void apply(const spi::Statement& statement, const std::vector<Change>& changes, bool added, Cause cause,
           const Attribution* by, std::vector<Change>& applied) {
    std::vector<Datum> keys;
    std::vector<int64> segments;
    for (const Change& c : changes) {
        if (c.added != added) continue;
        keys.push_back(c.customer);
        segments.push_back(c.segment);
    }
    if (keys.empty()) return;
    Datum cause_text = pg::call([cause] { return CStringGetTextDatum(cause_name(cause)); });
    char nulls[6] = "   nn";
    Datum actor = 0, reason = 0;
    if (by != nullptr) {
        actor = by->actor;
        nulls[3] = ' ';
        if (!by->reason_null) reason = by->reason, nulls[4] = ' ';
    }
    uint64 rows = spi::run(statement, {keys_array(keys), int64_array(segments), cause_text, actor, reason}, nulls);
    std::size_t first = applied.size();
    applied.resize(first + rows);
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            Change& c = applied[first + row];
            c.added = added;
            c.customer = spi::column(row, 1);
            c.segment = spi::int64_column(row, 2);
        }
    });
    for (std::size_t i = first; i < applied.size(); ++i)
        remember_change(applied[i].customer, applied[i].segment, applied[i].added);
}

}  // namespace

bool Scope::covers(int64 segment) const {
    return segments.empty() || std::binary_search(segments.begin(), segments.end(), segment);
}

Scope scope_with_dependents(const SegmentSet& segments, const std::vector<int64>& changed) {
    Scope scope;
    scope.segments = segments.dependents(changed);
    scope.segments.insert(scope.segments.end(), changed.begin(), changed.end());
    std::sort(scope.segments.begin(), scope.segments.end());
    scope.segments.erase(std::unique(scope.segments.begin(), scope.segments.end()), scope.segments.end());
    return scope;
}

const char* cause_name(Cause cause) {
    switch (cause) {
        case Cause::Order: return "order";
        case Cause::Customer: return "customer";
        case Cause::Definition: return "definition";
        case Cause::Time: return "time";
        case Cause::Refresh: return "refresh";
        case Cause::Manual: return "manual";
        case Cause::Override: return "override";
    }
    return "refresh";
}

void read_customer_state(uint64 row, CustomerState& state, bool with_overrides) {
    const char* attributes = pg::call([&] {
        bool null;
        Datum value = spi::column(row, 10, &null);
        return attributes_text(value, null);
    });
    read_attribute_values(attributes, state.attributes);
    pg::call([&] {
        state.key = spi::column(row, 1);
        state.customer = customer_from_values(metric_values_from_spi(row, 2), state.key);
        state.reevaluate_at = spi::timestamp_column(row, 7);
        read_ids(row, 8, state.current);
        read_ids(row, 9, state.context.manual);
        if (with_overrides) {
            read_ids(row, 11, state.context.included);  // after the attributes
            read_ids(row, 12, state.context.excluded);
        } else {
            state.context.included.clear();
            state.context.excluded.clear();
        }
    });
}

MembershipContext read_membership_context(Datum key, bool with_overrides) {
    MembershipContext context;
    spi::run(with_overrides ? kReadContextWithOverrides : kReadContext, {key});
    pg::call([&] {
        read_ids(0, 1, context.manual);
        if (with_overrides) {
            read_ids(0, 2, context.included);
            read_ids(0, 3, context.excluded);
        }
    });
    return context;
}

std::vector<int64> segments_at(Datum key, const Customer& customer, TimestampTz as_of,
                               const std::vector<int64>& referenced, const std::string& doing) {
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    MembershipContext context = read_membership_context(key, segments->has_overrides());
    for (int64 segment : referenced)
        if (!segments->contains(segment) && !segment_exists(segment))
            throw Error(ERRCODE_UNDEFINED_OBJECT,
                        doing + ": criteria refer to segment " + std::to_string(segment) + ", which does not exist");
    std::vector<int64> members;
    segments->evaluate(customer, as_of, members, context);
    members.insert(members.end(), context.manual.begin(), context.manual.end());
    std::sort(members.begin(), members.end());
    return members;
}

Evaluation evaluate_state(const CustomerState& state, const SegmentSet& segments, TimestampTz as_of, const Scope& scope,
                          std::vector<Change>& changes) {
    static std::vector<int64> matched;  // reused: no allocation per customer
    matched.clear();
    Evaluation result;
    Customer customer = state.customer;
    customer.attributes = &state.attributes;
    customer.windows = &state.windows;
    result.due_at = storable_instant(segments.evaluate(customer, as_of, matched, state.context));
    for_each_membership_change(matched, state.current, [&](int64 segment, bool added) {
        if (!scope.covers(segment) || segments.frozen(segment)) return;
        changes.push_back(Change{state.key, segment, added});
        result.membership_changed = true;
    });
    result.due_changed =
        due_time_to_store(state.reevaluate_at, result.due_at, as_of, scope.all()) != state.reevaluate_at;
    return result;
}

void lock_customers(const std::vector<Datum>& keys, bool for_removal) {
    if (keys.empty()) return;
    spi::run(for_removal ? kLockCustomersForRemoval : kLockCustomers, {keys_array(keys)});
}

std::vector<Change> evaluate_customers(const std::vector<Datum>& keys, TimestampTz as_of, Cause cause,
                                       const Scope& scope, const Attribution* by) {
    if (keys.empty()) return {};
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    Datum key_list = keys_array(keys);
    spi::run(kLockCustomers, {key_list});
    bool with_overrides = segments->has_overrides();
    uint64 rows = spi::run(with_overrides ? kReadCustomersWithOverrides : kReadCustomers, {key_list});

    std::vector<Change> changes;
    std::vector<Datum> due_keys;
    std::vector<std::optional<TimestampTz>> due_times;
    std::vector<CustomerState> states(rows);
    for (uint64 row = 0; row < rows; ++row) read_customer_state(row, states[row], with_overrides);
    read_window_totals(states, *segments, as_of);  // windows.hpp: nothing unless criteria use windows
    for (const CustomerState& state : states) {
        poll_interrupts();
        Evaluation e = evaluate_state(state, *segments, as_of, scope, changes);
        if (e.due_changed) {
            due_keys.push_back(state.key);
            due_times.push_back(e.due_at);
        }
    }
    return write_evaluations(changes, due_keys, due_times, cause, by);
}

std::vector<Change> write_evaluations(const std::vector<Change>& changes, const std::vector<Datum>& due_keys,
                                      const std::vector<std::optional<TimestampTz>>& due_times, Cause cause,
                                      const Attribution* by) {
    if (!due_keys.empty()) spi::run(kSetReevaluateAt, {keys_array(due_keys), timestamps_array(due_times)});
    return apply_automatic_changes(changes, cause, by);
}

std::vector<Change> apply_automatic_changes(const std::vector<Change>& changes, Cause cause, const Attribution* by) {
    std::vector<Change> applied;
    apply(kAddAutomatic, changes, true, cause, by, applied);
    apply(kRemoveAutomatic, changes, false, cause, by, applied);
    // The rows of customers whose automatic segments changed remember what
    // they are in now, or forget when that cannot be remembered. A
    // definition change need not: it changes a segment's row, hence the
    // definitions version, which no remembered membership then matches; an
    // online change's steps run while a change is pending, when nothing
    // remembered is used.
    if (!applied.empty() && cause != Cause::Definition) {
        std::vector<Datum> keys;
        for (const Change& c : applied) keys.push_back(c.customer);
        remember_assigned_segments(keys);
    }
    return applied;
}

void remember_assigned_segments(const std::vector<Datum>& keys) {
    if (keys.empty() || !pg::call([] { return catalog().remembers_membership; })) return;
    // The full set in force (not a pass's limited one): its version and
    // whether orders may use what is remembered.
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    if (segments->remembered_membership_usable())
        spi::run(kRememberAssignedSegments, {keys_array(keys), Int64GetDatum(segments->version())});
    else
        forget_remembered_segments(keys);
}

void forget_remembered_segments(const std::vector<Datum>& keys) {
    if (keys.empty() || !pg::call([] { return catalog().remembers_membership; })) return;
    spi::run(kForgetRememberedSegments, {keys_array(keys)});
}

}  // namespace segmentation::glue
