#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/exact.hpp"

using namespace segmentation::exact;

namespace {
int128 units(long long whole) { return static_cast<int128>(whole) * kOne; }
}  // namespace

TEST(Exact, ParsesDecimalSpellingsExactly) {
    EXPECT_EQ(parse_number("1000").units, units(1000));
    EXPECT_EQ(parse_number("1000.00").units, units(1000));
    EXPECT_EQ(parse_number("1e3").units, units(1000));
    EXPECT_EQ(parse_number("10000e-1").units, units(1000));
    EXPECT_EQ(parse_number("0.1").units, kOne / 10);
    EXPECT_EQ(parse_number("0.000000000000000001").units, 1);
    EXPECT_EQ(parse_number("1000000000000000000").units, kMaxNumber);
    EXPECT_EQ(parse_number("-0").status, NumberStatus::Ok);
    EXPECT_EQ(parse_number("-0.0e7").units, 0);
}

TEST(Exact, RefusesNumbersOutsideTheDomain) {
    EXPECT_EQ(parse_number("-1").status, NumberStatus::Negative);
    EXPECT_EQ(parse_number("-0.0001").status, NumberStatus::Negative);
    EXPECT_EQ(parse_number("0.0000000000000000001").status, NumberStatus::TooPrecise);
    EXPECT_EQ(parse_number("1e-19").status, NumberStatus::TooPrecise);
    EXPECT_EQ(parse_number("1000000000000000001").status, NumberStatus::TooLarge);
    EXPECT_EQ(parse_number("1e19").status, NumberStatus::TooLarge);
    EXPECT_EQ(parse_number("1e400").status, NumberStatus::TooLarge);
    EXPECT_EQ(parse_number("1e99999999999999999999").status, NumberStatus::TooLarge);
    EXPECT_EQ(parse_number("abc").status, NumberStatus::Malformed);
    EXPECT_EQ(parse_number("1.5x").status, NumberStatus::Malformed);
    EXPECT_EQ(parse_number("").status, NumberStatus::Malformed);
}

TEST(Exact, FormatsShortestSpelling) {
    EXPECT_EQ(format_units(units(1000)), "1000");
    EXPECT_EQ(format_units(kOne / 2), "0.5");
    EXPECT_EQ(format_units(-units(2) - kOne / 4), "-2.25");
    EXPECT_EQ(format_units(1), "0.000000000000000001");
    EXPECT_EQ(format_units(0), "0");
}

TEST(Exact, ComparesProductsInWideArithmetic) {
    uint128 big = static_cast<uint128>(1) << 120;
    EXPECT_EQ(compare_products(big, big, big, big), 0);
    EXPECT_EQ(compare_products(big, big + 1, big + 1, big), 0);
    EXPECT_EQ(compare_products(big, big, big - 1, big + 1), 1);  // n^2 > n^2 - 1
    EXPECT_EQ(compare_products(3, 4, 2, 6), 0);
    EXPECT_EQ(compare_products(3, 4, 2, 7), -1);
    uint128 max = ~static_cast<uint128>(0);
    EXPECT_EQ(compare_products(max, max, max, max - 1), 1);
    EXPECT_EQ(compare_products(0, max, 1, 0), 0);
}

namespace {
// 1234.5678 as numeric stores digits {1234, 5678} with weight 0.
MoneyKey key_of(bool negative, int weight, std::vector<std::int16_t> digits) {
    auto key = money_key_from_base10000(negative, weight, digits.data(), static_cast<int>(digits.size()));
    EXPECT_TRUE(key.has_value());
    return key.value_or(0);
}
}  // namespace

TEST(Exact, MoneyKeysFromNumericDigits) {
    EXPECT_EQ(key_of(false, 0, {1234, 5678}), money_key_from_units(units(1234) + kOne / 10000 * 5678));
    EXPECT_EQ(key_of(false, 0, {1000}), money_key_from_units(units(1000)));
    EXPECT_EQ(key_of(false, 1, {10}), money_key_from_units(units(100000)));  // trailing zero digits omitted
    EXPECT_EQ(key_of(false, -1, {5000}), money_key_from_units(kOne / 2));    // 0.5
    EXPECT_EQ(key_of(true, 0, {7}), money_key_from_units(-units(7)));
    EXPECT_EQ(key_of(false, 0, {}), 0);
}

TEST(Exact, MoneyKeysStayExactBeyondEighteenPlaces) {
    // 0.0000000000000000001 (19th place): floor is 0, a digit was dropped.
    MoneyKey tiny = key_of(false, -5, {10});
    EXPECT_EQ(tiny, 1);
    EXPECT_TRUE(tiny >= money_key_from_units(0));   // value >= 0
    EXPECT_FALSE(tiny <= money_key_from_units(0));  // value <= 0 is false
    EXPECT_TRUE(tiny <= money_key_from_units(1));   // value <= 10^-18
    // -0.0000000000000000001: floor is -1 unit, dropped digit.
    MoneyKey negative_tiny = key_of(true, -5, {10});
    EXPECT_FALSE(negative_tiny >= money_key_from_units(0));
    EXPECT_TRUE(negative_tiny <= money_key_from_units(0));
    EXPECT_TRUE(negative_tiny >= money_key_from_units(-1));
}

TEST(Exact, MoneyKeysSplitTheFifthFractionDigit) {
    // 0.1234 5678 9012 3456 7890: places 17-18 ("78") are kept, 19-20 ("90") dropped.
    MoneyKey key = key_of(false, -1, {1234, 5678, 9012, 3456, 7890});
    EXPECT_EQ(key, money_key_from_units(static_cast<int128>(123456789012345678LL)) + 1);
    // 12.0000 0000 0000 0000 7800: nothing dropped, 78 * 10^-18 kept.
    EXPECT_EQ(key_of(false, 0, {12, 0, 0, 0, 0, 7800}), money_key_from_units(units(12) + 78));
    // A digit beyond the fifth, after a fifth that ends in 00, still counts as dropped.
    EXPECT_EQ(key_of(false, -1, {0, 0, 0, 0, 100, 1}), money_key_from_units(1) + 1);
}

TEST(Exact, MoneyKeysRefuseAbsurdMagnitudes) {
    std::vector<std::int16_t> digits = {1};
    EXPECT_FALSE(money_key_from_base10000(false, 5, digits.data(), 1).has_value());  // 10^20
    std::vector<std::int16_t> just_below = {999, 9999, 9999, 9999, 9999};            // 9999...9 (19 digits)
    EXPECT_TRUE(money_key_from_base10000(false, 4, just_below.data(), 5).has_value());
    std::vector<std::int16_t> ten_pow_19 = {1000};  // 1000 * 10000^4 = 10^19
    EXPECT_FALSE(money_key_from_base10000(false, 4, ten_pow_19.data(), 1).has_value());
}
