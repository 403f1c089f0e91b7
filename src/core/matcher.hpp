// Compiled criteria: thresholds converted once into the units the metrics are
// stored in, so that matching a customer is integer comparisons only.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/criteria.hpp"
#include "core/customer.hpp"

namespace segmentation {

// Which segments a customer is in, for inSegment / notInSegment tests.
class MembershipView {
public:
    virtual bool is_member(std::int64_t segment) const noexcept = 0;

protected:
    ~MembershipView() = default;
};

// A view from a list of segment ids, ascending.
class MemberList final : public MembershipView {
public:
    explicit MemberList(std::vector<std::int64_t> segments) : segments_(std::move(segments)) {}
    bool is_member(std::int64_t segment) const noexcept override;
    const std::vector<std::int64_t>& segments() const noexcept { return segments_; }

private:
    std::vector<std::int64_t> segments_;
};

// What decides a customer's membership besides the criteria of automatic
// segments: its manual segments and the overrides of automatic ones.
struct MembershipContext {
    std::vector<std::int64_t> manual;    // manual segments it is in, ascending
    std::vector<std::int64_t> included;  // automatic segments it is included in whatever the criteria, ascending
    std::vector<std::int64_t> excluded;  // automatic segments it is never in, ascending
    bool empty() const noexcept { return manual.empty() && included.empty() && excluded.empty(); }
};

namespace detail {

// Metric values of one customer at one instant, derived once and shared by
// every test of every segment evaluated for that customer.
struct Facts {
    std::int64_t order_count;
    exact::MoneyKey lifetime_value;
    bool has_recency;
    exact::int128 recency;  // as_of - last order, in microseconds
    bool has_tenure;
    exact::int128 tenure;  // as_of - customer since, in microseconds
    Micros as_of;
    const std::optional<std::string_view>* loyalty_level;
    const AttributeValues* attributes;  // may be null: no attribute has a value
    const MembershipView* membership;   // null: membership tests do not hold
    const WindowTotals* windows;        // null: window tests do not hold
};

enum class TestKind : std::uint8_t {
    OrdersAtLeast,
    OrdersAtMost,
    ValueAtLeast,
    ValueAtMost,
    AverageAtLeast,
    AverageAtMost,
    RecencyAtLeast,
    RecencyAtMost,
    TenureAtLeast,
    TenureAtMost,
    FrequencyAtLeast,
    FrequencyAtMost,
};

struct Test {
    TestKind kind;
    exact::int128 limit;  // in the unit of the metric it tests (see matcher.cpp)
};

// One test of a customer attribute (criteria "attributes").
struct AttributeTest {
    enum class Op : std::uint8_t { IsNull, IsNotNull, TextIn, NumberIn, BooleanIs, AtLeast, AtMost };
    Op op;
    std::string name;
    std::vector<std::string> texts;        // TextIn
    std::vector<exact::MoneyKey> numbers;  // NumberIn: twice the units (comparable with MoneyKey)
    bool boolean = false;                  // BooleanIs
    exact::MoneyKey limit = 0;             // AtLeast, AtMost: twice the units
};

// inSegment (in one of `segments`) or notInSegment (in none of them).
struct MembershipCheck {
    bool negated;
    std::vector<std::int64_t> segments;
};

// One "window" condition: bounds on the orders and spend of one span.
struct WindowTest {
    Micros span;  // window_span(days)
    bool has_min_orders, has_max_orders, has_min_spend, has_max_spend;
    exact::int128 min_orders, max_orders;  // whole orders (rounded up, down)
    exact::MoneyKey min_spend, max_spend;  // threshold keys (twice the units)
};

struct Group {
    enum class Kind : std::uint8_t { All, Any, Not };
    Kind kind = Kind::All;
    std::vector<Test> tests;
    std::vector<MembershipCheck> memberships;
    bool has_loyalty_levels = false;
    std::vector<std::string> loyalty_levels;
    std::vector<AttributeTest> attribute_tests;
    std::vector<WindowTest> windows;
    std::vector<Group> children;
};

}  // namespace detail

// A bound's threshold in the unit its metric is compared in: whole orders,
// and whole microseconds for recency and tenure, rounded so that integer
// comparisons stay exact (up for minimums, down for maximums); 10^-18 units
// for money, average order value and frequency.
exact::int128 comparable_limit(const Bound& bound) noexcept;

class Matcher {
public:
    explicit Matcher(const Criteria& criteria);

    // Without a membership view, inSegment and notInSegment tests do not
    // hold: callers check uses_membership() first.
    bool matches(const Customer& customer, Micros as_of) const noexcept;
    bool matches(const Customer& customer, Micros as_of, const MembershipView& membership) const noexcept;

    // The earliest instant after as_of at which matches() may answer
    // differently for this customer when only the clock moves; nothing when
    // the answer can no longer change that way. Conservative: it may name an
    // instant at which the answer turns out unchanged, never a late one.
    std::optional<Micros> next_change(const Customer& customer, Micros as_of) const noexcept;

    // True when some test depends on the clock (recency, tenure, frequency).
    bool uses_time() const noexcept { return uses_time_; }

    // True when some test is a "window": matching needs the customer's
    // WindowTotals for each of window_spans() (ascending, without repeats).
    bool uses_windows() const noexcept { return !window_spans_.empty(); }
    const std::vector<Micros>& window_spans() const noexcept { return window_spans_; }

    // True when some test is on a customer attribute: matching needs
    // Customer::attributes.
    bool uses_attributes() const noexcept { return uses_attributes_; }

    // True when some test is inSegment or notInSegment.
    bool uses_membership() const noexcept { return !references_.empty(); }
    // The segments those tests name, ascending, without repeats.
    const std::vector<std::int64_t>& references() const noexcept { return references_; }

    // Evaluation over facts already derived (see SegmentSet).
    bool matches(const detail::Facts& facts) const noexcept;
    void earliest_change(const Customer& customer, const detail::Facts& facts,
                         std::optional<Micros>& earliest) const noexcept;

private:
    detail::Group root_;
    bool uses_time_ = false;
    bool uses_attributes_ = false;
    std::vector<std::int64_t> references_;
    std::vector<Micros> window_spans_;
};

detail::Facts derive_facts(const Customer& customer, Micros as_of) noexcept;

// The automatic segments of a shop, evaluated together: the facts of a
// customer are derived once for all of them. Segments that refer to others
// (inSegment, notInSegment) are evaluated after them: a customer's
// membership of an automatic segment is its criteria's answer, unless an
// override includes or excludes it.
class SegmentSet {
public:
    // Segments are added in ascending id order.
    void add(std::int64_t segment_id, Matcher matcher);
    // Orders the segments by their references (references.hpp); throws
    // ReferenceCycle. Call once, after the last add().
    void order_by_references();
    // A segment being deleted online (segmentation.delete_segment_concurrently):
    // not evaluated, and its assignments are neither added nor removed by
    // evaluation, only by the deletion's own batches.
    void freeze(std::int64_t segment_id);
    bool frozen(std::int64_t segment_id) const;
    std::size_t size() const noexcept { return segments_.size(); }
    bool empty() const noexcept { return segments_.empty(); }

    // Appends to `matched` the ids of the segments the customer is in,
    // ascending, and returns the earliest instant after as_of at which any
    // of them may change with the clock alone. `context` gives its manual
    // segments (for references to them) and its overrides.
    std::optional<Micros> evaluate(const Customer& customer, Micros as_of, std::vector<std::int64_t>& matched,
                                   const MembershipContext& context = {}) const;

    // The window spans of every segment's criteria, ascending, without
    // repeats: what evaluating a customer needs in Customer::windows.
    bool uses_windows() const noexcept { return !window_spans_.empty(); }
    const std::vector<Micros>& window_spans() const noexcept { return window_spans_; }

    // True when some segment tests customer attributes: evaluating a
    // customer needs Customer::attributes (else they may be left null).
    bool uses_attributes() const noexcept { return uses_attributes_; }

    // True when some segment's criteria refer to other segments.
    bool uses_membership() const noexcept { return uses_membership_; }
    // True when some referred segment is manual (not in the set).
    bool refers_to_manual() const noexcept { return refers_to_manual_; }
    // The automatic segments that depend on any of `segments` (see
    // dependents_of), ascending.
    std::vector<std::int64_t> dependents(const std::vector<std::int64_t>& segments) const;
    // The segments whose criteria refer to `segment`, ascending.
    std::vector<std::int64_t> referrers(std::int64_t segment) const;
    // A set of `segments` (those of them this set has) and of the automatic
    // segments they refer to, directly or through others, evaluated as this
    // set evaluates them: for a pass that only moves customers in
    // `segments`. Its evaluate() gives their membership (and that of the
    // referred segments) as this set's does; its earliest change is theirs
    // alone. Frozen segments, overrides and the version are this set's.
    SegmentSet limited_to(const std::vector<std::int64_t>& segments) const;
    bool contains(std::int64_t segment) const noexcept;

    // Whether some customer has an override (include or exclude) of some
    // segment: evaluations then read each customer's overrides.
    void set_has_overrides(bool has) noexcept { has_overrides_ = has; }
    bool has_overrides() const noexcept { return has_overrides_; }

    // Which definitions the set was built from: a number that changes with
    // every change to them (the glue derives it from the stored rows), and
    // whether they are settled, with no online change pending. Membership
    // remembered under a settled version stays right for as long as that
    // version is in force (customer_metrics.automatic_segments).
    void set_version(std::int64_t version, bool settled) noexcept {
        version_ = version;
        settled_ = settled;
    }
    std::int64_t version() const noexcept { return version_; }
    bool settled() const noexcept { return settled_; }
    // Whether a customer's remembered automatic segments may stand in for its
    // assignments under these definitions: settled (no online change moving
    // members), and no criteria on manual segments, which only the
    // assignments hold.
    bool remembered_membership_usable() const noexcept { return settled_ && !refers_to_manual_; }

private:
    struct Entry {
        std::int64_t id;
        Matcher matcher;
        std::size_t position_by_id;  // its place in ascending id order
    };
    std::vector<Entry> segments_;    // in evaluation order
    std::vector<std::int64_t> ids_;  // ascending
    bool uses_membership_ = false;
    bool uses_attributes_ = false;
    bool refers_to_manual_ = false;
    bool has_overrides_ = false;
    std::int64_t version_ = 0;
    bool settled_ = false;
    std::vector<Micros> window_spans_;  // ascending
    mutable std::vector<char> member_;  // scratch, by ascending id (backends are single-threaded)
    std::vector<std::int64_t> frozen_;  // ascending
};

}  // namespace segmentation
