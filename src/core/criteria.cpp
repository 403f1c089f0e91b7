#include "core/criteria.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <limits>

namespace segmentation {
namespace {

struct BoundKey {
    const char* min_key;
    const char* max_key;
    Metric metric;
};

constexpr std::array<BoundKey, 6> kBoundKeys = {{
    {"minLifetimeValue", "maxLifetimeValue", Metric::LifetimeValue},
    {"minOrders", "maxOrders", Metric::Orders},
    {"minAverageOrderValue", "maxAverageOrderValue", Metric::AverageOrderValue},
    {"minDaysSinceLastPurchase", "maxDaysSinceLastPurchase", Metric::DaysSinceLastPurchase},
    {"minPurchaseFrequency", "maxPurchaseFrequency", Metric::PurchaseFrequency},
    {"minTenureDays", "maxTenureDays", Metric::TenureDays},
}};

constexpr std::array<const char*, 6> kStructureKeys = {"loyaltyLevels", "all", "any", "not", "attributes", "window"};

// The keys of a "window" object (read_window).
constexpr std::array<const char*, 5> kWindowKeys = {"days", "minOrders", "maxOrders", "minSpend", "maxSpend"};

// Segment membership keys (read_membership).
constexpr std::array<const char*, 2> kMembershipKeys = {"inSegment", "notInSegment"};

bool is_identifier(const std::string& key) {
    if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) return false;
    return std::all_of(key.begin(), key.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : json::excerpt(text)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// criteria.minOrders, or criteria["odd key"] when the key is not an identifier.
std::string member_path(const std::string& path, const std::string& key) {
    return is_identifier(key) ? path + "." + json::excerpt(key) : path + "[" + quoted(key) + "]";
}

std::string element_path(const std::string& path, std::size_t index) {
    return path + "[" + std::to_string(index) + "]";
}

// Case-insensitive edit distance, to suggest the key a typo meant.
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

std::string suggest_key(const std::string& key, const std::vector<std::string>& known) {
    std::string best;
    std::size_t best_distance = 0;
    if (!key.empty() && key.size() <= 64) {
        for (const auto& candidate : known) {
            // A suggestion must be close: a third of the known key's letters at most.
            std::size_t d = distance(key, candidate);
            if (d <= candidate.size() / 3 && (best.empty() || d < best_distance)) {
                best_distance = d;
                best = candidate;
            }
        }
    }
    if (!best.empty()) return "unknown key (did you mean \"" + best + "\"?)";
    return "unknown key";
}

std::string unknown_key_problem(const std::string& key) {
    std::vector<std::string> known;
    for (const auto& b : kBoundKeys) {
        known.emplace_back(b.min_key);
        known.emplace_back(b.max_key);
    }
    for (const char* k : kStructureKeys) known.emplace_back(k);
    for (const char* k : kMembershipKeys) known.emplace_back(k);
    return suggest_key(key, known);
}

class Reader {
public:
    Criteria level(const json::Value& value, const std::string& path, int depth) {
        if (value.kind != json::Kind::Object) throw CriteriaError(path, "expected an object");
        if (depth > kMaxCriteriaDepth)
            throw CriteriaError(path, "nesting deeper than " + std::to_string(kMaxCriteriaDepth) + " levels");
        Criteria out;
        for (const auto& [key, member] : value.members) {
            std::string here = member_path(path, key);
            if (read_bound(key, member, here, out)) continue;
            if (read_membership(key, member, here, out)) continue;
            if (key == "loyaltyLevels") {
                read_loyalty_levels(member, here, out);
            } else if (key == "all" || key == "any") {
                auto& target = key == "all" ? out.all : out.any;
                if (member.kind != json::Kind::Array || member.items.empty())
                    throw CriteriaError(here, "expected a non-empty array of criteria objects");
                for (std::size_t i = 0; i < member.items.size(); ++i)
                    target.push_back(level(member.items[i], element_path(here, i), depth + 1));
            } else if (key == "not") {
                out.negated.push_back(level(member, here, depth + 1));
            } else if (key == "attributes") {
                out.attributes = read_attribute_conditions(member, here);
            } else if (key == "window") {
                out.windows.push_back(read_window(member, here));
            } else {
                throw CriteriaError(here, unknown_key_problem(key));
            }
        }
        check_ranges(out, path);
        return out;
    }

private:
    // A non-negative number of at most 18 decimal places and at most 10^18,
    // as bounds and window bounds take, in units of 10^-18.
    static exact::int128 bound_number(const json::Value& member, const std::string& path) {
        if (member.kind != json::Kind::Number) throw CriteriaError(path, "expected a non-negative number");
        exact::Number number = exact::parse_number(member.text);
        switch (number.status) {
            case exact::NumberStatus::Ok: break;
            case exact::NumberStatus::Negative:
            case exact::NumberStatus::Malformed: throw CriteriaError(path, "expected a non-negative number");
            case exact::NumberStatus::TooPrecise:
                throw CriteriaError(path, "expected a number with at most 18 decimal places");
            case exact::NumberStatus::TooLarge: throw CriteriaError(path, "expected a number no greater than 10^18");
        }
        return number.units;
    }

    // "window": {"days": D, "minOrders": .., "maxOrders": .., "minSpend": .., "maxSpend": ..}
    static WindowCondition read_window(const json::Value& member, const std::string& path) {
        const char* shape =
            "expected an object with \"days\" and at least one of minOrders, maxOrders, minSpend, "
            "maxSpend";
        if (member.kind != json::Kind::Object) throw CriteriaError(path, shape);
        WindowCondition w;
        w.path = path;
        bool has_days = false;
        for (const auto& [key, value] : member.members) {
            std::string here = member_path(path, key);
            if (key == kWindowKeys[0]) {
                std::string range =
                    "expected a number of days greater than 0 and at most " + std::to_string(kMaxWindowDays);
                if (value.kind != json::Kind::Number) throw CriteriaError(here, range);
                exact::Number number = exact::parse_number(value.text);
                if (number.status == exact::NumberStatus::TooPrecise)
                    throw CriteriaError(here, "expected a number with at most 18 decimal places");
                if (number.status != exact::NumberStatus::Ok || number.units <= 0 ||
                    number.units > static_cast<exact::int128>(kMaxWindowDays) * exact::kOne)
                    throw CriteriaError(here, range);
                w.days = number.units;
                has_days = true;
            } else if (key == kWindowKeys[1]) {
                w.min_orders = bound_number(value, here);
            } else if (key == kWindowKeys[2]) {
                w.max_orders = bound_number(value, here);
            } else if (key == kWindowKeys[3]) {
                w.min_spend = bound_number(value, here);
            } else if (key == kWindowKeys[4]) {
                w.max_spend = bound_number(value, here);
            } else {
                throw CriteriaError(here, suggest_key(key, {kWindowKeys.begin(), kWindowKeys.end()}));
            }
        }
        if (!has_days) throw CriteriaError(path, shape);
        if (!w.min_orders && !w.max_orders && !w.min_spend && !w.max_spend) throw CriteriaError(path, shape);
        auto check = [&](const std::optional<exact::int128>& low, const std::optional<exact::int128>& high,
                         const char* low_key, const char* high_key) {
            if (low && high && *low > *high)
                throw CriteriaError(path, std::string(low_key) + " (" + exact::format_units(*low) +
                                              ") is greater than " + high_key + " (" + exact::format_units(*high) +
                                              ")");
        };
        check(w.min_orders, w.max_orders, "minOrders", "maxOrders");
        check(w.min_spend, w.max_spend, "minSpend", "maxSpend");
        return w;
    }

    static bool read_bound(const std::string& key, const json::Value& member, const std::string& path, Criteria& out) {
        for (const auto& b : kBoundKeys) {
            bool minimum = key == b.min_key;
            if (!minimum && key != b.max_key) continue;
            out.bounds.push_back(Bound{b.metric, minimum, bound_number(member, path)});
            return true;
        }
        return false;
    }

    // A segment id: a JSON integer from 1 to 2^63 - 1, written without
    // fraction or exponent.
    static bool segment_id(const json::Value& item, std::int64_t& id) {
        if (item.kind != json::Kind::Number || item.text.empty() || item.text.size() > 19 || item.text[0] == '0')
            return false;
        std::uint64_t value = 0;
        for (char c : item.text) {
            if (c < '0' || c > '9') return false;
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
        id = static_cast<std::int64_t>(value);
        return true;
    }

    // "inSegment" / "notInSegment": one segment id or a non-empty array of them.
    static bool read_membership(const std::string& key, const json::Value& member, const std::string& path,
                                Criteria& out) {
        if (key != kMembershipKeys[0] && key != kMembershipKeys[1]) return false;
        const char* problem = "expected a segment id (a positive integer) or a non-empty array of segment ids";
        MembershipTest test;
        test.negated = key == kMembershipKeys[1];
        test.path = path;
        std::int64_t id = 0;
        if (member.kind == json::Kind::Array) {
            if (member.items.empty()) throw CriteriaError(path, problem);
            for (std::size_t i = 0; i < member.items.size(); ++i) {
                if (!segment_id(member.items[i], id))
                    throw CriteriaError(element_path(path, i), "expected a segment id (a positive integer)");
                test.segments.push_back(id);
            }
        } else if (segment_id(member, id)) {
            test.segments.push_back(id);
        } else {
            throw CriteriaError(path, problem);
        }
        out.memberships.push_back(std::move(test));
        return true;
    }

    static void read_loyalty_levels(const json::Value& member, const std::string& path, Criteria& out) {
        const char* problem = "expected a non-empty array of strings";
        if (member.kind != json::Kind::Array || member.items.empty()) throw CriteriaError(path, problem);
        for (std::size_t i = 0; i < member.items.size(); ++i) {
            const json::Value& item = member.items[i];
            if (item.kind != json::Kind::String)
                throw CriteriaError(element_path(path, i),
                                    std::string("expected a string, not ") + json::describe(item.kind));
            out.loyalty_levels.push_back(item.text);
        }
        out.has_loyalty_levels = true;
    }

    static void check_ranges(const Criteria& c, const std::string& path) {
        for (const Bound& low : c.bounds) {
            if (!low.minimum) continue;
            for (const Bound& high : c.bounds) {
                if (high.minimum || high.metric != low.metric || low.units <= high.units) continue;
                throw CriteriaError(path, bound_key(low.metric, true) + " (" + exact::format_units(low.units) +
                                              ") is greater than " + bound_key(high.metric, false) + " (" +
                                              exact::format_units(high.units) + ")");
            }
        }
    }
};

}  // namespace

std::string bound_key(Metric metric, bool minimum) {
    for (const auto& b : kBoundKeys)
        if (b.metric == metric) return minimum ? b.min_key : b.max_key;
    return "?";
}

void check_attributes(const Criteria& criteria, const AttributeSchema& schema) {
    for (const AttributeCondition& condition : criteria.attributes) check_attribute_condition(condition, schema);
    for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
        for (const Criteria& child : *children) check_attributes(child, schema);
}

bool uses_attributes(const Criteria& criteria) noexcept {
    if (!criteria.attributes.empty()) return true;
    for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
        for (const Criteria& child : *children)
            if (uses_attributes(child)) return true;
    return false;
}

bool uses_windows(const Criteria& criteria) noexcept {
    if (!criteria.windows.empty()) return true;
    for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
        for (const Criteria& child : *children)
            if (uses_windows(child)) return true;
    return false;
}

bool uses_attribute(const Criteria& criteria, const std::string& name) noexcept {
    for (const AttributeCondition& condition : criteria.attributes)
        if (condition.name == name) return true;
    for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
        for (const Criteria& child : *children)
            if (uses_attribute(child, name)) return true;
    return false;
}

namespace {

void collect_references(const Criteria& c, std::vector<std::int64_t>& ids) {
    for (const MembershipTest& m : c.memberships) ids.insert(ids.end(), m.segments.begin(), m.segments.end());
    for (const auto* children : {&c.all, &c.any, &c.negated})
        for (const Criteria& child : *children) collect_references(child, ids);
}

}  // namespace

std::vector<std::int64_t> referenced_segments(const Criteria& criteria) {
    std::vector<std::int64_t> ids;
    collect_references(criteria, ids);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

std::string reference_path(const Criteria& criteria, std::int64_t segment) {
    for (const MembershipTest& m : criteria.memberships)
        if (std::find(m.segments.begin(), m.segments.end(), segment) != m.segments.end()) return m.path;
    for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
        for (const Criteria& child : *children) {
            std::string path = reference_path(child, segment);
            if (!path.empty()) return path;
        }
    return "";
}

Criteria read_criteria(const json::Value& document, const std::string& root) {
    return Reader().level(document, root, 1);
}

Criteria parse_criteria(std::string_view json_text, const std::string& root) {
    json::Value document;
    try {
        document = json::parse(json_text);
    } catch (const json::SyntaxError& e) {
        // Text nested past the reader's limit is certainly past the criteria
        // limit; the path says where (its first steps: it is hundreds long).
        if (e.too_deep()) {
            std::string path = root;
            for (const json::Step& step : e.where()) {
                if (path.size() > json::kQuoteLimit) {
                    path += "...";
                    break;
                }
                path = step.is_index ? element_path(path, step.index) : member_path(path, step.key);
            }
            throw CriteriaError(path, "nesting deeper than " + std::to_string(kMaxCriteriaDepth) + " levels");
        }
        throw CriteriaError(root, std::string("invalid JSON: ") + e.what());
    }
    return read_criteria(document, root);
}

}  // namespace segmentation
