#include <gtest/gtest.h>

#include <string>

#include "core/criteria.hpp"

using segmentation::CriteriaError;
using segmentation::Metric;
using segmentation::parse_criteria;

namespace {

// The full message of the error a document gets, or "" when it is valid.
std::string error_of(const std::string& json) {
    try {
        parse_criteria(json);
    } catch (const CriteriaError& e) {
        return e.what();
    }
    return "";
}

std::string nested_not(int levels) {
    std::string json;
    for (int i = 1; i < levels; ++i) json += "{\"not\":";
    json += "{}";
    for (int i = 1; i < levels; ++i) json += "}";
    return json;
}

}  // namespace

TEST(Criteria, ReadsTheServiceExamples) {
    auto high_value =
        parse_criteria(R"({"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]})");
    ASSERT_EQ(high_value.bounds.size(), 2u);
    EXPECT_EQ(high_value.bounds[0].metric, Metric::LifetimeValue);
    EXPECT_TRUE(high_value.bounds[0].minimum);
    EXPECT_TRUE(high_value.has_loyalty_levels);
    EXPECT_EQ(high_value.loyalty_levels, (std::vector<std::string>{"GOLD", "PLATINUM"}));

    auto at_risk = parse_criteria(R"({"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5})");
    EXPECT_EQ(at_risk.bounds[1].metric, Metric::PurchaseFrequency);
    EXPECT_FALSE(at_risk.bounds[1].minimum);
    EXPECT_EQ(at_risk.bounds[1].units, segmentation::exact::kOne / 2);

    auto empty = parse_criteria("{}");
    EXPECT_TRUE(empty.bounds.empty());
    EXPECT_FALSE(empty.has_loyalty_levels);
}

TEST(Criteria, ReadsEveryKey) {
    auto c = parse_criteria(R"({
        "minLifetimeValue": 1, "maxLifetimeValue": 2, "minOrders": 1, "maxOrders": 2,
        "minDaysSinceLastPurchase": 1, "maxDaysSinceLastPurchase": 2,
        "minPurchaseFrequency": 1, "maxPurchaseFrequency": 2, "minTenureDays": 1, "maxTenureDays": 2,
        "minAverageOrderValue": 1, "maxAverageOrderValue": 2, "loyaltyLevels": ["A"],
        "all": [{"minOrders": 1}], "any": [{"minOrders": 1}, {"maxOrders": 0}], "not": {"minOrders": 9}})");
    EXPECT_EQ(c.bounds.size(), 12u);
    EXPECT_EQ(c.all.size(), 1u);
    EXPECT_EQ(c.any.size(), 2u);
    EXPECT_EQ(c.negated.size(), 1u);
}

TEST(Criteria, NamesThePathOfEveryError) {
    EXPECT_EQ(error_of(R"({"any": [{}, {"minOrders": -1}]})"),
              "criteria.any[1].minOrders: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"minOrders": "5"})"), "criteria.minOrders: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"minOrders": null})"), "criteria.minOrders: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"minOrders": true})"), "criteria.minOrders: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"all": [{"not": {"maxTenureDays": -0.5}}]})"),
              "criteria.all[0].not.maxTenureDays: expected a non-negative number");
    EXPECT_EQ(error_of(R"({"minOrders": 1e400})"), "criteria.minOrders: expected a number no greater than 10^18");
    EXPECT_EQ(error_of(R"({"minLifetimeValue": 0.0000000000000000001})"),
              "criteria.minLifetimeValue: expected a number with at most 18 decimal places");
    EXPECT_EQ(error_of(R"({"colour": "red"})"), "criteria.colour: unknown key");
    EXPECT_EQ(error_of(R"({"minorders": 1})"), "criteria.minorders: unknown key (did you mean \"minOrders\"?)");
    EXPECT_EQ(error_of(R"({"any": [{"odd key": 1}]})"), "criteria.any[0][\"odd key\"]: unknown key");
    EXPECT_EQ(error_of("[]"), "criteria: expected an object");
    EXPECT_EQ(error_of("5"), "criteria: expected an object");
    EXPECT_EQ(error_of(R"({"all": {}})"), "criteria.all: expected a non-empty array of criteria objects");
    EXPECT_EQ(error_of(R"({"any": []})"), "criteria.any: expected a non-empty array of criteria objects");
    EXPECT_EQ(error_of(R"({"any": [1]})"), "criteria.any[0]: expected an object");
    EXPECT_EQ(error_of(R"({"not": []})"), "criteria.not: expected an object");
}

TEST(Criteria, RefusesBadLoyaltyLevels) {
    EXPECT_EQ(error_of(R"({"loyaltyLevels": []})"), "criteria.loyaltyLevels: expected a non-empty array of strings");
    EXPECT_EQ(error_of(R"({"loyaltyLevels": "GOLD"})"),
              "criteria.loyaltyLevels: expected a non-empty array of strings");
    EXPECT_EQ(error_of(R"({"loyaltyLevels": ["GOLD", 7]})"),
              "criteria.loyaltyLevels[1]: expected a string, not a number");
}

TEST(Criteria, RefusesMinimumAboveMaximumAtOneLevel) {
    EXPECT_EQ(error_of(R"({"minOrders": 10, "maxOrders": 5})"),
              "criteria: minOrders (10) is greater than maxOrders (5)");
    EXPECT_EQ(error_of(R"({"not": {"minLifetimeValue": 100.5, "maxLifetimeValue": 100.25}})"),
              "criteria.not: minLifetimeValue (100.5) is greater than maxLifetimeValue (100.25)");
    // Equal bounds are fine (inclusive), and bounds at different levels are independent.
    EXPECT_EQ(error_of(R"({"minOrders": 5, "maxOrders": 5})"), "");
    EXPECT_EQ(error_of(R"({"minOrders": 10, "all": [{"maxOrders": 5}]})"), "");
}

TEST(Criteria, AllowsThirtyTwoLevelsAndNoMore) {
    EXPECT_EQ(error_of(nested_not(32)), "");
    std::string message = error_of(nested_not(33));
    EXPECT_NE(message.find("nesting deeper than 32 levels"), std::string::npos) << message;
    EXPECT_EQ(message.rfind("criteria.not.not.", 0), 0u) << message;
    // Text nested far deeper than any reader limit gets the same answer,
    // naming the first steps of its path.
    message = error_of(nested_not(5000));
    EXPECT_EQ(message.rfind("criteria.not.not.", 0), 0u) << message;
    EXPECT_NE(message.find("...: nesting deeper than 32 levels"), std::string::npos) << message;
}

TEST(Criteria, RefusesInvalidJson) { EXPECT_EQ(error_of("{").rfind("criteria: invalid JSON", 0), 0u); }
