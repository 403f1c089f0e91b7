#include <gtest/gtest.h>

#include <string>

#include "core/criteria.hpp"
#include "core/matcher.hpp"

using namespace segmentation;

namespace {

const AttributeSchema kSchema = {
    {"country", AttributeKind::Text},
    {"age", AttributeKind::Number},
    {"newsletter", AttributeKind::Boolean},
    {"born", AttributeKind::Time},
};

// The full message of the error a document gets against kSchema, or "".
std::string error_of(const std::string& json) {
    try {
        check_attributes(parse_criteria(json), kSchema);
    } catch (const CriteriaError& e) {
        return e.what();
    }
    return "";
}

// Whether a customer with these stored attributes matches.
bool matches(const std::string& criteria, const std::string& stored) {
    AttributeValues values;
    values.read(stored);
    Customer c;
    c.attributes = &values;
    return Matcher(parse_criteria(criteria)).matches(c, 0);
}

}  // namespace

TEST(Attributes, ReadsConditions) {
    Criteria c = parse_criteria(
        R"({"attributes": {"country": {"in": ["DE", "FR"]}, "age": {"min": -1.5, "max": 65}, "born": {"min": "2000-01-01"}}})");
    ASSERT_EQ(c.attributes.size(), 3u);
    EXPECT_EQ(c.attributes[0].name, "country");
    EXPECT_EQ(c.attributes[0].path, "criteria.attributes.country");
    EXPECT_EQ(c.attributes[0].in.size(), 2u);
    EXPECT_EQ(c.attributes[1].min->units, -exact::kOne * 3 / 2);
    EXPECT_EQ(c.attributes[2].min->kind, AttributeLiteral::Kind::Time);
    // 2000-01-01 is 946684800 seconds after 1970-01-01.
    EXPECT_EQ(c.attributes[2].min->units, static_cast<exact::int128>(946684800) * exact::kOne);
    EXPECT_TRUE(uses_attributes(c));
    EXPECT_FALSE(uses_attributes(parse_criteria(R"({"any": [{"minOrders": 1}]})")));
    EXPECT_TRUE(uses_attributes(parse_criteria(R"({"not": {"attributes": {"x": {"isNull": true}}}})")));
    EXPECT_EQ(
        error_of(R"({"any": [{"attributes": {"country": {"equals": "DE"}}}], "attributes": {"age": {"equals": 3}}})"),
        "");
}

TEST(Attributes, RefusesMalformedTests) {
    EXPECT_EQ(error_of(R"({"attributes": []})"),
              "criteria.attributes: expected a non-empty object of attribute names and their tests");
    EXPECT_EQ(error_of(R"({"attributes": {}})"),
              "criteria.attributes: expected a non-empty object of attribute names and their tests");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {}}})"),
              "criteria.attributes.country: expected an object of tests (equals, in, min, max, isNull)");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {"equal": "DE"}}})"),
              "criteria.attributes.country: unknown test \"equal\" (tests are equals, in, min, max, isNull)");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {"in": []}}})"),
              "criteria.attributes.country.in: expected a non-empty array of strings or of numbers");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {"in": ["DE", 1]}}})"),
              "criteria.attributes.country.in[1]: expected the same kind of value as the first (strings or numbers)");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {"in": [true]}}})"),
              "criteria.attributes.country.in[0]: expected a string or a number, not a boolean");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"min": true}}})"),
              "criteria.attributes.age.min: expected a number or a time, not a boolean");
    EXPECT_EQ(error_of(R"({"attributes": {"born": {"min": "yesterday"}}})"),
              "criteria.attributes.born.min: expected a time such as \"2024-05-01\" or \"2024-05-01T12:00:00Z\", not "
              "\"yesterday\"");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"min": 1e19}}})"),
              "criteria.attributes.age.min: expected a number between -10^18 and 10^18");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"max": 0.0000000000000000001}}})"),
              "criteria.attributes.age.max: expected a number with at most 18 decimal places");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"min": 65, "max": 18}}})"),
              "criteria.attributes.age: min (65) is greater than max (18)");
    EXPECT_EQ(error_of(R"({"attributes": {"born": {"min": "2001-01-01", "max": "2000-12-31"}}})"),
              "criteria.attributes.born: min (2001-01-01) is greater than max (2000-12-31)");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"min": 1, "max": "2000-12-31"}}})"),
              "criteria.attributes.age: min and max must both be numbers or both be times");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"isNull": 1}}})"),
              "criteria.attributes.age.isNull: expected true or false, not a number");
    EXPECT_EQ(error_of(R"({"attributes": {"odd name": {"isNull": 1}}})"),
              "criteria.attributes[\"odd name\"].isNull: expected true or false, not a number");
    EXPECT_EQ(error_of(R"({"atributes": {}})"), "criteria.atributes: unknown key (did you mean \"attributes\"?)");
}

TEST(Attributes, ChecksNamesAndKinds) {
    EXPECT_EQ(error_of(R"({"attributes": {"contry": {"equals": "DE"}}})"),
              "criteria.attributes.contry: unknown attribute (did you mean \"country\"?)");
    EXPECT_EQ(error_of(R"({"all": [{"attributes": {"colour": {"equals": "red"}}}]})"),
              "criteria.all[0].attributes.colour: unknown attribute");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {"min": 3}}})"),
              "criteria.attributes.country.min: \"country\" is a text attribute, which takes equals, in and isNull "
              "(not min)");
    EXPECT_EQ(error_of(R"({"attributes": {"country": {"equals": 3}}})"),
              "criteria.attributes.country.equals: expected a string: \"country\" is a text attribute");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"in": ["3"]}}})"),
              "criteria.attributes.age.in[0]: expected a number: \"age\" is a number attribute");
    EXPECT_EQ(error_of(R"({"attributes": {"age": {"min": "2000-01-01"}}})"),
              "criteria.attributes.age.min: expected a number: \"age\" is a number attribute");
    EXPECT_EQ(error_of(R"({"attributes": {"newsletter": {"equals": "yes"}}})"),
              "criteria.attributes.newsletter.equals: expected true or false: \"newsletter\" is a boolean attribute");
    EXPECT_EQ(error_of(R"({"attributes": {"newsletter": {"in": [1]}}})"),
              "criteria.attributes.newsletter.in: \"newsletter\" is a boolean attribute, which takes equals (true or "
              "false) and isNull (not in)");
    EXPECT_EQ(error_of(R"({"attributes": {"born": {"equals": "2000-01-01"}}})"),
              "criteria.attributes.born.equals: \"born\" is a time attribute, which takes min, max and isNull (not "
              "equals)");
    EXPECT_EQ(error_of(R"({"attributes": {"born": {"max": 5}}})"),
              "criteria.attributes.born.max: expected a time: \"born\" is a time attribute");
    try {
        check_attributes(parse_criteria(R"({"attributes": {"age": {"min": 1}}})"), {});
        FAIL() << "accepted an attribute no shop declared";
    } catch (const CriteriaError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "criteria.attributes.age: unknown attribute (no attributes are tracked: see "
                  "segmentation.track_customer_attributes)");
    }
}

TEST(Attributes, ParsesTimes) {
    EXPECT_EQ(parse_time("1970-01-01"), 0);
    EXPECT_EQ(parse_time("1970-01-02T00:00:00Z"), 86400LL * 1000000);
    EXPECT_EQ(parse_time("1970-01-01 00:00:01.5"), 1500000);
    EXPECT_EQ(parse_time("1970-01-01T02:00+02:00"), 0);
    EXPECT_EQ(parse_time("1970-01-01T00:00:00-0130"), 90LL * 60 * 1000000);
    EXPECT_EQ(parse_time("1969-12-31T23:59:59.999999Z"), -1);
    EXPECT_EQ(parse_time("2000-02-29"), 951782400LL * 1000000);
    EXPECT_EQ(parse_time("0001-01-01"), -62135596800LL * 1000000);
    EXPECT_EQ(parse_time("9999-12-31T23:59:59.999999Z"), 253402300799999999LL);
    for (const char* bad : {"", "2001-02-29", "2000-13-01", "2000-00-10", "2000-01-32", "0000-01-01", "2000-1-01",
                            "2000-01-01T24:00", "2000-01-01T12", "2000-01-01T12:00:00.", "2000-01-01T12:00:00.1234567",
                            "2000-01-01T12:00Q", "2000-01-01 ", "2000-01-01T12:00+1", "2000-01-01T12:00+16:00"})
        EXPECT_FALSE(parse_time(bad).has_value()) << bad;
}

TEST(Attributes, ReadsStoredValues) {
    AttributeValues v;
    v.read(R"({"age": 42.50, "big": -1e30, "country": "DE", "nan": "NaN", "none": null, "vip": true, "list": [1]})");
    EXPECT_EQ(v.size(), 7u);
    EXPECT_EQ(v.get("age").kind, AttributeValue::Kind::Number);
    EXPECT_EQ(v.get("age").number, exact::money_key_from_units(exact::kOne * 85 / 2));
    EXPECT_EQ(v.get("big").beyond, -1);
    EXPECT_EQ(v.get("country").text, "DE");
    EXPECT_EQ(v.get("nan").kind, AttributeValue::Kind::String);
    EXPECT_EQ(v.get("none").kind, AttributeValue::Kind::Null);
    EXPECT_EQ(v.get("missing").kind, AttributeValue::Kind::Null);
    EXPECT_TRUE(v.get("vip").boolean);
    EXPECT_EQ(v.get("list").kind, AttributeValue::Kind::Other);
    v.read("not json");
    EXPECT_EQ(v.size(), 0u);
    v.read("[1, 2]");
    EXPECT_EQ(v.size(), 0u);
}

TEST(Attributes, LiteralKeysAreExact) {
    using exact::money_key_from_literal;
    EXPECT_EQ(money_key_from_literal("0.5").key, exact::money_key_from_units(exact::kOne / 2));
    EXPECT_EQ(money_key_from_literal("-0.5").key, exact::money_key_from_units(-exact::kOne / 2));
    EXPECT_EQ(money_key_from_literal("5e-1").key, exact::money_key_from_units(exact::kOne / 2));
    EXPECT_EQ(money_key_from_literal("-0").key, 0);
    // Digits beyond the 18th place make the key odd, between its neighbours.
    EXPECT_EQ(money_key_from_literal("0.0000000000000000011").key, 3);
    EXPECT_EQ(money_key_from_literal("-0.0000000000000000011").key, -3);
    EXPECT_EQ(money_key_from_literal("9999999999999999999.5").key,
              exact::money_key_from_units(static_cast<exact::int128>(9999999999999999999ULL) * exact::kOne +
                                          exact::kOne / 2));
    EXPECT_EQ(money_key_from_literal("10000000000000000000").beyond, 1);
    EXPECT_EQ(money_key_from_literal("-1e19").beyond, -1);
    EXPECT_FALSE(money_key_from_literal("-").ok);
    EXPECT_FALSE(money_key_from_literal("abc").ok);
    EXPECT_FALSE(money_key_from_literal("-").ok);
}

TEST(Attributes, MatchTextBooleanAndNull) {
    const std::string stored = R"({"country": "DE", "newsletter": false})";
    EXPECT_TRUE(matches(R"({"attributes": {"country": {"equals": "DE"}}})", stored));
    EXPECT_FALSE(matches(R"({"attributes": {"country": {"equals": "de"}}})", stored));  // case-sensitive
    EXPECT_TRUE(matches(R"({"attributes": {"country": {"in": ["FR", "DE"]}}})", stored));
    EXPECT_FALSE(matches(R"({"attributes": {"country": {"in": ["FR", "IT"]}}})", stored));
    EXPECT_TRUE(matches(R"({"attributes": {"newsletter": {"equals": false}}})", stored));
    EXPECT_FALSE(matches(R"({"attributes": {"newsletter": {"equals": true}}})", stored));
    EXPECT_TRUE(matches(R"({"attributes": {"phone": {"isNull": true}}})", stored));
    EXPECT_FALSE(matches(R"({"attributes": {"phone": {"isNull": false}}})", stored));
    EXPECT_FALSE(matches(R"({"attributes": {"country": {"isNull": true}}})", stored));
    EXPECT_TRUE(matches(R"({"attributes": {"country": {"isNull": false, "equals": "DE"}}})", stored));
    // A NULL value passes no other test, under "not" too.
    EXPECT_FALSE(matches(R"({"attributes": {"phone": {"equals": "1"}}})", stored));
    EXPECT_TRUE(matches(R"({"not": {"attributes": {"phone": {"equals": "1"}}}})", stored));
    // No attributes stored at all: everything is NULL.
    Customer nobody;
    EXPECT_TRUE(Matcher(parse_criteria(R"({"attributes": {"country": {"isNull": true}}})")).matches(nobody, 0));
    EXPECT_FALSE(Matcher(parse_criteria(R"({"attributes": {"country": {"in": ["DE"]}}})")).matches(nobody, 0));
}

TEST(Attributes, MatchNumberAndTimeRangesExactly) {
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"min": 18}}})", R"({"age": 18})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"min": 18}}})", R"({"age": 18.000})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"min": 18}}})", R"({"age": 17.999999999999999999999})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"max": 18}}})", R"({"age": 17.999999999999999999999})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"max": 18}}})", R"({"age": 18.0000000000000000000001})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"min": -5, "max": -1}}})", R"({"age": -1})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"min": -5, "max": -1}}})", R"({"age": -5.0000000000000000001})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"equals": 2.5}}})", R"({"age": 2.50})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"equals": 2.5}}})", R"({"age": 2.5000000000000000001})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"in": [1, 2.5]}}})", R"({"age": 2.5})"));
    // Beyond every threshold.
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"min": 1000000000000000000}}})", R"({"age": 1e40})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"max": 1000000000000000000}}})", R"({"age": 1e40})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"max": -1000000000000000000}}})", R"({"age": -1e40})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"in": [1]}}})", R"({"age": 1e40})"));
    // NaN and infinities are stored as strings: no range holds, isNull false.
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"min": 0}}})", R"({"age": "NaN"})"));
    EXPECT_FALSE(matches(R"({"attributes": {"age": {"max": 0}}})", R"({"age": "-Infinity"})"));
    EXPECT_TRUE(matches(R"({"attributes": {"age": {"isNull": false}}})", R"({"age": "Infinity"})"));
    // Times are stored in seconds since 1970; criteria write them as times.
    const std::string born = R"({"born": 946684800.000001})";  // 2000-01-01T00:00:00.000001Z
    EXPECT_TRUE(matches(R"({"attributes": {"born": {"min": "2000-01-01"}}})", born));
    EXPECT_TRUE(matches(R"({"attributes": {"born": {"min": "2000-01-01T00:00:00.000001Z"}}})", born));
    EXPECT_FALSE(matches(R"({"attributes": {"born": {"min": "2000-01-01T00:00:00.000002Z"}}})", born));
    EXPECT_TRUE(matches(R"({"attributes": {"born": {"max": "2000-01-01T01:00:00.000001+01:00"}}})", born));
    EXPECT_FALSE(matches(R"({"attributes": {"born": {"max": "2000-01-01T01:00:00+01:00"}}})", born));
}

TEST(Attributes, DoNotDependOnTheClock) {
    Matcher m(parse_criteria(R"({"attributes": {"age": {"min": 18}}})"));
    EXPECT_FALSE(m.uses_time());
    AttributeValues values;
    values.read(R"({"age": 20})");
    Customer c;
    c.attributes = &values;
    EXPECT_FALSE(m.next_change(c, 0).has_value());
}
