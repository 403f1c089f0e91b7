#include "core/explain.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/json.hpp"
#include "core/attributes.hpp"
#include "core/matcher.hpp"
#include "core/windows.hpp"

namespace segmentation {
namespace {

using exact::int128;

constexpr int128 kMicroUnits = 1000000000000LL;  // 10^-6 in units of 10^-18
constexpr std::array<Metric, 6> kMetrics = {Metric::LifetimeValue,     Metric::Orders,
                                            Metric::AverageOrderValue, Metric::DaysSinceLastPurchase,
                                            Metric::PurchaseFrequency, Metric::TenureDays};

// numerator / denominator rounded half away from zero (denominator > 0).
int128 round_div(int128 numerator, int128 denominator) {
    if (numerator >= 0) return (numerator + denominator / 2) / denominator;
    return -((-numerator + denominator / 2) / denominator);
}

// A value in millionths, as a JSON number.
std::string millionths(int128 value) { return exact::format_units(value * kMicroUnits); }

bool metric_of_key(const std::string& key, Metric& metric) {
    for (Metric m : kMetrics) {
        if (key == bound_key(m, true) || key == bound_key(m, false)) {
            metric = m;
            return true;
        }
    }
    return false;
}

// Whether `document` (a valid criteria object) matches.
bool holds(const json::Value& document, const Customer& customer, Micros as_of, const std::string& path,
           const ExplainContext& context) {
    Matcher matcher(read_criteria(document, path));
    if (context.membership != nullptr) return matcher.matches(customer, as_of, *context.membership);
    return matcher.matches(customer, as_of);
}

// A criteria object of one member.
json::Value alone(const std::string& key, const json::Value& member) {
    json::Value object;
    object.kind = json::Kind::Object;
    object.members.emplace_back(key, member);
    return object;
}

const char* boolean(bool value) { return value ? "true" : "false"; }

// A valid JSON value as JSON text again (the canonical text of a jsonb
// document parses into values that write back as they were).
void write_json(const json::Value& value, std::string& out) {
    switch (value.kind) {
        case json::Kind::Null: out += "null"; return;
        case json::Kind::Boolean: out += boolean(value.boolean); return;
        case json::Kind::Number: out += value.text; return;
        case json::Kind::String: out += json_string(value.text); return;
        case json::Kind::Array:
            out += '[';
            for (std::size_t i = 0; i < value.items.size(); ++i) {
                if (i > 0) out += ", ";
                write_json(value.items[i], out);
            }
            out += ']';
            return;
        case json::Kind::Object:
            out += '{';
            for (std::size_t i = 0; i < value.members.size(); ++i) {
                if (i > 0) out += ", ";
                out += json_string(value.members[i].first);
                out += ": ";
                write_json(value.members[i].second, out);
            }
            out += '}';
            return;
    }
}

// A segment id of a valid inSegment / notInSegment (digits, at most 2^63 - 1).
std::int64_t segment_id(const json::Value& item) {
    std::int64_t id = 0;
    for (char c : item.text) id = id * 10 + (c - '0');
    return id;
}

std::optional<AttributeKind> kind_of(const AttributeSchema* schema, const std::string& name) {
    if (schema != nullptr)
        for (const AttributeDeclaration& declared : *schema)
            if (declared.name == name) return declared.kind;
    return std::nullopt;
}

class Explainer {
public:
    Explainer(const Customer& customer, Micros as_of, const ExplainContext& context)
        : customer_(customer), as_of_(as_of), context_(context) {}

    void object(const json::Value& document, const std::string& path) {
        out_ += "{\"matched\": ";
        out_ += boolean(holds(document, customer_, as_of_, path, context_));
        for (const auto& [key, member] : document.members) {
            out_ += ", ";
            out_ += json_string(key);
            out_ += ": ";
            member_of(key, member, path + "." + key);
        }
        out_ += '}';
    }

    std::string take() { return std::move(out_); }

private:
    // Whether one member of a criteria object, alone, holds.
    bool member_holds(const std::string& key, const json::Value& member, const std::string& path) const {
        return holds(alone(key, member), customer_, as_of_, path, context_);
    }

    void held(bool value) {
        out_ += ", \"held\": ";
        out_ += boolean(value);
        out_ += '}';
    }

    void member_of(const std::string& key, const json::Value& member, const std::string& path) {
        Metric metric;
        if (metric_of_key(key, metric)) {
            out_ += "{\"bound\": " + member.text + ", \"value\": " + metric_value_json(metric, customer_, as_of_);
            held(member_holds(key, member, path));
        } else if (key == "loyaltyLevels") {
            out_ += "{\"bound\": ";
            write_json(member, out_);
            out_ += ", \"value\": ";
            out_ += customer_.loyalty_level ? json_string(*customer_.loyalty_level) : "null";
            held(member_holds(key, member, path));
        } else if (key == "attributes" && member.kind == json::Kind::Object) {
            attributes(member, path);
        } else if (key == "inSegment" || key == "notInSegment") {
            membership(key, member, path);
        } else if ((key == "all" || key == "any") && member.kind == json::Kind::Array) {
            out_ += '[';
            for (std::size_t i = 0; i < member.items.size(); ++i) {
                if (i > 0) out_ += ", ";
                object(member.items[i], path + "[" + std::to_string(i) + "]");
            }
            out_ += ']';
        } else if (key == "window" && member.kind == json::Kind::Object) {
            window(member, path);
        } else if (key == "not" && member.kind == json::Kind::Object) {
            object(member, path);
        } else {
            out_ += "{\"held\": ";
            out_ += boolean(member_holds(key, member, path));
            out_ += '}';
        }
    }

    // {"days": <as written>, "orders": <in the window>, "spend": <their sum>,
    // "held": <bool>}; orders and spend are null without the customer's totals.
    void window(const json::Value& member, const std::string& path) {
        WindowCondition condition =
            read_criteria(alone("window", member), path.substr(0, path.rfind('.'))).windows.front();
        const WindowTotal* total =
            customer_.windows != nullptr ? customer_.windows->find(window_span(condition.days)) : nullptr;
        std::string days;
        for (const auto& [key, value] : member.members)
            if (key == "days") days = value.text;
        out_ += "{\"days\": " + days + ", \"orders\": ";
        out_ += total != nullptr ? std::to_string(total->orders) : "null";
        out_ += ", \"spend\": ";
        out_ += total != nullptr ? exact::format_units(total->spend / 2) : "null";
        out_ += ", \"held\": ";
        out_ += boolean(member_holds("window", member, path));
        out_ += '}';
    }

    // {"country": {"bound": {"in": [...]}, "value": "DE", "held": true}, ...}
    void attributes(const json::Value& member, const std::string& path) {
        static const AttributeValues kNone;
        const AttributeValues& values = customer_.attributes != nullptr ? *customer_.attributes : kNone;
        out_ += '{';
        for (std::size_t i = 0; i < member.members.size(); ++i) {
            const auto& [name, tests] = member.members[i];
            if (i > 0) out_ += ", ";
            out_ += json_string(name);
            out_ += ": {\"bound\": ";
            write_json(tests, out_);
            out_ += ", \"value\": ";
            out_ += attribute_value_json(values.get(name), kind_of(context_.schema, name));
            held(member_holds("attributes", alone(name, tests), path));
        }
        out_ += '}';
    }

    // {"bound": [7, 8], "value": [7], "held": false}: the value lists the
    // segments named that the customer is in.
    void membership(const std::string& key, const json::Value& member, const std::string& path) {
        out_ += "{\"bound\": ";
        write_json(member, out_);
        out_ += ", \"value\": ";
        if (context_.membership == nullptr) {
            out_ += "null";
        } else {
            std::vector<std::int64_t> in;
            auto note = [&](const json::Value& item) {
                std::int64_t id = segment_id(item);
                if (context_.membership->is_member(id) && std::find(in.begin(), in.end(), id) == in.end())
                    in.push_back(id);
            };
            if (member.kind == json::Kind::Array) {
                for (const json::Value& item : member.items) note(item);
            } else {
                note(member);
            }
            out_ += '[';
            for (std::size_t i = 0; i < in.size(); ++i) {
                if (i > 0) out_ += ", ";
                out_ += std::to_string(in[i]);
            }
            out_ += ']';
        }
        held(member_holds(key, member, path));
    }

    const Customer& customer_;
    Micros as_of_;
    const ExplainContext& context_;
    std::string out_;
};

}  // namespace

std::string json_string(std::string_view text) {
    static const char* const kHex = "0123456789abcdef";
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (byte < 0x20) {
                    out += "\\u00";
                    out += kHex[byte >> 4];
                    out += kHex[byte & 0xF];
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string metric_value_json(Metric metric, const Customer& customer, Micros as_of) {
    int128 value_units = customer.lifetime_value / 2;  // see exact::MoneyKey
    switch (metric) {
        case Metric::LifetimeValue: return exact::format_units(value_units);
        case Metric::Orders: return std::to_string(customer.order_count);
        case Metric::AverageOrderValue:
            if (customer.order_count <= 0) return "null";
            return millionths(round_div(value_units, static_cast<int128>(customer.order_count) * kMicroUnits));
        case Metric::DaysSinceLastPurchase:
            if (!customer.last_order_at) return "null";
            // microseconds / 86,400,000,000 in millionths of a day
            return millionths(round_div(static_cast<int128>(as_of) - *customer.last_order_at, 86400));
        case Metric::TenureDays:
            if (!customer.customer_since) return "null";
            return millionths(round_div(static_cast<int128>(as_of) - *customer.customer_since, 86400));
        case Metric::PurchaseFrequency: {
            if (!customer.customer_since) return "null";
            int128 tenure = std::max<int128>(static_cast<int128>(as_of) - *customer.customer_since, kMicrosPerDay);
            // orders * 30 days / tenure, in millionths
            int128 numerator =
                static_cast<int128>(std::max<std::int64_t>(customer.order_count, 0)) * 30 * kMicrosPerDay * 1000000;
            return millionths(round_div(numerator, tenure));
        }
    }
    return "null";
}

std::string attribute_value_json(const AttributeValue& value, std::optional<AttributeKind> kind) {
    using Kind = AttributeValue::Kind;
    switch (value.kind) {
        case Kind::Null: return "null";
        case Kind::String: return json_string(value.text);
        case Kind::Boolean: return boolean(value.boolean);
        case Kind::Number:
            if (kind == AttributeKind::Time && value.beyond == 0) {
                // Seconds since 1970 exact to the microsecond: the key is twice 10^-18 seconds.
                auto micros = static_cast<std::int64_t>(value.number / 2 / (exact::kOne / 1000000));
                if (std::optional<std::string> time = format_time(micros)) return json_string(*time);
            }
            return value.text.empty() ? "null" : value.text;
        case Kind::Other: return "null";
    }
    return "null";
}

std::string explain_criteria(std::string_view criteria_json, const Customer& customer, Micros as_of,
                             const std::string& root, const ExplainContext& context) {
    parse_criteria(criteria_json, root);  // every error, with its path, before anything else
    json::Value document = json::parse(criteria_json);
    Explainer explainer(customer, as_of, context);
    explainer.object(document, root);
    return explainer.take();
}

}  // namespace segmentation
