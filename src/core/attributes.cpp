#include "core/attributes.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/criteria.hpp"

namespace segmentation {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;
// Seconds in units of 10^-18 per microsecond.
constexpr exact::int128 kUnitsPerMicro = exact::kOne / kMicrosPerSecond;
constexpr std::int64_t kMicrosInADay = 86400 * kMicrosPerSecond;

std::string test_path(const std::string& path, const char* test) { return path + "." + test; }

// A signed criteria number: the non-negative rules of the metric bounds
// (at most 10^18, 18 decimal places), with a minus sign allowed.
exact::int128 read_signed_number(const json::Value& value, const std::string& path) {
    std::string_view text = value.text;
    bool negative = !text.empty() && text[0] == '-';
    if (negative) text.remove_prefix(1);
    exact::Number number = exact::parse_number(text);
    switch (number.status) {
        case exact::NumberStatus::Ok: break;
        case exact::NumberStatus::TooPrecise:
            throw CriteriaError(path, "expected a number with at most 18 decimal places");
        case exact::NumberStatus::TooLarge: throw CriteriaError(path, "expected a number between -10^18 and 10^18");
        default: throw CriteriaError(path, "expected a number");
    }
    return negative ? -number.units : number.units;
}

// equals and in: a string (text), a number or true/false.
AttributeLiteral read_value(const json::Value& value, const std::string& path, bool booleans) {
    AttributeLiteral literal;
    switch (value.kind) {
        case json::Kind::String:
            literal.kind = AttributeLiteral::Kind::String;
            literal.text = value.text;
            return literal;
        case json::Kind::Number:
            literal.kind = AttributeLiteral::Kind::Number;
            literal.units = read_signed_number(value, path);
            return literal;
        case json::Kind::Boolean:
            if (!booleans) break;
            literal.kind = AttributeLiteral::Kind::Boolean;
            literal.boolean = value.boolean;
            return literal;
        default: break;
    }
    throw CriteriaError(
        path, std::string(booleans ? "expected a string, a number, true or false" : "expected a string or a number") +
                  ", not " + json::describe(value.kind));
}

// min and max: a number, or a time written as a string.
AttributeLiteral read_bound(const json::Value& value, const std::string& path) {
    AttributeLiteral literal;
    if (value.kind == json::Kind::Number) {
        literal.kind = AttributeLiteral::Kind::Number;
        literal.units = read_signed_number(value, path);
        return literal;
    }
    if (value.kind == json::Kind::String) {
        std::optional<std::int64_t> micros = parse_time(value.text);
        if (!micros)
            throw CriteriaError(path, "expected a time such as \"2024-05-01\" or \"2024-05-01T12:00:00Z\", not \"" +
                                          json::excerpt(value.text) + "\"");
        literal.kind = AttributeLiteral::Kind::Time;
        literal.text = value.text;
        literal.units = static_cast<exact::int128>(*micros) * kUnitsPerMicro;
        return literal;
    }
    throw CriteriaError(path, std::string("expected a number or a time, not ") + json::describe(value.kind));
}

AttributeCondition read_condition(const std::string& name, const json::Value& tests, const std::string& path) {
    if (tests.kind != json::Kind::Object || tests.members.empty())
        throw CriteriaError(path, "expected an object of tests (equals, in, min, max, isNull)");
    AttributeCondition c;
    c.name = name;
    c.path = path;
    for (const auto& [test, value] : tests.members) {
        std::string here = test_path(path, test.c_str());
        if (test == "equals") {
            c.equals = read_value(value, here, true);
        } else if (test == "in") {
            if (value.kind != json::Kind::Array || value.items.empty())
                throw CriteriaError(here, "expected a non-empty array of strings or of numbers");
            for (std::size_t i = 0; i < value.items.size(); ++i) {
                std::string item_path = here + "[" + std::to_string(i) + "]";
                c.in.push_back(read_value(value.items[i], item_path, false));
                if (c.in.back().kind != c.in.front().kind)
                    throw CriteriaError(item_path, "expected the same kind of value as the first (strings or numbers)");
            }
            c.has_in = true;
        } else if (test == "min" || test == "max") {
            (test == "min" ? c.min : c.max) = read_bound(value, here);
        } else if (test == "isNull") {
            if (value.kind != json::Kind::Boolean)
                throw CriteriaError(here, std::string("expected true or false, not ") + json::describe(value.kind));
            c.is_null = value.boolean;
        } else {
            std::string shown = json::excerpt(test);
            throw CriteriaError(path, "unknown test \"" + shown + "\" (tests are equals, in, min, max, isNull)");
        }
    }
    if (c.min && c.max) {
        if (c.min->kind != c.max->kind) throw CriteriaError(path, "min and max must both be numbers or both be times");
        if (c.min->units > c.max->units)
            throw CriteriaError(
                path,
                "min (" +
                    (c.min->kind == AttributeLiteral::Kind::Time ? c.min->text : exact::format_units(c.min->units)) +
                    ") is greater than max (" +
                    (c.max->kind == AttributeLiteral::Kind::Time ? c.max->text : exact::format_units(c.max->units)) +
                    ")");
    }
    return c;
}

// Case-insensitive edit distance (the criteria reader's rule for suggestions).
std::size_t distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

const char* tests_of(AttributeKind kind) {
    switch (kind) {
        case AttributeKind::Text: return "equals, in and isNull";
        case AttributeKind::Boolean: return "equals (true or false) and isNull";
        case AttributeKind::Number: return "equals, in, min, max and isNull";
        case AttributeKind::Time: return "min, max and isNull";
    }
    return "";
}

const char* expected_value(AttributeKind kind) {
    switch (kind) {
        case AttributeKind::Text: return "a string";
        case AttributeKind::Boolean: return "true or false";
        case AttributeKind::Number: return "a number";
        case AttributeKind::Time: return "a time";
    }
    return "";
}

AttributeLiteral::Kind literal_kind_of(AttributeKind kind) {
    switch (kind) {
        case AttributeKind::Text: return AttributeLiteral::Kind::String;
        case AttributeKind::Boolean: return AttributeLiteral::Kind::Boolean;
        case AttributeKind::Number: return AttributeLiteral::Kind::Number;
        case AttributeKind::Time: return AttributeLiteral::Kind::Time;
    }
    return AttributeLiteral::Kind::String;
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The date `days` after 1970-01-01 (the inverse of days_from_civil).
void civil_from_days(std::int64_t days, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
    days += 719468;  // from 0000-03-01, the start of a 400-year era whose years start in March
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);                 // day of the era
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // year of the era
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // day of that March year
    const unsigned mp = (5 * doy + 2) / 153;                                     // month from March
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

bool leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

const char* attribute_kind_name(AttributeKind kind) noexcept {
    switch (kind) {
        case AttributeKind::Text: return "text";
        case AttributeKind::Boolean: return "boolean";
        case AttributeKind::Number: return "number";
        case AttributeKind::Time: return "time";
    }
    return "";
}

std::vector<AttributeCondition> read_attribute_conditions(const json::Value& member, const std::string& path) {
    if (member.kind != json::Kind::Object || member.members.empty())
        throw CriteriaError(path, "expected a non-empty object of attribute names and their tests");
    std::vector<AttributeCondition> conditions;
    for (const auto& [name, tests] : member.members) {
        bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
        });
        std::string shown = json::excerpt(name);
        std::string here = plain ? path + "." + shown : path + "[\"" + shown + "\"]";
        conditions.push_back(read_condition(name, tests, here));
    }
    return conditions;
}

void check_attribute_condition(const AttributeCondition& c, const AttributeSchema& schema) {
    const AttributeDeclaration* declared = nullptr;
    for (const AttributeDeclaration& d : schema)
        if (d.name == c.name) declared = &d;
    if (declared == nullptr) {
        std::string best;
        std::size_t best_distance = 0;
        if (c.name.size() <= 64)
            for (const AttributeDeclaration& d : schema) {
                std::size_t dist = distance(c.name, d.name);
                if (dist <= std::max<std::size_t>(d.name.size() / 3, 1) && (best.empty() || dist < best_distance)) {
                    best = d.name;
                    best_distance = dist;
                }
            }
        std::string problem = schema.empty() ? "unknown attribute (no attributes are tracked: see "
                                               "segmentation.track_customer_attributes)"
                                             : "unknown attribute";
        if (!best.empty()) problem += " (did you mean \"" + best + "\"?)";
        throw CriteriaError(c.path, problem);
    }
    AttributeKind kind = declared->kind;
    std::string what = "\"" + json::excerpt(c.name) + "\" is a " + attribute_kind_name(kind) + " attribute";
    auto refuse_test = [&](const char* test) {
        throw CriteriaError(test_path(c.path, test), what + ", which takes " + tests_of(kind) + " (not " + test + ")");
    };
    auto require_kind = [&](const AttributeLiteral& literal, const std::string& path) {
        if (literal.kind != literal_kind_of(kind))
            throw CriteriaError(path, "expected " + std::string(expected_value(kind)) + ": " + what);
    };
    if (c.equals) {
        if (kind == AttributeKind::Time) refuse_test("equals");
        require_kind(*c.equals, test_path(c.path, "equals"));
    }
    if (c.has_in) {
        if (kind == AttributeKind::Time || kind == AttributeKind::Boolean) refuse_test("in");
        for (std::size_t i = 0; i < c.in.size(); ++i)
            require_kind(c.in[i], test_path(c.path, "in") + "[" + std::to_string(i) + "]");
    }
    for (const auto& [bound, test] : {std::pair{&c.min, "min"}, std::pair{&c.max, "max"}}) {
        if (!*bound) continue;
        if (kind != AttributeKind::Number && kind != AttributeKind::Time) refuse_test(test);
        require_kind(**bound, test_path(c.path, test));
    }
}

std::optional<std::int64_t> parse_time(std::string_view t) noexcept {
    std::size_t i = 0;
    auto number = [&](std::size_t digits, unsigned& out) {
        if (i + digits > t.size()) return false;
        out = 0;
        for (std::size_t k = 0; k < digits; ++k) {
            char c = t[i + k];
            if (c < '0' || c > '9') return false;
            out = out * 10 + static_cast<unsigned>(c - '0');
        }
        i += digits;
        return true;
    };
    auto take = [&](char c) {
        if (i < t.size() && t[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    unsigned year, month, day, hour = 0, minute = 0, second = 0;
    if (!number(4, year) || !take('-') || !number(2, month) || !take('-') || !number(2, day)) return std::nullopt;
    static const unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1) return std::nullopt;
    if (day > kDays[month - 1] + (month == 2 && leap(year) ? 1 : 0)) return std::nullopt;
    std::int64_t micros = 0;
    if (take('T') || take(' ')) {
        if (!number(2, hour) || !take(':') || !number(2, minute)) return std::nullopt;
        if (take(':')) {
            if (!number(2, second)) return std::nullopt;
            if (take('.')) {
                std::size_t digits = 0;
                while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
                    if (++digits > 6) return std::nullopt;
                    micros = micros * 10 + (t[i] - '0');
                    ++i;
                }
                if (digits == 0) return std::nullopt;
                for (std::size_t k = digits; k < 6; ++k) micros *= 10;
            }
        }
        if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
    }
    std::int64_t offset_minutes = 0;
    if (i < t.size()) {
        if (take('Z') || take('z')) {
        } else if (t[i] == '+' || t[i] == '-') {
            bool negative = t[i] == '-';
            ++i;
            unsigned offset_hours, offset_rest = 0;
            if (!number(2, offset_hours)) return std::nullopt;
            if (i < t.size()) {
                take(':');
                if (!number(2, offset_rest)) return std::nullopt;
            }
            if (offset_hours > 15 || offset_rest > 59) return std::nullopt;
            offset_minutes = (negative ? -1 : 1) * static_cast<std::int64_t>(offset_hours * 60 + offset_rest);
        } else {
            return std::nullopt;
        }
    }
    if (i != t.size()) return std::nullopt;
    std::int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    seconds -= offset_minutes * 60;  // 12:00+02:00 is 10:00 UTC
    return seconds * kMicrosPerSecond + micros;
}

std::optional<std::string> format_time(std::int64_t micros) {
    std::int64_t days = micros / kMicrosInADay;
    std::int64_t rest = micros % kMicrosInADay;
    if (rest < 0) {
        rest += kMicrosInADay;
        --days;
    }
    std::int64_t year;
    unsigned month, day;
    civil_from_days(days, year, month, day);
    if (year < 1 || year > 9999) return std::nullopt;
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(year), month, day);
    std::string out = text;
    if (rest == 0) return out;
    std::int64_t seconds = rest / kMicrosPerSecond;
    std::snprintf(text, sizeof text, "T%02d:%02d:%02d", static_cast<int>(seconds / 3600),
                  static_cast<int>(seconds / 60 % 60), static_cast<int>(seconds % 60));
    out += text;
    if (std::int64_t fraction = rest % kMicrosPerSecond; fraction != 0) {
        std::snprintf(text, sizeof text, ".%06d", static_cast<int>(fraction));
        std::string digits = text;
        while (digits.back() == '0') digits.pop_back();
        out += digits;
    }
    return out + "Z";
}

void AttributeValues::read(std::string_view json_text) {
    values_.clear();
    json::Value document;
    try {
        document = json::parse(json_text);
    } catch (const json::SyntaxError&) {
        return;
    }
    if (document.kind != json::Kind::Object) return;
    values_.reserve(document.members.size());
    for (auto& [name, stored] : document.members) {
        AttributeValue v;
        switch (stored.kind) {
            case json::Kind::Null: v.kind = AttributeValue::Kind::Null; break;
            case json::Kind::String:
                v.kind = AttributeValue::Kind::String;
                v.text = std::move(stored.text);
                break;
            case json::Kind::Boolean:
                v.kind = AttributeValue::Kind::Boolean;
                v.boolean = stored.boolean;
                break;
            case json::Kind::Number: {
                exact::LiteralKey key = exact::money_key_from_literal(stored.text);
                v.kind = key.ok ? AttributeValue::Kind::Number : AttributeValue::Kind::Other;
                v.number = key.key;
                v.beyond = key.beyond;
                v.text = std::move(stored.text);  // for display (explain.hpp)
                break;
            }
            default: v.kind = AttributeValue::Kind::Other; break;
        }
        values_.emplace_back(name, std::move(v));
    }
}

namespace {
const AttributeValue kNullValue{};
}  // namespace

const AttributeValue& AttributeValues::get(std::string_view name) const noexcept {
    for (const auto& [key, value] : values_)
        if (key == name) return value;
    return kNullValue;
}

}  // namespace segmentation
