#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/matcher.hpp"

using namespace segmentation;
using exact::kOne;

namespace {

constexpr Micros kDay = kMicrosPerDay;
constexpr Micros kNow = 1000 * kDay;  // an arbitrary instant

exact::MoneyKey money(long long whole, long long hundredths = 0) {
    return exact::money_key_from_units(static_cast<exact::int128>(whole) * kOne +
                                       static_cast<exact::int128>(hundredths) * (kOne / 100));
}

Customer customer(long long value, std::int64_t orders, std::optional<Micros> last, std::optional<Micros> since,
                  std::optional<std::string_view> loyalty = std::nullopt) {
    Customer c;
    c.lifetime_value = money(value);
    c.order_count = orders;
    c.last_order_at = last;
    c.customer_since = since;
    c.loyalty_level = loyalty;
    return c;
}

bool match(const std::string& criteria, const Customer& c, Micros as_of = kNow) {
    return Matcher(parse_criteria(criteria)).matches(c, as_of);
}

}  // namespace

TEST(Matcher, EmptyCriteriaMatchesEveryone) {
    EXPECT_TRUE(match("{}", Customer{}));
    EXPECT_TRUE(match("{}", customer(5, 1, kNow, kNow, "GOLD")));
}

TEST(Matcher, MoneyBoundsAreExactAndInclusive) {
    Customer c;
    c.order_count = 3;
    c.lifetime_value = money(1000, 0);  // orders summing to exactly 1000.00
    EXPECT_TRUE(match(R"({"minLifetimeValue": 1000})", c));
    EXPECT_TRUE(match(R"({"maxLifetimeValue": 1000})", c));
    EXPECT_TRUE(match(R"({"minLifetimeValue": 999.99})", c));
    EXPECT_FALSE(match(R"({"minLifetimeValue": 1000.01})", c));
    EXPECT_FALSE(match(R"({"maxLifetimeValue": 999.999999999999999999})", c));
    c.lifetime_value = money(999, 99);
    EXPECT_FALSE(match(R"({"minLifetimeValue": 1000})", c));
}

TEST(Matcher, OrderCountBounds) {
    auto c = customer(10, 5, kNow, kNow);
    EXPECT_TRUE(match(R"({"minOrders": 5})", c));
    EXPECT_TRUE(match(R"({"maxOrders": 5})", c));
    EXPECT_FALSE(match(R"({"minOrders": 6})", c));
    EXPECT_FALSE(match(R"({"minOrders": 5.5})", c));  // 5 >= 5.5 is false
    EXPECT_TRUE(match(R"({"maxOrders": 5.5})", c));
}

TEST(Matcher, AverageOrderValue) {
    Customer c;
    c.order_count = 3;
    c.lifetime_value = money(100);  // average 33.333...
    EXPECT_TRUE(match(R"({"minAverageOrderValue": 33.33})", c));
    EXPECT_FALSE(match(R"({"minAverageOrderValue": 33.34})", c));
    EXPECT_FALSE(match(R"({"maxAverageOrderValue": 33.333333333333333333})", c));  // 100/3 is above it
    EXPECT_TRUE(match(R"({"maxAverageOrderValue": 33.333333333333333334})", c));
    c.order_count = 0;
    c.lifetime_value = 0;
    EXPECT_FALSE(match(R"({"maxAverageOrderValue": 1000})", c)) << "no orders never matches an average bound";
    EXPECT_FALSE(match(R"({"minAverageOrderValue": 0})", c));
}

TEST(Matcher, RecencyInFractionalDays) {
    auto c = customer(10, 1, kNow - 90 * kDay, kNow - 400 * kDay);
    EXPECT_TRUE(match(R"({"minDaysSinceLastPurchase": 90})", c));
    EXPECT_TRUE(match(R"({"maxDaysSinceLastPurchase": 90})", c));
    EXPECT_FALSE(match(R"({"minDaysSinceLastPurchase": 90.000001})", c));
    EXPECT_TRUE(match(R"({"minDaysSinceLastPurchase": 89.5})", c));
    c.last_order_at = kNow - 90 * kDay + 1;  // one microsecond short of 90 days
    EXPECT_FALSE(match(R"({"minDaysSinceLastPurchase": 90})", c));
    c.last_order_at = std::nullopt;
    EXPECT_FALSE(match(R"({"minDaysSinceLastPurchase": 0})", c)) << "no orders never matches recency";
    EXPECT_FALSE(match(R"({"maxDaysSinceLastPurchase": 100000})", c));
}

TEST(Matcher, TenureAndFrequency) {
    // 6 orders over 360 days = 0.5 orders per 30 days.
    auto c = customer(10, 6, kNow - 10 * kDay, kNow - 360 * kDay);
    EXPECT_TRUE(match(R"({"minTenureDays": 360, "maxTenureDays": 360})", c));
    EXPECT_TRUE(match(R"({"maxPurchaseFrequency": 0.5})", c));
    EXPECT_TRUE(match(R"({"minPurchaseFrequency": 0.5})", c));
    EXPECT_FALSE(match(R"({"maxPurchaseFrequency": 0.499999})", c));
    // Tenure under a day counts as one day: 2 orders today = 60 per 30 days.
    auto fresh = customer(10, 2, kNow, kNow - kDay / 4);
    EXPECT_TRUE(match(R"({"minPurchaseFrequency": 60, "maxPurchaseFrequency": 60})", fresh));
    // Unknown customer-since: no tenure, no frequency.
    auto unknown = customer(10, 2, kNow, std::nullopt);
    EXPECT_FALSE(match(R"({"maxTenureDays": 1000})", unknown));
    EXPECT_FALSE(match(R"({"maxPurchaseFrequency": 1000})", unknown));
    // No orders but known tenure: frequency 0.
    auto idle = customer(0, 0, std::nullopt, kNow - 50 * kDay);
    EXPECT_TRUE(match(R"({"maxPurchaseFrequency": 0})", idle));
    EXPECT_FALSE(match(R"({"minPurchaseFrequency": 0.01})", idle));
}

TEST(Matcher, LoyaltyLevelsExactly) {
    auto gold = customer(10, 1, kNow, kNow, "GOLD");
    EXPECT_TRUE(match(R"({"loyaltyLevels": ["SILVER", "GOLD"]})", gold));
    EXPECT_FALSE(match(R"({"loyaltyLevels": ["gold"]})", gold)) << "case-sensitive";
    EXPECT_FALSE(match(R"({"loyaltyLevels": ["GOLD "]})", gold));
    auto none = customer(10, 1, kNow, kNow);
    EXPECT_FALSE(match(R"({"loyaltyLevels": ["GOLD"]})", none)) << "NULL loyalty never matches";
    EXPECT_TRUE(match(R"({"not": {"loyaltyLevels": ["GOLD"]}})", none));
}

TEST(Matcher, NestingCombinesLevels) {
    auto c = customer(500, 3, kNow - 5 * kDay, kNow - 100 * kDay, "SILVER");
    EXPECT_TRUE(match(R"({"any": [{"minLifetimeValue": 1000}, {"loyaltyLevels": ["SILVER"]}]})", c));
    EXPECT_FALSE(match(R"({"any": [{"minLifetimeValue": 1000}, {"loyaltyLevels": ["GOLD"]}]})", c));
    EXPECT_TRUE(match(R"({"all": [{"minOrders": 3}, {"maxOrders": 3}]})", c));
    EXPECT_FALSE(match(R"({"minOrders": 3, "all": [{"maxOrders": 2}]})", c));
    EXPECT_TRUE(match(R"({"not": {"minOrders": 4}})", c));
    EXPECT_FALSE(match(R"({"not": {}})", c));
    EXPECT_TRUE(match(R"({"minOrders": 1, "any": [{"not": {"minOrders": 2}}, {"maxDaysSinceLastPurchase": 7}]})", c));
}

TEST(Matcher, TheServiceExamples) {
    const std::string high_value =
        R"({"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]})";
    const std::string at_risk = R"({"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5})";
    const std::string fresh = R"({"maxTenureDays": 30, "minOrders": 1})";
    auto loyal = customer(1500, 10, kNow - 10 * kDay, kNow - 365 * kDay, "GOLD");
    EXPECT_TRUE(match(high_value, loyal));
    EXPECT_FALSE(match(at_risk, loyal));
    EXPECT_FALSE(match(fresh, loyal));
    auto lapsed = customer(200, 2, kNow - 120 * kDay, kNow - 400 * kDay, "BRONZE");
    EXPECT_FALSE(match(high_value, lapsed));
    EXPECT_TRUE(match(at_risk, lapsed));
    auto newcomer = customer(50, 1, kNow - 2 * kDay, kNow - 3 * kDay);
    EXPECT_TRUE(match(fresh, newcomer));
    EXPECT_FALSE(match(at_risk, newcomer));
}

// next_change must name the first instant at which the answer flips (or an
// earlier one); checking the instants around it against matches() proves it.
namespace {
void expect_flip_at(const std::string& criteria, const Customer& c, Micros expected) {
    Matcher m(parse_criteria(criteria));
    auto next = m.next_change(c, kNow);
    ASSERT_TRUE(next.has_value()) << criteria;
    EXPECT_EQ(*next, expected) << criteria;
    EXPECT_EQ(m.matches(c, kNow), m.matches(c, *next - 1)) << criteria;
    EXPECT_NE(m.matches(c, *next - 1), m.matches(c, *next)) << criteria;
}
}  // namespace

TEST(Matcher, NextChangeForRecencyAndTenure) {
    auto c = customer(10, 2, kNow - 10 * kDay, kNow - 20 * kDay);
    expect_flip_at(R"({"minDaysSinceLastPurchase": 90})", c, kNow + 80 * kDay);
    expect_flip_at(R"({"maxDaysSinceLastPurchase": 30})", c, kNow + 20 * kDay + 1);
    expect_flip_at(R"({"maxTenureDays": 30})", c, kNow + 10 * kDay + 1);
    expect_flip_at(R"({"minTenureDays": 25.5})", c, kNow + 5 * kDay + kDay / 2);
    // Once a minimum is reached, time alone cannot undo it.
    EXPECT_FALSE(Matcher(parse_criteria(R"({"minDaysSinceLastPurchase": 5})")).next_change(c, kNow).has_value());
    // Clock-free criteria never change with time.
    EXPECT_FALSE(
        Matcher(parse_criteria(R"({"minOrders": 1, "loyaltyLevels": ["A"]})")).next_change(c, kNow).has_value());
    EXPECT_FALSE(Matcher(parse_criteria(R"({"minOrders": 1})")).uses_time());
}

TEST(Matcher, NextChangeForFrequency) {
    // 3 orders over 30 days = 3 per 30 days; falls below 0.5 after 180 days of tenure.
    auto c = customer(10, 3, kNow - kDay, kNow - 30 * kDay);
    expect_flip_at(R"({"maxPurchaseFrequency": 0.5})", c, kNow - 30 * kDay + 180 * kDay);
    expect_flip_at(R"({"minPurchaseFrequency": 0.5})", c, kNow - 30 * kDay + 180 * kDay + 1);
    // A threshold that yields a non-whole number of microseconds: 7 orders, at most 0.3.
    auto odd = customer(10, 7, kNow - kDay, kNow - 30 * kDay);
    Matcher m(parse_criteria(R"({"maxPurchaseFrequency": 0.3})"));
    auto next = m.next_change(odd, kNow);
    ASSERT_TRUE(next.has_value());
    EXPECT_FALSE(m.matches(odd, *next - 1));
    EXPECT_TRUE(m.matches(odd, *next));
}

TEST(Matcher, NextChangeIsTheEarliestOverAllTests) {
    auto c = customer(10, 2, kNow - 10 * kDay, kNow - 20 * kDay);
    Matcher m(parse_criteria(R"({"any": [{"minDaysSinceLastPurchase": 90}, {"maxTenureDays": 25}]})"));
    EXPECT_EQ(m.next_change(c, kNow), kNow + 5 * kDay + 1);
}

TEST(SegmentSet, EvaluatesAllSegmentsOnce) {
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"minOrders": 1})")));
    set.add(2, Matcher(parse_criteria(R"({"minOrders": 100})")));
    set.add(3, Matcher(parse_criteria(R"({"maxDaysSinceLastPurchase": 30})")));
    auto c = customer(10, 2, kNow - 10 * kDay, kNow - 20 * kDay);
    std::vector<std::int64_t> matched;
    auto next = set.evaluate(c, kNow, matched);
    EXPECT_EQ(matched, (std::vector<std::int64_t>{1, 3}));
    EXPECT_EQ(next, kNow + 20 * kDay + 1);
}

TEST(SegmentSet, RemembersFrozenSegmentsWhateverTheOrderTheyCome) {
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"minOrders": 1})")));
    set.freeze(9);
    set.freeze(4);
    set.freeze(7);
    EXPECT_TRUE(set.frozen(4));
    EXPECT_TRUE(set.frozen(7));
    EXPECT_TRUE(set.frozen(9));
    EXPECT_FALSE(set.frozen(1));
    EXPECT_FALSE(set.frozen(8));
    std::vector<std::int64_t> matched;
    set.evaluate(customer(10, 2, kNow - 10 * kDay, kNow - 20 * kDay), kNow, matched);
    EXPECT_EQ(matched, (std::vector<std::int64_t>{1}));  // a frozen segment is never evaluated
}

// The order path decodes a customer's attributes only for a set that tests
// them: a test nested in any/not counts, other criteria do not.
TEST(Matcher, KnowsWhetherItTestsAttributes) {
    auto tests = [](const std::string& criteria) { return Matcher(parse_criteria(criteria)).uses_attributes(); };
    EXPECT_FALSE(tests(R"({"minOrders": 1, "loyaltyLevels": ["GOLD"]})"));
    EXPECT_TRUE(tests(R"({"attributes": {"country": {"equals": "DE"}}})"));
    EXPECT_TRUE(tests(R"({"any": [{"minOrders": 5}, {"not": {"attributes": {"vip": {"equals": true}}}}]})"));

    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"minOrders": 1})")));
    EXPECT_FALSE(set.uses_attributes());
    set.add(2, Matcher(parse_criteria(R"({"any": [{"attributes": {"country": {"isNull": true}}}]})")));
    EXPECT_TRUE(set.uses_attributes());
}
