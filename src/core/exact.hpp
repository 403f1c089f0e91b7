// Exact arithmetic for criteria thresholds and money.
//
// Criteria numbers are read from their decimal spelling into fixed point with
// 18 decimal places (never through a binary float), so `minLifetimeValue: 1000`
// matches orders summing to exactly 1000.00 and 0.1 stays 0.1.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace segmentation::exact {

using int128 = __int128;
using uint128 = unsigned __int128;

constexpr int kScale = 18;                                           // decimal places kept
constexpr int128 kOne = static_cast<int128>(1000000000000000000LL);  // 10^18
constexpr int128 kMaxNumber = kOne * kOne;                           // 10^18, in units of 10^-18

// 10^n for 0 <= n <= 38.
uint128 pow10(int n) noexcept;

enum class NumberStatus { Ok, Negative, TooPrecise, TooLarge, Malformed };

struct Number {
    NumberStatus status = NumberStatus::Malformed;
    int128 units = 0;  // value * 10^18, when status == Ok
};

// Reads a JSON number literal. Accepts values in [0, 10^18] with at most 18
// significant decimal places (trailing zeros do not count); "-0" is zero.
Number parse_number(std::string_view literal) noexcept;

// Shortest decimal spelling of units * 10^-18 ("1000", "0.5", "-2.25").
std::string format_units(int128 units);

// sign(a * b - c * d) for unsigned 128-bit factors, computed in 256 bits.
int compare_products(uint128 a, uint128 b, uint128 c, uint128 d) noexcept;

// A money amount as an exact comparison key: twice its value in units of
// 10^-18, plus one when non-zero digits beyond the 18th decimal place were
// dropped. For any threshold t on the 10^-18 grid, comparing keys against 2t
// gives the exact answer for both >= and <=, whatever the amount's scale.
using MoneyKey = int128;

// Builds a key from PostgreSQL's numeric layout (base-10000 digits, most
// significant first, the first digit worth 10000^weight). Returns nothing when
// the magnitude is 10^19 or more (far beyond any shop's lifetime value).
std::optional<MoneyKey> money_key_from_base10000(bool negative, int weight, const std::int16_t* digits,
                                                 int ndigits) noexcept;

// The key of a JSON number literal of any sign, magnitude and precision
// (customer attributes are stored as JSON numbers). `beyond` is -1 or +1,
// and `key` unset, when the magnitude is 10^19 or more: below or above every
// criteria threshold. `ok` is false for text that is not a number literal.
struct LiteralKey {
    bool ok = false;
    MoneyKey key = 0;
    int beyond = 0;
};
LiteralKey money_key_from_literal(std::string_view literal) noexcept;

// Key of an exact amount in 10^-18 units (used by tests and for zero).
constexpr MoneyKey money_key_from_units(int128 units) noexcept { return units * 2; }

}  // namespace segmentation::exact
