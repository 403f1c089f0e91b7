#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/explain.hpp"
#include "core/json.hpp"
#include "core/matcher.hpp"

using namespace segmentation;
using exact::kOne;

namespace {

constexpr Micros kDay = kMicrosPerDay;
constexpr Micros kNow = 1000 * kDay;

Customer customer(long long value_hundredths, std::int64_t orders, std::optional<Micros> last,
                  std::optional<Micros> since, std::optional<std::string_view> loyalty = std::nullopt) {
    Customer c;
    c.lifetime_value = exact::money_key_from_units(static_cast<exact::int128>(value_hundredths) * (kOne / 100));
    c.order_count = orders;
    c.last_order_at = last;
    c.customer_since = since;
    c.loyalty_level = loyalty;
    return c;
}

json::Value explain(const std::string& criteria, const Customer& c, Micros as_of = kNow) {
    return json::parse(explain_criteria(criteria, c, as_of));
}

const json::Value& member(const json::Value& object, const std::string& key) {
    for (const auto& [k, v] : object.members)
        if (k == key) return v;
    ADD_FAILURE() << "no member " << key;
    static json::Value none;
    return none;
}

bool flag(const json::Value& object, const std::string& key) {
    const json::Value& v = member(object, key);
    EXPECT_EQ(v.kind, json::Kind::Boolean) << key;
    return v.boolean;
}

std::string number(const json::Value& object, const std::string& key) {
    const json::Value& v = member(object, key);
    if (v.kind == json::Kind::Null) return "null";
    EXPECT_EQ(v.kind, json::Kind::Number) << key;
    return v.text;
}

}  // namespace

TEST(Explain, EmptyCriteriaMatchAndSayNothingElse) {
    json::Value e = explain("{}", Customer{});
    EXPECT_TRUE(flag(e, "matched"));
    EXPECT_EQ(e.members.size(), 1u);
}

TEST(Explain, EachBoundCarriesTheValueTheBoundAndWhetherItHeld) {
    // 1100.50 in 2 orders, the last 3.5 days ago, a customer for 45 days.
    Customer c = customer(110050, 2, kNow - 3 * kDay - kDay / 2, kNow - 45 * kDay, "GOLD");
    json::Value e = explain(
        R"({"minLifetimeValue": 1000, "maxOrders": 1, "minAverageOrderValue": 550.25, "maxDaysSinceLastPurchase": 3.5,
            "minTenureDays": 45.000001, "minPurchaseFrequency": 1.333333})",
        c);
    EXPECT_FALSE(flag(e, "matched"));

    const json::Value& value = member(e, "minLifetimeValue");
    EXPECT_EQ(number(value, "bound"), "1000");
    EXPECT_EQ(number(value, "value"), "1100.5");
    EXPECT_TRUE(flag(value, "held"));

    const json::Value& orders = member(e, "maxOrders");
    EXPECT_EQ(number(orders, "value"), "2");
    EXPECT_FALSE(flag(orders, "held"));

    const json::Value& average = member(e, "minAverageOrderValue");
    EXPECT_EQ(number(average, "bound"), "550.25");
    EXPECT_EQ(number(average, "value"), "550.25");
    EXPECT_TRUE(flag(average, "held"));  // inclusive

    const json::Value& recency = member(e, "maxDaysSinceLastPurchase");
    EXPECT_EQ(number(recency, "value"), "3.5");
    EXPECT_TRUE(flag(recency, "held"));

    const json::Value& tenure = member(e, "minTenureDays");
    EXPECT_EQ(number(tenure, "value"), "45");
    EXPECT_FALSE(flag(tenure, "held"));  // 45 days is short of 45.000001

    // 2 orders * 30 / 45 days = 1.3333333...: shown rounded, compared exactly.
    const json::Value& frequency = member(e, "minPurchaseFrequency");
    EXPECT_EQ(number(frequency, "value"), "1.333333");
    EXPECT_TRUE(flag(frequency, "held"));
}

TEST(Explain, HeldIsExactWhereTheShownValueIsRounded) {
    Customer c = customer(0, 2, kNow, kNow - 45 * kDay);
    json::Value e = explain(R"({"minPurchaseFrequency": 1.3333334})", c);
    EXPECT_EQ(number(member(e, "minPurchaseFrequency"), "value"), "1.333333");
    EXPECT_FALSE(flag(member(e, "minPurchaseFrequency"), "held"));
}

TEST(Explain, MetricsWithoutAValueAreNullAndNeverHold) {
    Customer c = customer(0, 0, std::nullopt, std::nullopt);
    json::Value e = explain(
        R"({"maxAverageOrderValue": 10, "maxDaysSinceLastPurchase": 10, "maxTenureDays": 10,
            "maxPurchaseFrequency": 10, "loyaltyLevels": ["GOLD"], "maxOrders": 0})",
        c);
    for (const char* key : {"maxAverageOrderValue", "maxDaysSinceLastPurchase", "maxTenureDays", "maxPurchaseFrequency",
                            "loyaltyLevels"}) {
        EXPECT_EQ(member(member(e, key), "value").kind, json::Kind::Null) << key;
        EXPECT_FALSE(flag(member(e, key), "held")) << key;
    }
    EXPECT_TRUE(flag(member(e, "maxOrders"), "held"));
    EXPECT_FALSE(flag(e, "matched"));
}

TEST(Explain, LoyaltyLevelsAreQuotedAndEscaped) {
    Customer c = customer(0, 0, std::nullopt, kNow, "Gold \"A\"\\\n");
    json::Value e = explain(R"({"loyaltyLevels": ["SILVER", "Gold \"A\"\\\n"]})", c);
    const json::Value& levels = member(e, "loyaltyLevels");
    ASSERT_EQ(member(levels, "bound").items.size(), 2u);
    EXPECT_EQ(member(levels, "bound").items[1].text, "Gold \"A\"\\\n");
    EXPECT_EQ(member(levels, "value").text, "Gold \"A\"\\\n");
    EXPECT_TRUE(flag(levels, "held"));
    EXPECT_TRUE(flag(e, "matched"));
}

TEST(Explain, NestingMirrorsTheCriteria) {
    Customer c = customer(50000, 5, kNow - 10 * kDay, kNow - 100 * kDay, "SILVER");
    json::Value e = explain(
        R"({"minOrders": 2,
            "any": [{"minLifetimeValue": 1000}, {"loyaltyLevels": ["SILVER"]}],
            "all": [{"maxOrders": 10}],
            "not": {"maxDaysSinceLastPurchase": 7}})",
        c);
    EXPECT_TRUE(flag(e, "matched"));
    const json::Value& any = member(e, "any");
    ASSERT_EQ(any.kind, json::Kind::Array);
    ASSERT_EQ(any.items.size(), 2u);
    EXPECT_FALSE(flag(any.items[0], "matched"));
    EXPECT_FALSE(flag(member(any.items[0], "minLifetimeValue"), "held"));
    EXPECT_TRUE(flag(any.items[1], "matched"));
    const json::Value& all = member(e, "all");
    ASSERT_EQ(all.items.size(), 1u);
    EXPECT_TRUE(flag(all.items[0], "matched"));
    // Under "not", the object is explained as itself: it did not match, so "not" held.
    const json::Value& negated = member(e, "not");
    EXPECT_FALSE(flag(negated, "matched"));
    EXPECT_EQ(number(member(negated, "maxDaysSinceLastPurchase"), "value"), "10");
}

TEST(Explain, MatchedIsTheMatchersAnswerAtEveryCustomerAndInstant) {
    const std::vector<std::string> documents = {
        R"({"minOrders": 2, "any": [{"minLifetimeValue": 100}, {"loyaltyLevels": ["GOLD"]}]})",
        R"({"not": {"any": [{"maxDaysSinceLastPurchase": 30}, {"maxTenureDays": 10}]}})",
        R"({"all": [{"minPurchaseFrequency": 0.5}, {"not": {"maxAverageOrderValue": 40}}]})",
    };
    std::vector<Customer> customers = {
        customer(0, 0, std::nullopt, std::nullopt),
        customer(15000, 3, kNow - 40 * kDay, kNow - 200 * kDay, "GOLD"),
        customer(9000, 2, kNow - 5 * kDay, kNow - 5 * kDay),
        customer(3000, 1, kNow - 31 * kDay, kNow - 60 * kDay, "SILVER"),
    };
    for (const auto& document : documents) {
        Matcher matcher(parse_criteria(document));
        for (const Customer& c : customers) {
            for (Micros as_of : {kNow, kNow + 20 * kDay, kNow - 3 * kDay}) {
                EXPECT_EQ(flag(explain(document, c, as_of), "matched"), matcher.matches(c, as_of)) << document;
            }
        }
    }
}

TEST(Explain, NegativeDaysWhenTheLastOrderIsAfterAsOf) {
    Customer c = customer(100, 1, kNow + kDay / 4, kNow - kDay);
    EXPECT_EQ(number(member(explain(R"({"maxDaysSinceLastPurchase": 1})", c), "maxDaysSinceLastPurchase"), "value"),
              "-0.25");
}

TEST(Explain, InvalidCriteriaAreTheReadersErrors) {
    try {
        explain_criteria(R"({"any": [{"minOrders": -1}]})", Customer{}, kNow);
        FAIL() << "no error";
    } catch (const CriteriaError& e) {
        EXPECT_EQ(std::string(e.what()), "criteria.any[0].minOrders: expected a non-negative number");
    }
    EXPECT_THROW(explain_criteria("[1]", Customer{}, kNow), CriteriaError);
    EXPECT_THROW(explain_criteria("{", Customer{}, kNow), CriteriaError);
}

TEST(Explain, JsonStringEscapesControlCharacters) {
    EXPECT_EQ(json_string(std::string("a\x01"
                                      "b\t\"",
                                      5)),
              "\"a\\u0001b\\t\\\"\"");
}

namespace {

// Attribute values as the extension stores them (customer_metrics.attributes).
Customer with_attributes(const AttributeValues& values) {
    Customer c = customer(0, 0, std::nullopt, kNow);
    c.attributes = &values;
    return c;
}

const AttributeSchema kSchema = {{"country", AttributeKind::Text},       {"age", AttributeKind::Number},
                                 {"newsletter", AttributeKind::Boolean}, {"born", AttributeKind::Time},
                                 {"seen", AttributeKind::Time},          {"phone", AttributeKind::Text}};

json::Value explain_with(const std::string& criteria, const Customer& c, const ExplainContext& context) {
    return json::parse(explain_criteria(criteria, c, kNow, "criteria", context));
}

std::string written(const json::Value& value) {
    switch (value.kind) {
        case json::Kind::Null: return "null";
        case json::Kind::Boolean: return value.boolean ? "true" : "false";
        case json::Kind::Number: return value.text;
        case json::Kind::String: return "\"" + value.text + "\"";
        case json::Kind::Array: {
            std::string out = "[";
            for (std::size_t i = 0; i < value.items.size(); ++i) out += (i ? "," : "") + written(value.items[i]);
            return out + "]";
        }
        case json::Kind::Object: {
            std::string out = "{";
            for (std::size_t i = 0; i < value.members.size(); ++i)
                out += (i ? "," : "") + ("\"" + value.members[i].first + "\":") + written(value.members[i].second);
            return out + "}";
        }
    }
    return "?";
}

}  // namespace

TEST(Explain, EachAttributeCarriesItsTestsTheValueAndWhetherItHeld) {
    AttributeValues values;
    // 1990-05-17 (a date: midnight UTC) and 2024-05-01T12:30:00.25Z, in seconds since 1970.
    values.read(R"({"age": 34.50, "born": 642902400, "country": "DE", "newsletter": false, "seen": 1714566600.25})");
    Customer c = with_attributes(values);
    ExplainContext context;
    context.schema = &kSchema;
    json::Value e = explain_with(
        R"({"attributes": {"country": {"in": ["DE", "AT"]}, "age": {"min": 35}, "newsletter": {"equals": false},
                           "born": {"min": "1990-01-01", "max": "1990-12-31"}, "seen": {"isNull": false},
                           "phone": {"isNull": false}}})",
        c, context);
    EXPECT_FALSE(flag(e, "matched"));
    const json::Value& a = member(e, "attributes");
    ASSERT_EQ(a.kind, json::Kind::Object);
    ASSERT_EQ(a.members.size(), 6u);
    EXPECT_EQ(written(member(a, "country")), R"({"bound":{"in":["DE","AT"]},"value":"DE","held":true})");
    EXPECT_EQ(written(member(a, "age")), R"({"bound":{"min":35},"value":34.50,"held":false})");
    EXPECT_EQ(written(member(a, "newsletter")), R"({"bound":{"equals":false},"value":false,"held":true})");
    EXPECT_EQ(written(member(a, "born")),
              R"({"bound":{"min":"1990-01-01","max":"1990-12-31"},"value":"1990-05-17","held":true})");
    EXPECT_EQ(written(member(member(a, "seen"), "value")), R"("2024-05-01T12:30:00.25Z")");
    EXPECT_TRUE(flag(member(a, "seen"), "held"));
    EXPECT_EQ(written(member(a, "phone")), R"({"bound":{"isNull":false},"value":null,"held":false})");

    // Each attribute's "held" is its tests alone, as the matcher answers them.
    json::Value alone =
        explain_with(R"({"attributes": {"country": {"equals": "DE"}, "age": {"max": 34.5}}})", c, context);
    EXPECT_TRUE(flag(alone, "matched"));
    EXPECT_TRUE(flag(member(member(alone, "attributes"), "age"), "held"));  // inclusive, exact
}

TEST(Explain, AttributesWithoutASchemaOrValuesShowWhatIsStored) {
    AttributeValues values;
    values.read(R"({"born": 642902400, "huge": 12345678901234567890123, "nan": "NaN"})");
    Customer c = with_attributes(values);
    json::Value e =
        explain(R"({"attributes": {"born": {"min": "1990-01-01"}, "huge": {"min": 1}, "nan": {"min": 1}}})", c);
    const json::Value& a = member(e, "attributes");
    EXPECT_EQ(written(member(member(a, "born"), "value")), "642902400");  // no schema: seconds, as stored
    EXPECT_TRUE(flag(member(a, "born"), "held"));
    EXPECT_EQ(written(member(member(a, "huge"), "value")), "12345678901234567890123");
    EXPECT_TRUE(flag(member(a, "huge"), "held"));
    EXPECT_EQ(written(member(member(a, "nan"), "value")), "\"NaN\"");
    EXPECT_FALSE(flag(member(a, "nan"), "held"));
    // A customer without attribute values: every value null.
    json::Value none = explain(R"({"attributes": {"born": {"isNull": true}}})", customer(0, 0, std::nullopt, kNow));
    EXPECT_EQ(written(member(member(none, "attributes"), "born")),
              R"({"bound":{"isNull":true},"value":null,"held":true})");
}

TEST(Explain, TimesOutsideTheCriteriasYearsStayNumbers) {
    AttributeValue v;
    v.kind = AttributeValue::Kind::Number;
    v.text = "-62135596801";  // 0000-12-31T23:59:59Z
    v.number = exact::money_key_from_units(static_cast<exact::int128>(-62135596801LL) * kOne);
    EXPECT_EQ(attribute_value_json(v, AttributeKind::Time), "-62135596801");
    v.text = "-62135596800";  // 0001-01-01
    v.number = exact::money_key_from_units(static_cast<exact::int128>(-62135596800LL) * kOne);
    EXPECT_EQ(attribute_value_json(v, AttributeKind::Time), "\"0001-01-01\"");
    EXPECT_EQ(attribute_value_json(v, AttributeKind::Number), "-62135596800");
    v.text = "-1";  // one second before 1970
    v.number = exact::money_key_from_units(-kOne);
    EXPECT_EQ(attribute_value_json(v, AttributeKind::Time), "\"1969-12-31T23:59:59Z\"");
}

TEST(Explain, FormatTimeIsTheInverseOfParseTime) {
    for (const char* text : {"0001-01-01", "1969-12-31T23:59:59.999999Z", "1970-01-01", "2000-02-29T00:00:01Z",
                             "2024-05-01T12:30:00.25Z", "9999-12-31T23:59:59Z", "1600-03-01"}) {
        std::optional<std::int64_t> micros = parse_time(text);
        ASSERT_TRUE(micros) << text;
        EXPECT_EQ(format_time(*micros).value_or("none"), text);
    }
    EXPECT_FALSE(format_time(*parse_time("0001-01-01") - 1));
    EXPECT_FALSE(format_time(*parse_time("9999-12-31T23:59:59.999999Z") + 1));
}

TEST(Explain, MembershipTestsShowTheNamedSegmentsTheCustomerIsIn) {
    MemberList segments({3, 7});
    ExplainContext context;
    context.membership = &segments;
    Customer c = customer(0, 0, std::nullopt, kNow);
    json::Value e =
        explain_with(R"({"inSegment": 3, "notInSegment": [8, 7, 9], "any": [{"inSegment": [4, 5]}]})", c, context);
    EXPECT_FALSE(flag(e, "matched"));
    EXPECT_EQ(written(member(e, "inSegment")), R"({"bound":3,"value":[3],"held":true})");
    EXPECT_EQ(written(member(e, "notInSegment")), R"({"bound":[8,7,9],"value":[7],"held":false})");
    EXPECT_EQ(written(member(e, "any")), R"([{"matched":false,"inSegment":{"bound":[4,5],"value":[],"held":false}}])");

    json::Value yes = explain_with(R"({"inSegment": [9, 7], "notInSegment": 8})", c, context);
    EXPECT_TRUE(flag(yes, "matched"));
    EXPECT_EQ(written(member(yes, "inSegment")), R"({"bound":[9,7],"value":[7],"held":true})");
    EXPECT_EQ(written(member(yes, "notInSegment")), R"({"bound":8,"value":[],"held":true})");

    // Without a view of the customer's segments, neither test holds (as the matcher says).
    json::Value blind = explain(R"({"notInSegment": 8})", c);
    EXPECT_EQ(written(member(blind, "notInSegment")), R"({"bound":8,"value":null,"held":false})");
    EXPECT_FALSE(flag(blind, "matched"));
}

TEST(Explain, MatchedIsTheMatchersAnswerWithMembershipAndAttributes) {
    AttributeValues adult, minor;
    adult.read(R"({"age": 40, "country": "FR"})");
    minor.read(R"({"age": 15})");
    const std::vector<std::string> documents = {
        R"({"inSegment": [2, 5], "not": {"attributes": {"age": {"max": 17}}}})",
        R"({"any": [{"notInSegment": 2}, {"attributes": {"country": {"isNull": true}}}]})",
        R"({"all": [{"attributes": {"age": {"min": 18}}}, {"not": {"inSegment": 5}}]})",
    };
    std::vector<MemberList> views = {MemberList({}), MemberList({2}), MemberList({2, 5}), MemberList({5})};
    for (const auto& document : documents) {
        Matcher matcher(parse_criteria(document));
        for (const AttributeValues* values : {&adult, &minor}) {
            Customer c = with_attributes(*values);
            for (const MemberList& view : views) {
                ExplainContext context;
                context.membership = &view;
                EXPECT_EQ(flag(explain_with(document, c, context), "matched"), matcher.matches(c, kNow, view))
                    << document;
            }
        }
    }
}
