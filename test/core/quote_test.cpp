// Error messages quote a bounded amount of the document, and name where a
// document nests too deeply.
#include <gtest/gtest.h>

#include <string>

#include "core/criteria.hpp"
#include "core/json.hpp"

namespace segmentation {
namespace {

std::string criteria_error(const std::string& text) {
    try {
        parse_criteria(text);
    } catch (const CriteriaError& e) {
        return e.what();
    }
    return "(no error)";
}

std::string nested_array(int depth) { return std::string(depth, '[') + "\"gold\"" + std::string(depth, ']'); }

TEST(Quote, UnknownIdentifierKeyIsCut) {
    std::string key(1 << 20, 'k');
    std::string message = criteria_error("{\"" + key + "\": 1}");
    EXPECT_EQ(message, "criteria." + std::string(100, 'k') + "...: unknown key");
}

TEST(Quote, UnknownQuotedKeyIsCut) {
    std::string key = "a b" + std::string(1 << 20, 'x');
    std::string message = criteria_error("{\"" + key + "\": 1}");
    EXPECT_EQ(message, "criteria[\"a b" + std::string(97, 'x') + "...\"]: unknown key");
}

TEST(Quote, CutKeepsUtf8CharactersWhole) {
    std::string key;
    for (int i = 0; i < 100; ++i) key += "\xC3\xA9";  // é, two bytes each
    std::string cut = json::excerpt(key);
    EXPECT_EQ(cut, key.substr(0, 100) + "...");
    EXPECT_EQ(json::excerpt("x" + key).size(), 99u + 3u);  // stops before the split character
}

TEST(Quote, ShortTextIsKept) { EXPECT_EQ(json::excerpt("minOrders"), "minOrders"); }

TEST(Quote, DuplicateKeyIsCut) {
    std::string key(1 << 20, 'd');
    std::string message = criteria_error("{\"" + key + "\": 1, \"" + key + "\": 2}");
    EXPECT_LT(message.size(), 200u) << message.substr(0, 200);
    EXPECT_NE(message.find("duplicate key \"" + std::string(100, 'd') + "...\""), std::string::npos);
}

TEST(DeepNesting, NonCriteriaArrayNamesThePath) {
    std::string message = criteria_error("{\"minOrders\": 1, \"loyaltyLevels\": " + nested_array(300) + "}");
    EXPECT_EQ(message.rfind("criteria.loyaltyLevels[0][0][0]", 0), 0u) << message;
    EXPECT_NE(message.find("...: nesting deeper than 32 levels"), std::string::npos) << message;
    EXPECT_LT(message.size(), 200u);
}

TEST(DeepNesting, DeepCriteriaNamesThePath) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += "{\"not\": ";
    text += "{}" + std::string(300, '}');
    std::string message = criteria_error(text);
    EXPECT_EQ(message.rfind("criteria.not.not.not", 0), 0u) << message;
}

}  // namespace
}  // namespace segmentation
