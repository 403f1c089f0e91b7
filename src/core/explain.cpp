#include "core/explain.hpp"

#include <algorithm>
#include <array>

#include "core/json.hpp"
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
bool holds(const json::Value& document, const Customer& customer, Micros as_of, const std::string& path) {
    return Matcher(read_criteria(document, path)).matches(customer, as_of);
}

// Whether one member of a criteria object, alone, holds.
bool member_holds(const std::string& key, const json::Value& member, const Customer& customer, Micros as_of,
                  const std::string& path) {
    json::Value alone;
    alone.kind = json::Kind::Object;
    alone.members.emplace_back(key, member);
    return holds(alone, customer, as_of, path);
}

const char* boolean(bool value) { return value ? "true" : "false"; }

class Explainer {
public:
    Explainer(const Customer& customer, Micros as_of) : customer_(customer), as_of_(as_of) {}

    void object(const json::Value& document, const std::string& path) {
        out_ += "{\"matched\": ";
        out_ += boolean(holds(document, customer_, as_of_, path));
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
    void member_of(const std::string& key, const json::Value& member, const std::string& path) {
        Metric metric;
        if (metric_of_key(key, metric)) {
            out_ += "{\"bound\": " + member.text + ", \"value\": " + metric_value_json(metric, customer_, as_of_) +
                    ", \"held\": " + boolean(member_holds(key, member, customer_, as_of_, path)) + "}";
        } else if (key == "loyaltyLevels") {
            out_ += "{\"bound\": [";
            for (std::size_t i = 0; i < member.items.size(); ++i) {
                if (i > 0) out_ += ", ";
                out_ += json_string(member.items[i].text);
            }
            out_ += "], \"value\": ";
            out_ += customer_.loyalty_level ? json_string(*customer_.loyalty_level) : "null";
            out_ += ", \"held\": ";
            out_ += boolean(member_holds(key, member, customer_, as_of_, path));
            out_ += '}';
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
            out_ += boolean(member_holds(key, member, customer_, as_of_, path));
            out_ += '}';
        }
    }

    // {"days": <as written>, "orders": <in the window>, "spend": <their sum>,
    // "held": <bool>}; orders and spend are null without the customer's totals.
    void window(const json::Value& member, const std::string& path) {
        WindowCondition condition =
            read_criteria(member_alone("window", member), path.substr(0, path.rfind('.'))).windows.front();
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
        out_ += boolean(member_holds("window", member, customer_, as_of_, path));
        out_ += '}';
    }

    static json::Value member_alone(const std::string& key, const json::Value& member) {
        json::Value alone;
        alone.kind = json::Kind::Object;
        alone.members.emplace_back(key, member);
        return alone;
    }

    const Customer& customer_;
    Micros as_of_;
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

std::string explain_criteria(std::string_view criteria_json, const Customer& customer, Micros as_of,
                             const std::string& root) {
    parse_criteria(criteria_json, root);  // every error, with its path, before anything else
    json::Value document = json::parse(criteria_json);
    Explainer explainer(customer, as_of);
    explainer.object(document, root);
    return explainer.take();
}

}  // namespace segmentation
