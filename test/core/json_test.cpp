#include <gtest/gtest.h>

#include "core/json.hpp"

using segmentation::json::Kind;
using segmentation::json::parse;
using segmentation::json::SyntaxError;

TEST(Json, ReadsNestedDocumentInOrder) {
    auto v = parse(R"( {"b": [1, 2.50, -3e2], "a": {"t": true, "f": false, "n": null}} )");
    ASSERT_EQ(v.kind, Kind::Object);
    ASSERT_EQ(v.members.size(), 2u);
    EXPECT_EQ(v.members[0].first, "b");
    EXPECT_EQ(v.members[1].first, "a");
    const auto& numbers = v.members[0].second.items;
    ASSERT_EQ(numbers.size(), 3u);
    EXPECT_EQ(numbers[1].text, "2.50");  // literal spelling kept for exactness
    EXPECT_EQ(numbers[2].text, "-3e2");
    const auto& inner = v.members[1].second.members;
    EXPECT_TRUE(inner[0].second.boolean);
    EXPECT_EQ(inner[1].second.kind, Kind::Boolean);
    EXPECT_FALSE(inner[1].second.boolean);
    EXPECT_EQ(inner[2].second.kind, Kind::Null);
}

TEST(Json, DecodesEscapesAndSurrogatePairs) {
    auto v = parse(R"("a\"b\\c\/\n\u00e9\ud83d\ude00")");
    EXPECT_EQ(v.text, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, PassesNonAsciiBytesThrough) {
    // Text comes in the database encoding; bytes are kept as they are.
    EXPECT_EQ(parse("\"Gold \xc3\xa9\"").text, "Gold \xc3\xa9");
    EXPECT_EQ(parse("\"Gold \xe9\"").text, "Gold \xe9");
}

TEST(Json, RefusesMalformedText) {
    for (const char* bad : {"",         "{",       "{\"a\" 1}",   "[1,]",         "{\"a\":1,}",
                            "01",       "1.",      "-",           "1e",           "tru",
                            "\"abc",    "\"\\x\"", "\"\\ud800\"", "\"\\udc00x\"", "[1] 2",
                            "\"\x01\"", "NaN",     "Infinity",    "\"\\u0000\"",  "{\"a\":1,\"a\":2}"}) {
        EXPECT_THROW(parse(bad), SyntaxError) << bad;
    }
}

TEST(Json, LimitsNestingDepth) {
    std::string ok(segmentation::json::kMaxDepth, '[');
    ok += std::string(segmentation::json::kMaxDepth, ']');
    EXPECT_NO_THROW(parse(ok));
    std::string deep(segmentation::json::kMaxDepth + 1, '[');
    deep += std::string(segmentation::json::kMaxDepth + 1, ']');
    try {
        parse(deep);
        FAIL() << "accepted text nested past the limit";
    } catch (const SyntaxError& e) {
        EXPECT_TRUE(e.too_deep());
    }
    // A million brackets must be refused, not overflow the stack.
    EXPECT_THROW(parse(std::string(1000000, '[')), SyntaxError);
}
