#include <gtest/gtest.h>

#include <string>

#include "core/criteria.hpp"
#include "core/explain.hpp"
#include "core/matcher.hpp"
#include "core/windows.hpp"

using namespace segmentation;

namespace {

constexpr Micros kDay = kMicrosPerDay;
constexpr Micros kAsOf = 1000 * kDay;

std::string error_of(const std::string& json) {
    try {
        parse_criteria(json);
    } catch (const CriteriaError& e) {
        return e.what();
    }
    return "";
}

// A customer whose orders (times, whole amounts) are given; the totals are
// computed here the way the glue's query does, for each span the matcher uses.
struct History {
    std::vector<std::pair<Micros, std::int64_t>> orders;
    WindowTotals totals;

    Customer at(const Matcher& m, Micros as_of) {
        totals.clear();
        for (Micros span : m.window_spans()) {
            WindowTotal t;
            t.span = span;
            for (const auto& [when, amount] : orders) {
                if (static_cast<exact::int128>(as_of) - when > span) continue;
                t.orders += 1;
                t.spend += exact::money_key_from_units(static_cast<exact::int128>(amount) * exact::kOne);
                if (!t.oldest || when < *t.oldest) t.oldest = when;
            }
            totals.set(t);
        }
        Customer c;
        c.order_count = static_cast<std::int64_t>(orders.size());
        c.windows = &totals;
        return c;
    }
    bool matches(const std::string& criteria, Micros as_of) {
        Matcher m(parse_criteria(criteria));
        return m.matches(at(m, as_of), as_of);
    }
};

}  // namespace

TEST(Windows, ReadsConditions) {
    Criteria c = parse_criteria(R"({"window": {"days": 30.5, "minOrders": 2, "maxSpend": 50.25}})");
    ASSERT_EQ(c.windows.size(), 1u);
    EXPECT_EQ(c.windows[0].days, exact::kOne * 61 / 2);
    EXPECT_EQ(*c.windows[0].min_orders, 2 * exact::kOne);
    EXPECT_FALSE(c.windows[0].max_orders.has_value());
    EXPECT_EQ(*c.windows[0].max_spend, exact::kOne * 201 / 4);
    EXPECT_EQ(c.windows[0].path, "criteria.window");
    EXPECT_TRUE(uses_windows(c));
    EXPECT_TRUE(uses_windows(parse_criteria(R"({"any": [{"not": {"window": {"days": 1, "maxOrders": 0}}}]})")));
    EXPECT_FALSE(uses_windows(parse_criteria(R"({"minOrders": 1})")));
}

TEST(Windows, RefusesBadConditions) {
    const std::string shape =
        "expected an object with \"days\" and at least one of minOrders, maxOrders, minSpend, maxSpend";
    EXPECT_EQ(error_of(R"({"window": 30})"), "criteria.window: " + shape);
    EXPECT_EQ(error_of(R"({"window": {}})"), "criteria.window: " + shape);
    EXPECT_EQ(error_of(R"({"window": {"minOrders": 1}})"), "criteria.window: " + shape);
    EXPECT_EQ(error_of(R"({"any": [{"window": {"days": 3}}]})"), "criteria.any[0].window: " + shape);
    const std::string range = "expected a number of days greater than 0 and at most 1000000";
    EXPECT_EQ(error_of(R"({"window": {"days": 0, "minOrders": 1}})"), "criteria.window.days: " + range);
    EXPECT_EQ(error_of(R"({"window": {"days": -1, "minOrders": 1}})"), "criteria.window.days: " + range);
    EXPECT_EQ(error_of(R"({"window": {"days": "30", "minOrders": 1}})"), "criteria.window.days: " + range);
    EXPECT_EQ(error_of(R"({"window": {"days": 1000000.000001, "minOrders": 1}})"), "criteria.window.days: " + range);
    EXPECT_EQ(error_of(R"({"window": {"days": 1e300, "minOrders": 1}})"), "criteria.window.days: " + range);
    EXPECT_EQ(error_of(R"({"window": {"days": 1000000, "minOrders": 1}})"), "");
    EXPECT_EQ(error_of(R"({"window": {"days": 0.0000000000000000001, "minOrders": 1}})"),
              "criteria.window.days: expected a number with at most 18 decimal places");
    EXPECT_EQ(error_of(R"({"window": {"days": 3, "minOrders": -1}})"),
              "criteria.window.minOrders: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"window": {"days": 3, "maxSpend": true}})"),
              "criteria.window.maxSpend: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"window": {"days": 3, "minorders": 1}})"),
              "criteria.window.minorders: unknown key (did you mean \"minOrders\"?)");
    EXPECT_EQ(error_of(R"({"window": {"days": 3, "colour": 1}})"), "criteria.window.colour: unknown key");
    EXPECT_EQ(error_of(R"({"window": {"days": 3, "minOrders": 5, "maxOrders": 2}})"),
              "criteria.window: minOrders (5) is greater than maxOrders (2)");
    EXPECT_EQ(error_of(R"({"not": {"window": {"days": 3, "minSpend": 5.5, "maxSpend": 5.25}}})"),
              "criteria.not.window: minSpend (5.5) is greater than maxSpend (5.25)");
    EXPECT_EQ(error_of(R"({"windo": {"days": 3, "minOrders": 1}})"),
              "criteria.windo: unknown key (did you mean \"window\"?)");
}

TEST(Windows, SpanIsExactToTheMicrosecond) {
    EXPECT_EQ(window_span(30 * exact::kOne), 30 * kDay);
    // 1/3 day is 28,800,000,000.333... microseconds: an age of 28,800,000,000 fits, one more does not.
    Criteria c = parse_criteria(R"({"window": {"days": 0.333333333333333333, "minOrders": 1}})");
    EXPECT_EQ(window_span(c.windows[0].days), 28799999999LL);
    History h;
    h.orders = {{kAsOf - 28799999999LL, 10}};
    EXPECT_TRUE(h.matches(R"({"window": {"days": 0.333333333333333333, "minOrders": 1}})", kAsOf));
    h.orders = {{kAsOf - 28800000000LL, 10}};
    EXPECT_FALSE(h.matches(R"({"window": {"days": 0.333333333333333333, "minOrders": 1}})", kAsOf));
}

TEST(Windows, CountsAndSpendsInclusively) {
    History h;
    // 30 days old exactly, 10 days old, and one dated after as_of.
    h.orders = {{kAsOf - 30 * kDay, 20}, {kAsOf - 10 * kDay, 25}, {kAsOf + kDay, 5}, {kAsOf - 31 * kDay, 100}};
    EXPECT_TRUE(h.matches(R"({"window": {"days": 30, "minOrders": 3, "maxOrders": 3}})", kAsOf));
    EXPECT_TRUE(h.matches(R"({"window": {"days": 30, "minSpend": 50, "maxSpend": 50}})", kAsOf));
    EXPECT_FALSE(h.matches(R"({"window": {"days": 30, "maxSpend": 49.999999999999999999}})", kAsOf));
    EXPECT_FALSE(h.matches(R"({"window": {"days": 29.999999999, "minOrders": 3}})", kAsOf));
    EXPECT_TRUE(h.matches(R"({"window": {"days": 31, "minOrders": 4, "minSpend": 150}})", kAsOf));
    // Fractional order bounds: minOrders 2.5 needs 3, maxOrders 2.5 allows 2.
    EXPECT_TRUE(h.matches(R"({"window": {"days": 30, "minOrders": 2.5}})", kAsOf));
    EXPECT_FALSE(h.matches(R"({"window": {"days": 30, "maxOrders": 2.5}})", kAsOf));
    // Nested, negated, and two windows in one document.
    EXPECT_TRUE(h.matches(R"({"not": {"window": {"days": 5, "minOrders": 2}}})", kAsOf));
    EXPECT_TRUE(h.matches(
        R"({"all": [{"window": {"days": 30, "minOrders": 3}}, {"window": {"days": 5, "maxOrders": 1}}]})", kAsOf));
    EXPECT_FALSE(h.matches(
        R"({"any": [{"window": {"days": 5, "minOrders": 2}}, {"window": {"days": 1, "minSpend": 6}}]})", kAsOf));
    // A customer without orders: count 0, spend 0.
    History none;
    EXPECT_TRUE(none.matches(R"({"window": {"days": 90, "maxSpend": 50}})", kAsOf));
    EXPECT_FALSE(none.matches(R"({"window": {"days": 90, "minOrders": 1}})", kAsOf));
}

TEST(Windows, WithoutTotalsNothingHolds) {
    Matcher m(parse_criteria(R"({"window": {"days": 90, "maxSpend": 50}})"));
    Customer c;
    EXPECT_FALSE(m.matches(c, kAsOf));
    EXPECT_TRUE(Matcher(parse_criteria(R"({"not": {"window": {"days": 90, "maxSpend": 50}}})")).matches(c, kAsOf));
    WindowTotals other;
    other.set(WindowTotal{kDay, 0, 0, std::nullopt});  // another span only
    c.windows = &other;
    EXPECT_FALSE(m.matches(c, kAsOf));
}

TEST(Windows, NextChangeIsWhenTheOldestOrderLeaves) {
    History h;
    h.orders = {{kAsOf - 20 * kDay, 10}, {kAsOf - 5 * kDay, 10}};
    Matcher m(parse_criteria(R"({"window": {"days": 30, "minOrders": 2}})"));
    EXPECT_TRUE(m.uses_time());
    ASSERT_EQ(m.window_spans(), std::vector<Micros>{30 * kDay});
    Customer c = h.at(m, kAsOf);
    auto next = m.next_change(c, kAsOf);
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next, kAsOf + 10 * kDay + 1);
    EXPECT_TRUE(m.matches(h.at(m, *next - 1), *next - 1));
    EXPECT_FALSE(m.matches(h.at(m, *next), *next));
    // Then the next order leaves 15 days later.
    c = h.at(m, *next);
    EXPECT_EQ(*m.next_change(c, *next), kAsOf + 25 * kDay + 1);
    // No order in the window: the clock alone changes nothing.
    History none;
    EXPECT_FALSE(m.next_change(none.at(m, kAsOf), kAsOf).has_value());
    // An order dated after as_of leaves its window D days after its own time.
    History future;
    future.orders = {{kAsOf + 3 * kDay, 1}};
    EXPECT_EQ(*m.next_change(future.at(m, kAsOf), kAsOf), kAsOf + 33 * kDay + 1);
}

TEST(Windows, SegmentSetCollectsSpans) {
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"window": {"days": 30, "minOrders": 2}})")));
    set.add(2, Matcher(parse_criteria(R"({"minOrders": 2})")));
    set.add(3, Matcher(parse_criteria(
                   R"({"any": [{"window": {"days": 7, "minOrders": 1}}, {"window": {"days": 30, "maxSpend": 1}}]})")));
    EXPECT_TRUE(set.uses_windows());
    EXPECT_EQ(set.window_spans(), (std::vector<Micros>{7 * kDay, 30 * kDay}));
    History h;
    h.orders = {{kAsOf - 10 * kDay, 5}, {kAsOf - 2 * kDay, 5}};
    WindowTotals totals;
    for (Micros span : set.window_spans()) {
        WindowTotal t;
        t.span = span;
        for (const auto& [when, amount] : h.orders)
            if (kAsOf - when <= span) {
                t.orders += 1;
                t.spend += exact::money_key_from_units(amount * exact::kOne);
                if (!t.oldest || when < *t.oldest) t.oldest = when;
            }
        totals.set(t);
    }
    Customer c;
    c.order_count = 2;
    c.windows = &totals;
    std::vector<std::int64_t> matched;
    auto next = set.evaluate(c, kAsOf, matched);
    EXPECT_EQ(matched, (std::vector<std::int64_t>{1, 2, 3}));
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next, kAsOf + 5 * kDay + 1);  // the 7-day window's oldest order leaves first
    SegmentSet plain;
    plain.add(1, Matcher(parse_criteria(R"({"minOrders": 2})")));
    EXPECT_FALSE(plain.uses_windows());
}

TEST(Windows, Explained) {
    History h;
    h.orders = {{kAsOf - 20 * kDay, 10}, {kAsOf - 5 * kDay, 15}};
    std::string criteria =
        R"({"window": {"days": 30, "minOrders": 3}, "not": {"window": {"days": 7.5, "maxSpend": 20}}})";
    Matcher m(parse_criteria(criteria));
    Customer c = h.at(m, kAsOf);
    EXPECT_EQ(explain_criteria(criteria, c, kAsOf),
              R"({"matched": false, "window": {"days": 30, "orders": 2, "spend": 25, "held": false}, )"
              R"("not": {"matched": true, "window": {"days": 7.5, "orders": 1, "spend": 15, "held": true}}})");
    Customer without;
    EXPECT_EQ(explain_criteria(R"({"window": {"days": 1, "maxOrders": 0}})", without, kAsOf),
              R"({"matched": false, "window": {"days": 1, "orders": null, "spend": null, "held": false}})");
}
