#include "core/matcher.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

#include "core/references.hpp"
#include "core/windows.hpp"

namespace segmentation {

using detail::Facts;
using detail::Group;
using detail::Test;
using detail::TestKind;
using exact::int128;
using exact::uint128;

namespace {

// The index of `id` in an ascending list, or `size` when absent. Written out
// (not std::lower_bound) so that the noexcept paths call nothing that throws.
std::size_t index_in(const std::vector<std::int64_t>& ids, std::int64_t id) noexcept {
    const std::int64_t* data = ids.data();
    std::size_t low = 0, high = ids.size();
    while (low < high) {
        std::size_t mid = low + (high - low) / 2;
        if (data[mid] < id)
            low = mid + 1;
        else
            high = mid;
    }
    return low < ids.size() && data[low] == id ? low : ids.size();
}

bool sorted_contains(const std::vector<std::int64_t>& ids, std::int64_t id) noexcept {
    return index_in(ids, id) != ids.size();
}

constexpr int128 kUnitsPerWhole = exact::kOne;  // 10^18
// Purchase frequency is orders per 30 days: orders * 30 * day / tenure. This
// is its numerator factor, scaled by 10^18 to meet thresholds in their units.
constexpr uint128 kFrequencyFactor =
    static_cast<uint128>(30) * static_cast<uint128>(kMicrosPerDay) * static_cast<uint128>(kUnitsPerWhole);

int128 floor_div(int128 a, int128 b) noexcept { return a / b; }  // both non-negative here
int128 ceil_div(int128 a, int128 b) noexcept { return (a + b - 1) / b; }

// A threshold in days, in units of 10^-18, as microseconds rounded so that
// comparing whole microseconds stays exact: up for minimums, down for maximums.
int128 days_to_micros(int128 units, bool round_up) noexcept {
    // micros = units * 86400e6 / 1e18 = units * 864 / 1e10, split to avoid overflow
    const int128 ten_billion = 10000000000LL;
    int128 whole = units / ten_billion * 864;
    int128 rest = units % ten_billion * 864;
    return whole + (round_up ? ceil_div(rest, ten_billion) : floor_div(rest, ten_billion));
}

Test compile_bound(const Bound& bound) {
    bool at_least = bound.minimum;
    int128 limit = comparable_limit(bound);
    switch (bound.metric) {
        case Metric::Orders: return {at_least ? TestKind::OrdersAtLeast : TestKind::OrdersAtMost, limit};
        case Metric::LifetimeValue:
            return {at_least ? TestKind::ValueAtLeast : TestKind::ValueAtMost, exact::money_key_from_units(limit)};
        case Metric::AverageOrderValue: return {at_least ? TestKind::AverageAtLeast : TestKind::AverageAtMost, limit};
        case Metric::DaysSinceLastPurchase:
            return {at_least ? TestKind::RecencyAtLeast : TestKind::RecencyAtMost, limit};
        case Metric::TenureDays: return {at_least ? TestKind::TenureAtLeast : TestKind::TenureAtMost, limit};
        case Metric::PurchaseFrequency:
            return {at_least ? TestKind::FrequencyAtLeast : TestKind::FrequencyAtMost, limit};
    }
    return {TestKind::OrdersAtLeast, 0};
}

bool is_time_test(TestKind kind) {
    switch (kind) {
        case TestKind::RecencyAtLeast:
        case TestKind::RecencyAtMost:
        case TestKind::TenureAtLeast:
        case TestKind::TenureAtMost:
        case TestKind::FrequencyAtLeast:
        case TestKind::FrequencyAtMost: return true;
        default: return false;
    }
}

// An attribute condition as tests; each must hold.
void compile_attribute(const AttributeCondition& c, std::vector<detail::AttributeTest>& tests) {
    using Op = detail::AttributeTest::Op;
    auto add = [&](Op op) -> detail::AttributeTest& {
        tests.push_back(detail::AttributeTest{op, c.name, {}, {}, false, 0});
        return tests.back();
    };
    if (c.is_null) add(*c.is_null ? Op::IsNull : Op::IsNotNull);
    auto one_of = [&](const std::vector<const AttributeLiteral*>& literals) {
        const AttributeLiteral& first = *literals.front();
        if (first.kind == AttributeLiteral::Kind::Boolean) {
            add(Op::BooleanIs).boolean = first.boolean;
            return;
        }
        bool text = first.kind == AttributeLiteral::Kind::String;
        detail::AttributeTest& t = add(text ? Op::TextIn : Op::NumberIn);
        for (const AttributeLiteral* l : literals) {
            if (text)
                t.texts.push_back(l->text);
            else
                t.numbers.push_back(exact::money_key_from_units(l->units));
        }
    };
    if (c.equals) one_of({&*c.equals});
    if (c.has_in) {
        std::vector<const AttributeLiteral*> literals;
        for (const AttributeLiteral& l : c.in) literals.push_back(&l);
        one_of(literals);
    }
    if (c.min) add(Op::AtLeast).limit = exact::money_key_from_units(c.min->units);
    if (c.max) add(Op::AtMost).limit = exact::money_key_from_units(c.max->units);
}

detail::WindowTest compile_window(const WindowCondition& w) {
    detail::WindowTest t{};
    t.span = window_span(w.days);
    t.has_min_orders = w.min_orders.has_value();
    if (w.min_orders) t.min_orders = ceil_div(*w.min_orders, kUnitsPerWhole);
    t.has_max_orders = w.max_orders.has_value();
    if (w.max_orders) t.max_orders = floor_div(*w.max_orders, kUnitsPerWhole);
    t.has_min_spend = w.min_spend.has_value();
    if (w.min_spend) t.min_spend = exact::money_key_from_units(*w.min_spend);
    t.has_max_spend = w.max_spend.has_value();
    if (w.max_spend) t.max_spend = exact::money_key_from_units(*w.max_spend);
    return t;
}

Group compile_level(const Criteria& c, bool& uses_time) {
    Group g;
    for (const WindowCondition& w : c.windows) {
        g.windows.push_back(compile_window(w));
        uses_time = true;  // orders leave windows as the clock moves
    }
    for (const AttributeCondition& a : c.attributes) compile_attribute(a, g.attribute_tests);
    g.kind = Group::Kind::All;
    for (const Bound& b : c.bounds) {
        g.tests.push_back(compile_bound(b));
        uses_time = uses_time || is_time_test(g.tests.back().kind);
    }
    g.has_loyalty_levels = c.has_loyalty_levels;
    g.loyalty_levels = c.loyalty_levels;
    for (const MembershipTest& m : c.memberships)
        g.memberships.push_back(detail::MembershipCheck{m.negated, m.segments});
    for (const Criteria& child : c.all) g.children.push_back(compile_level(child, uses_time));
    if (!c.any.empty()) {
        Group any;
        any.kind = Group::Kind::Any;
        for (const Criteria& child : c.any) any.children.push_back(compile_level(child, uses_time));
        g.children.push_back(std::move(any));
    }
    for (const Criteria& child : c.negated) {
        Group negation;
        negation.kind = Group::Kind::Not;
        negation.children.push_back(compile_level(child, uses_time));
        g.children.push_back(std::move(negation));
    }
    return g;
}

// The frequency metric compares count * kFrequencyFactor against
// threshold * max(tenure, 1 day), all non-negative.
uint128 frequency_denominator(const Facts& f) noexcept {
    return static_cast<uint128>(std::max<int128>(f.tenure, kMicrosPerDay));
}

uint128 order_count(const Facts& f) noexcept { return static_cast<uint128>(std::max<std::int64_t>(f.order_count, 0)); }

bool test_holds(const Test& t, const Facts& f) noexcept {
    switch (t.kind) {
        case TestKind::OrdersAtLeast: return f.order_count >= t.limit;
        case TestKind::OrdersAtMost: return f.order_count <= t.limit;
        case TestKind::ValueAtLeast: return f.lifetime_value >= t.limit;
        case TestKind::ValueAtMost: return f.lifetime_value <= t.limit;
        case TestKind::AverageAtLeast:
        case TestKind::AverageAtMost: {
            if (f.order_count <= 0) return false;
            // value / count against t  <=>  value key against 2 * t * count
            int128 scaled;
            bool overflow = __builtin_mul_overflow(t.limit * 2, static_cast<int128>(f.order_count), &scaled);
            if (t.kind == TestKind::AverageAtLeast) return !overflow && f.lifetime_value >= scaled;
            return overflow || f.lifetime_value <= scaled;
        }
        case TestKind::RecencyAtLeast: return f.has_recency && f.recency >= t.limit;
        case TestKind::RecencyAtMost: return f.has_recency && f.recency <= t.limit;
        case TestKind::TenureAtLeast: return f.has_tenure && f.tenure >= t.limit;
        case TestKind::TenureAtMost: return f.has_tenure && f.tenure <= t.limit;
        case TestKind::FrequencyAtLeast:
        case TestKind::FrequencyAtMost: {
            if (!f.has_tenure) return false;
            int order = exact::compare_products(order_count(f), kFrequencyFactor, static_cast<uint128>(t.limit),
                                                frequency_denominator(f));
            return t.kind == TestKind::FrequencyAtLeast ? order >= 0 : order <= 0;
        }
    }
    return false;
}

bool loyalty_holds(const Group& g, const Facts& f) noexcept {
    if (!g.has_loyalty_levels) return true;
    const auto& level = *f.loyalty_level;
    if (!level) return false;
    for (const auto& candidate : g.loyalty_levels)
        if (candidate == *level) return true;
    return false;
}

const AttributeValue kNoValue{};

bool attribute_holds(const detail::AttributeTest& t, const Facts& f) noexcept {
    using Op = detail::AttributeTest::Op;
    using Kind = AttributeValue::Kind;
    const AttributeValue& v = f.attributes != nullptr ? f.attributes->get(t.name) : kNoValue;
    switch (t.op) {
        case Op::IsNull: return v.kind == Kind::Null;
        case Op::IsNotNull: return v.kind != Kind::Null;
        case Op::TextIn:
            if (v.kind != Kind::String) return false;
            for (const std::string& text : t.texts)
                if (text == v.text) return true;
            return false;
        case Op::NumberIn:
            if (v.kind != Kind::Number || v.beyond != 0) return false;
            for (exact::MoneyKey number : t.numbers)
                if (number == v.number) return true;
            return false;
        case Op::BooleanIs: return v.kind == Kind::Boolean && v.boolean == t.boolean;
        case Op::AtLeast: return v.kind == Kind::Number && (v.beyond > 0 || (v.beyond == 0 && v.number >= t.limit));
        case Op::AtMost: return v.kind == Kind::Number && (v.beyond < 0 || (v.beyond == 0 && v.number <= t.limit));
    }
    return false;
}

// A window test over the totals of its span; without them it does not hold.
bool window_holds(const detail::WindowTest& t, const Facts& f) noexcept {
    if (f.windows == nullptr) return false;
    const WindowTotal* total = f.windows->find(t.span);
    if (total == nullptr) return false;
    if (t.has_min_orders && total->orders < t.min_orders) return false;
    if (t.has_max_orders && total->orders > t.max_orders) return false;
    if (t.has_min_spend && total->spend < t.min_spend) return false;
    if (t.has_max_spend && total->spend > t.max_spend) return false;
    return true;
}

// inSegment: in one of the segments; notInSegment: in none. Without a view
// of the customer's membership, neither holds.
bool membership_holds(const detail::MembershipCheck& m, const Facts& f) noexcept {
    if (f.membership == nullptr) return false;
    bool in_one = false;
    for (std::int64_t segment : m.segments)
        if (f.membership->is_member(segment)) {
            in_one = true;
            break;
        }
    return m.negated ? !in_one : in_one;
}

bool group_holds(const Group& g, const Facts& f) noexcept {
    switch (g.kind) {
        case Group::Kind::All:
            for (const Test& t : g.tests)
                if (!test_holds(t, f)) return false;
            if (!loyalty_holds(g, f)) return false;
            for (const detail::AttributeTest& t : g.attribute_tests)
                if (!attribute_holds(t, f)) return false;
            for (const detail::MembershipCheck& m : g.memberships)
                if (!membership_holds(m, f)) return false;
            for (const detail::WindowTest& w : g.windows)
                if (!window_holds(w, f)) return false;
            for (const Group& child : g.children)
                if (!group_holds(child, f)) return false;
            return true;
        case Group::Kind::Any:
            for (const Group& child : g.children)
                if (group_holds(child, f)) return true;
            return false;
        case Group::Kind::Not: return !group_holds(g.children.front(), f);
    }
    return false;
}

// Smallest m >= 0 with limit * m >= numerator_a * numerator_b (strictly
// greater when `strict`), or nothing when it is beyond any timestamp.
std::optional<int128> smallest_multiple(uint128 limit, uint128 a, uint128 b, bool strict) noexcept {
    auto reaches = [&](int128 m) {
        int order = exact::compare_products(limit, static_cast<uint128>(m), a, b);
        return strict ? order > 0 : order >= 0;
    };
    const int128 ceiling = std::numeric_limits<std::int64_t>::max();
    // A long double estimate is within a few units; exact steps finish it.
    long double estimate = static_cast<long double>(a) * static_cast<long double>(b) / static_cast<long double>(limit);
    if (estimate > static_cast<long double>(ceiling) - 16) return std::nullopt;
    int128 m = std::max<int128>(static_cast<int128>(estimate) - 4, 0);
    // The least value in [low, high] that reaches the limit; high does.
    auto least_reaching = [&](int128 low, int128 high) {
        while (low < high) {
            int128 mid = low + (high - low) / 2;
            if (reaches(mid))
                high = mid;
            else
                low = mid + 1;
        }
        return low;
    };
    if (reaches(m)) return least_reaching(0, m);  // estimate too high after all: search below it
    for (int step = 0; step < 64; ++step, ++m)
        if (reaches(m)) return m;
    if (!reaches(ceiling)) return std::nullopt;
    return least_reaching(m, ceiling);  // estimate far too low: search above it
}

// When test t, evaluated as time moves on from f.as_of, next changes.
std::optional<int128> test_change(const Test& t, const Facts& f, const Customer& c) noexcept {
    switch (t.kind) {
        case TestKind::RecencyAtLeast:  // becomes true once the age reaches the limit
            if (f.has_recency && f.recency < t.limit) return f.as_of + (t.limit - f.recency);
            return std::nullopt;
        case TestKind::RecencyAtMost:  // stops being true just after the limit
            if (f.has_recency && f.recency <= t.limit) return f.as_of + (t.limit - f.recency) + 1;
            return std::nullopt;
        case TestKind::TenureAtLeast:
            if (f.has_tenure && f.tenure < t.limit) return f.as_of + (t.limit - f.tenure);
            return std::nullopt;
        case TestKind::TenureAtMost:
            if (f.has_tenure && f.tenure <= t.limit) return f.as_of + (t.limit - f.tenure) + 1;
            return std::nullopt;
        case TestKind::FrequencyAtLeast:
        case TestKind::FrequencyAtMost: {
            // Frequency only falls as tenure grows, so a minimum can only stop
            // holding and a maximum can only start holding.
            if (!f.has_tenure || t.limit == 0 || f.order_count <= 0) return std::nullopt;
            bool holds = test_holds(t, f);
            bool at_least = t.kind == TestKind::FrequencyAtLeast;
            if (holds != at_least) return std::nullopt;
            // at least: first tenure with limit * tenure > count * factor;
            // at most:  first tenure with limit * tenure >= count * factor.
            auto tenure = smallest_multiple(static_cast<uint128>(t.limit), order_count(f), kFrequencyFactor, at_least);
            if (!tenure) return std::nullopt;
            return static_cast<int128>(*c.customer_since) + *tenure;
        }
        default: return std::nullopt;
    }
}

// When a window's totals next change with the clock alone: just after its
// oldest order leaves it (orders never enter a window that way).
std::optional<int128> window_change(const detail::WindowTest& t, const Facts& f) noexcept {
    if (f.windows == nullptr) return std::nullopt;
    const WindowTotal* total = f.windows->find(t.span);
    if (total == nullptr || total->orders <= 0 || !total->oldest) return std::nullopt;
    return static_cast<int128>(*total->oldest) + t.span + 1;
}

void group_change(const Group& g, const Facts& f, const Customer& c, std::optional<Micros>& earliest) noexcept {
    auto consider = [&](std::optional<int128> when) {
        if (!when || *when <= f.as_of || *when > std::numeric_limits<Micros>::max()) return;
        Micros instant = static_cast<Micros>(*when);
        if (!earliest || instant < *earliest) earliest = instant;
    };
    for (const Test& t : g.tests) consider(test_change(t, f, c));
    for (const detail::WindowTest& w : g.windows) consider(window_change(w, f));
    for (const Group& child : g.children) group_change(child, f, c, earliest);
}

void collect_window_spans(const Group& g, std::vector<Micros>& spans) {
    for (const detail::WindowTest& w : g.windows) spans.push_back(w.span);
    for (const Group& child : g.children) collect_window_spans(child, spans);
}

bool tests_attributes(const Group& g) {
    return !g.attribute_tests.empty() || std::any_of(g.children.begin(), g.children.end(), tests_attributes);
}

}  // namespace

int128 comparable_limit(const Bound& bound) noexcept {
    switch (bound.metric) {
        case Metric::Orders:
            return bound.minimum ? ceil_div(bound.units, kUnitsPerWhole) : floor_div(bound.units, kUnitsPerWhole);
        case Metric::DaysSinceLastPurchase:
        case Metric::TenureDays: return days_to_micros(bound.units, bound.minimum);
        default: return bound.units;
    }
}

detail::Facts derive_facts(const Customer& customer, Micros as_of) noexcept {
    Facts f{};
    f.order_count = customer.order_count;
    f.lifetime_value = customer.lifetime_value;
    f.as_of = as_of;
    f.has_recency = customer.last_order_at.has_value();
    if (f.has_recency) f.recency = static_cast<int128>(as_of) - *customer.last_order_at;
    f.has_tenure = customer.customer_since.has_value();
    if (f.has_tenure) f.tenure = static_cast<int128>(as_of) - *customer.customer_since;
    f.loyalty_level = &customer.loyalty_level;
    f.attributes = customer.attributes;
    f.membership = nullptr;
    f.windows = customer.windows;
    return f;
}

bool MemberList::is_member(std::int64_t segment) const noexcept { return sorted_contains(segments_, segment); }

Matcher::Matcher(const Criteria& criteria) {
    bool uses_time = false;
    root_ = compile_level(criteria, uses_time);
    uses_time_ = uses_time;
    references_ = referenced_segments(criteria);
    uses_attributes_ = tests_attributes(root_);
    collect_window_spans(root_, window_spans_);
    std::sort(window_spans_.begin(), window_spans_.end());
    window_spans_.erase(std::unique(window_spans_.begin(), window_spans_.end()), window_spans_.end());
}

bool Matcher::matches(const detail::Facts& facts) const noexcept { return group_holds(root_, facts); }

bool Matcher::matches(const Customer& customer, Micros as_of) const noexcept {
    return matches(derive_facts(customer, as_of));
}

bool Matcher::matches(const Customer& customer, Micros as_of, const MembershipView& membership) const noexcept {
    Facts facts = derive_facts(customer, as_of);
    facts.membership = &membership;
    return matches(facts);
}

void Matcher::earliest_change(const Customer& customer, const detail::Facts& facts,
                              std::optional<Micros>& earliest) const noexcept {
    if (uses_time_) group_change(root_, facts, customer, earliest);
}

std::optional<Micros> Matcher::next_change(const Customer& customer, Micros as_of) const noexcept {
    std::optional<Micros> earliest;
    earliest_change(customer, derive_facts(customer, as_of), earliest);
    return earliest;
}

void SegmentSet::add(std::int64_t segment_id, Matcher matcher) {
    if (matcher.uses_membership()) uses_membership_ = true;
    if (matcher.uses_attributes()) uses_attributes_ = true;
    if (matcher.uses_windows()) {
        std::vector<Micros> spans;
        std::set_union(window_spans_.begin(), window_spans_.end(), matcher.window_spans().begin(),
                       matcher.window_spans().end(), std::back_inserter(spans));
        window_spans_ = std::move(spans);
    }
    ids_.push_back(segment_id);
    segments_.push_back(Entry{segment_id, std::move(matcher), segments_.size()});
    member_.assign(segments_.size(), 0);
}

void SegmentSet::freeze(std::int64_t segment_id) {
    frozen_.insert(std::upper_bound(frozen_.begin(), frozen_.end(), segment_id), segment_id);
}

bool SegmentSet::frozen(std::int64_t segment_id) const {
    return std::binary_search(frozen_.begin(), frozen_.end(), segment_id);
}

bool SegmentSet::contains(std::int64_t segment) const noexcept { return sorted_contains(ids_, segment); }

void SegmentSet::order_by_references() {
    if (!uses_membership_) return;
    std::vector<SegmentNode> nodes;
    for (const Entry& e : segments_) {
        nodes.push_back(SegmentNode{e.id, e.matcher.references()});
        for (std::int64_t reference : e.matcher.references())
            if (!contains(reference)) refers_to_manual_ = true;
    }
    std::vector<std::int64_t> order = topological_order(nodes);
    std::vector<Entry> ordered;
    ordered.reserve(segments_.size());
    for (std::int64_t id : order) {
        // Before ordering, segments_ is in ascending id order, like ids_.
        std::size_t by_id = static_cast<std::size_t>(std::lower_bound(ids_.begin(), ids_.end(), id) - ids_.begin());
        ordered.push_back(std::move(segments_[by_id]));
    }
    segments_ = std::move(ordered);
}

std::vector<std::int64_t> SegmentSet::dependents(const std::vector<std::int64_t>& segments) const {
    if (!uses_membership_) return {};
    std::vector<SegmentNode> nodes;
    for (const Entry& e : segments_) nodes.push_back(SegmentNode{e.id, e.matcher.references()});
    return dependents_of(nodes, segments);
}

SegmentSet SegmentSet::limited_to(const std::vector<std::int64_t>& segments) const {
    // By ascending id: the segments asked for, then what they refer to.
    std::vector<char> kept(ids_.size(), 0);
    std::vector<std::int64_t> pending(segments);
    while (!pending.empty()) {
        std::int64_t id = pending.back();
        pending.pop_back();
        auto at = std::lower_bound(ids_.begin(), ids_.end(), id);
        if (at == ids_.end() || *at != id) continue;  // manual, or not automatic here
        std::size_t by_id = static_cast<std::size_t>(at - ids_.begin());
        if (kept[by_id] != 0) continue;
        kept[by_id] = 1;
        for (const Entry& e : segments_)
            if (e.position_by_id == by_id)
                pending.insert(pending.end(), e.matcher.references().begin(), e.matcher.references().end());
    }
    std::vector<const Entry*> by_id(ids_.size(), nullptr);
    for (const Entry& e : segments_) by_id[e.position_by_id] = &e;
    SegmentSet limited;
    for (std::size_t i = 0; i < ids_.size(); ++i)
        if (kept[i] != 0) limited.add(ids_[i], by_id[i]->matcher);
    limited.order_by_references();  // a part of an order without cycles: none
    limited.frozen_ = frozen_;
    limited.has_overrides_ = has_overrides_;
    limited.version_ = version_;
    limited.settled_ = settled_;
    return limited;
}

std::vector<std::int64_t> SegmentSet::referrers(std::int64_t segment) const {
    std::vector<std::int64_t> found;
    for (const Entry& e : segments_)
        if (std::binary_search(e.matcher.references().begin(), e.matcher.references().end(), segment))
            found.push_back(e.id);
    std::sort(found.begin(), found.end());
    return found;
}

namespace {

// Membership while a customer's segments are evaluated in reference order:
// automatic segments as evaluated so far, manual ones from the context.
class EvaluationView final : public MembershipView {
public:
    EvaluationView(const std::vector<std::int64_t>& ids, const std::vector<char>& member,
                   const std::vector<std::int64_t>& manual)
        : ids_(ids), member_(member), manual_(manual) {}
    bool is_member(std::int64_t segment) const noexcept override {
        std::size_t at = index_in(ids_, segment);
        if (at != ids_.size()) return member_.data()[at] != 0;
        return sorted_contains(manual_, segment);
    }

private:
    const std::vector<std::int64_t>& ids_;
    const std::vector<char>& member_;
    const std::vector<std::int64_t>& manual_;
};

bool listed(const std::vector<std::int64_t>& ids, std::int64_t id) noexcept {
    return !ids.empty() && sorted_contains(ids, id);
}

}  // namespace

std::optional<Micros> SegmentSet::evaluate(const Customer& customer, Micros as_of, std::vector<std::int64_t>& matched,
                                           const MembershipContext& context) const {
    Facts facts = derive_facts(customer, as_of);
    EvaluationView view(ids_, member_, context.manual);
    facts.membership = &view;
    std::optional<Micros> earliest;
    for (const Entry& e : segments_) {
        bool member = e.matcher.matches(facts);
        if (listed(context.included, e.id))
            member = true;
        else if (listed(context.excluded, e.id))
            member = false;
        member_[e.position_by_id] = member ? 1 : 0;
        e.matcher.earliest_change(customer, facts, earliest);
    }
    for (std::size_t i = 0; i < ids_.size(); ++i)
        if (member_[i] != 0) matched.push_back(ids_[i]);
    return earliest;
}

}  // namespace segmentation
