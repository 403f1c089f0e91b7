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

struct Group {
    enum class Kind : std::uint8_t { All, Any, Not };
    Kind kind = Kind::All;
    std::vector<Test> tests;
    bool has_loyalty_levels = false;
    std::vector<std::string> loyalty_levels;
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

    bool matches(const Customer& customer, Micros as_of) const noexcept;

    // The earliest instant after as_of at which matches() may answer
    // differently for this customer when only the clock moves; nothing when
    // the answer can no longer change that way. Conservative: it may name an
    // instant at which the answer turns out unchanged, never a late one.
    std::optional<Micros> next_change(const Customer& customer, Micros as_of) const noexcept;

    // True when some test depends on the clock (recency, tenure, frequency).
    bool uses_time() const noexcept { return uses_time_; }

    // Evaluation over facts already derived (see SegmentSet).
    bool matches(const detail::Facts& facts) const noexcept;
    void earliest_change(const Customer& customer, const detail::Facts& facts,
                         std::optional<Micros>& earliest) const noexcept;

private:
    detail::Group root_;
    bool uses_time_ = false;
};

detail::Facts derive_facts(const Customer& customer, Micros as_of) noexcept;

// The automatic segments of a shop, evaluated together: the facts of a
// customer are derived once for all of them.
class SegmentSet {
public:
    void add(std::int64_t segment_id, Matcher matcher);
    // A segment being deleted online (segmentation.delete_segment_concurrently):
    // not evaluated, and its assignments are neither added nor removed by
    // evaluation, only by the deletion's own batches. Ids ascending.
    void freeze(std::int64_t segment_id);
    bool frozen(std::int64_t segment_id) const;
    std::size_t size() const noexcept { return segments_.size(); }
    bool empty() const noexcept { return segments_.empty(); }

    // Appends to `matched` the ids of the matching segments, in the order
    // they were added, and returns the earliest instant after as_of at which
    // any of them may change with the clock alone.
    std::optional<Micros> evaluate(const Customer& customer, Micros as_of, std::vector<std::int64_t>& matched) const;

private:
    std::vector<std::pair<std::int64_t, Matcher>> segments_;
    std::vector<std::int64_t> frozen_;
};

}  // namespace segmentation
