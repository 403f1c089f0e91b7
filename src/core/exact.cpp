#include "core/exact.hpp"

#include <string>

namespace segmentation::exact {

namespace {

// 10^0 to 10^38, computed once: money_key_from_literal asks for one per
// digit of every metric a bulk scan reads.
struct Powers {
    uint128 value[39];
    constexpr Powers() : value() {
        value[0] = 1;
        for (int i = 1; i < 39; ++i) value[i] = value[i - 1] * 10;
    }
};
constexpr Powers kPowers;

}  // namespace

uint128 pow10(int n) noexcept {
    if (n >= 0 && n <= 38) return kPowers.value[n];
    uint128 result = 1;  // outside the documented range: as the loop always did
    for (int i = 0; i < n; ++i) result *= 10;
    return result;
}

namespace {

// The mantissa's digits of a number literal, without the decimal point: its
// integer part followed by its fraction, read in place (no allocation, so
// that parse_number can stay noexcept).
struct Mantissa {
    std::string_view integer, fraction;
    std::size_t size() const noexcept { return integer.size() + fraction.size(); }
    unsigned digit(std::size_t k) const noexcept {
        char c = k < integer.size() ? integer[k] : fraction[k - integer.size()];
        return static_cast<unsigned>(c - '0');
    }
};

std::size_t skip_digits(std::string_view text, std::size_t i) noexcept {
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i;
}

}  // namespace

Number parse_number(std::string_view literal) noexcept {
    Number out;
    std::size_t i = 0;
    bool negative = false;
    if (i < literal.size() && literal[i] == '-') {
        negative = true;
        ++i;
    }
    Mantissa digits;
    std::size_t end = skip_digits(literal, i);
    digits.integer = literal.substr(i, end - i);
    i = end;
    if (i < literal.size() && literal[i] == '.') {
        end = skip_digits(literal, ++i);
        digits.fraction = literal.substr(i, end - i);
        i = end;
    }
    if (digits.size() == 0) return out;
    long exponent = -static_cast<long>(digits.fraction.size());  // power of ten applied to `digits`
    if (i < literal.size() && (literal[i] == 'e' || literal[i] == 'E')) {
        ++i;
        bool exponent_negative = false;
        if (i < literal.size() && (literal[i] == '+' || literal[i] == '-')) {
            exponent_negative = literal[i] == '-';
            ++i;
        }
        if (i >= literal.size()) return out;
        long written = 0;
        while (i < literal.size() && literal[i] >= '0' && literal[i] <= '9') {
            // Saturate: anything this far out is refused below anyway.
            if (written < 1000000) written = written * 10 + (literal[i] - '0');
            ++i;
        }
        exponent += exponent_negative ? -written : written;
    }
    if (i != literal.size()) return out;

    std::size_t first = 0;
    while (first < digits.size() && digits.digit(first) == 0) ++first;
    if (first == digits.size()) {  // zero, however it is spelled ("-0.00e5")
        out.status = NumberStatus::Ok;
        return out;
    }
    if (negative) {
        out.status = NumberStatus::Negative;
        return out;
    }
    std::size_t last = digits.size() - 1;  // the last non-zero digit
    while (digits.digit(last) == 0) {
        --last;
        ++exponent;
    }
    long significant = static_cast<long>(last - first + 1);
    // The value is at least 10^(significant - 1 + exponent).
    if (significant - 1 + exponent > kScale) {
        out.status = NumberStatus::TooLarge;
        return out;
    }
    if (exponent < -kScale) {
        out.status = NumberStatus::TooPrecise;
        return out;
    }
    // Now digits * 10^(exponent + 18) < 10^37: it fits.
    uint128 units = 0;
    for (std::size_t k = first; k <= last; ++k) units = units * 10 + digits.digit(k);
    units *= pow10(static_cast<int>(exponent + kScale));
    if (units > static_cast<uint128>(kMaxNumber)) {
        out.status = NumberStatus::TooLarge;
        return out;
    }
    out.status = NumberStatus::Ok;
    out.units = static_cast<int128>(units);
    return out;
}

namespace {

std::string to_decimal(uint128 v) {
    if (v == 0) return "0";
    std::string s;
    while (v > 0) {
        s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
        v /= 10;
    }
    return s;
}

}  // namespace

std::string format_units(int128 units) {
    bool negative = units < 0;
    uint128 magnitude = negative ? static_cast<uint128>(-(units + 1)) + 1 : static_cast<uint128>(units);
    uint128 one = static_cast<uint128>(kOne);
    std::string text = to_decimal(magnitude / one);
    uint128 fraction = magnitude % one;
    if (fraction != 0) {
        std::string digits = to_decimal(fraction);
        digits.insert(0, static_cast<std::size_t>(kScale) - digits.size(), '0');
        while (digits.back() == '0') digits.pop_back();
        text += '.';
        text += digits;
    }
    return negative ? "-" + text : text;
}

namespace {

struct U256 {
    uint128 high;
    uint128 low;
};

U256 multiply(uint128 a, uint128 b) noexcept {
    const uint128 mask = (static_cast<uint128>(1) << 64) - 1;
    uint128 a0 = a & mask, a1 = a >> 64;
    uint128 b0 = b & mask, b1 = b >> 64;
    uint128 p00 = a0 * b0;
    uint128 p01 = a0 * b1;
    uint128 p10 = a1 * b0;
    uint128 p11 = a1 * b1;
    // Middle column: the high half of p00 plus the low halves of the cross terms.
    uint128 middle = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    U256 r;
    r.low = (middle << 64) | (p00 & mask);
    r.high = p11 + (p01 >> 64) + (p10 >> 64) + (middle >> 64);
    return r;
}

}  // namespace

int compare_products(uint128 a, uint128 b, uint128 c, uint128 d) noexcept {
    U256 left = multiply(a, b);
    U256 right = multiply(c, d);
    if (left.high != right.high) return left.high < right.high ? -1 : 1;
    if (left.low != right.low) return left.low < right.low ? -1 : 1;
    return 0;
}

std::optional<MoneyKey> money_key_from_base10000(bool negative, int weight, const std::int16_t* digits,
                                                 int ndigits) noexcept {
    // 10000^5 = 10^20: a first digit at weight 5 or more means >= 10^20.
    if (ndigits > 0 && weight >= 5) return std::nullopt;
    auto digit_at = [&](int power) -> uint128 {  // the digit worth 10000^power
        int index = weight - power;
        return (index >= 0 && index < ndigits) ? static_cast<uint128>(digits[index]) : 0;
    };
    uint128 integer = 0;
    for (int power = weight; power >= 0; --power) integer = integer * 10000 + digit_at(power);
    // The first 18 decimal places are four whole digits and half of the
    // fifth; 64-bit arithmetic suffices (128-bit division is slow, and this
    // runs for every customer of a bulk refresh).
    std::uint64_t fraction16 = 0;
    for (int power = -1; power >= -4; --power)
        fraction16 = fraction16 * 10000 + static_cast<std::uint64_t>(digit_at(power));
    auto fifth = static_cast<std::uint64_t>(digit_at(-5));
    std::uint64_t fraction18 = fraction16 * 100 + fifth / 100;
    bool dropped = fifth % 100 != 0;
    for (int index = 0; index < ndigits && !dropped; ++index)
        if (weight - index < -5 && digits[index] != 0) dropped = true;

    const uint128 limit = static_cast<uint128>(10000000000000000000ULL);  // 10^19
    if (integer >= limit) return std::nullopt;
    uint128 floor_units = integer * static_cast<uint128>(kOne) + fraction18;
    int128 units = static_cast<int128>(floor_units);
    if (negative) {
        units = -units;
        if (dropped) units -= 1;  // floor of a negative value with dropped digits
    }
    return units * 2 + (dropped ? 1 : 0);
}

LiteralKey money_key_from_literal(std::string_view literal) noexcept {
    LiteralKey out;
    std::size_t i = 0;
    bool negative = false;
    if (i < literal.size() && literal[i] == '-') {
        negative = true;
        ++i;
    }
    Mantissa digits;
    std::size_t end = skip_digits(literal, i);
    digits.integer = literal.substr(i, end - i);
    i = end;
    if (i < literal.size() && literal[i] == '.') {
        end = skip_digits(literal, ++i);
        digits.fraction = literal.substr(i, end - i);
        i = end;
    }
    if (digits.size() == 0) return out;
    long exponent = -static_cast<long>(digits.fraction.size());  // power of ten applied to `digits`
    if (i < literal.size() && (literal[i] == 'e' || literal[i] == 'E')) {
        ++i;
        bool exponent_negative = false;
        if (i < literal.size() && (literal[i] == '+' || literal[i] == '-')) {
            exponent_negative = literal[i] == '-';
            ++i;
        }
        if (i >= literal.size()) return out;
        long written = 0;
        while (i < literal.size() && literal[i] >= '0' && literal[i] <= '9') {
            if (written < 1000000) written = written * 10 + (literal[i] - '0');
            ++i;
        }
        exponent += exponent_negative ? -written : written;
    }
    if (i != literal.size()) return out;
    out.ok = true;
    std::size_t first = 0;
    while (first < digits.size() && digits.digit(first) == 0) ++first;
    if (first == digits.size()) return out;  // zero
    long count = static_cast<long>(digits.size() - first);
    // The value is at least 10^(count - 1 + exponent): from 10^19 on, beyond every threshold.
    if (count - 1 + exponent >= 19) {
        out.beyond = negative ? -1 : 1;
        return out;
    }
    uint128 units = 0;
    bool dropped = false;
    for (std::size_t k = first; k < digits.size(); ++k) {
        long power = static_cast<long>(digits.size() - 1 - k) + exponent + kScale;  // of this digit, in 10^-18 units
        unsigned digit = digits.digit(k);
        if (power >= 0)
            units += static_cast<uint128>(digit) * pow10(static_cast<int>(power));
        else if (digit != 0)
            dropped = true;
    }
    int128 floor_units = static_cast<int128>(units);
    if (negative) floor_units = -floor_units - (dropped ? 1 : 0);
    out.key = floor_units * 2 + (dropped ? 1 : 0);
    return out;
}

}  // namespace segmentation::exact
