// libFuzzer target: the criteria reader and the compiled matcher.
//
// Any input either is refused with a CriteriaError or compiles into a
// matcher whose answers obey the invariants below; anything else (a crash,
// a sanitizer report, another exception, a broken invariant) is a finding.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/matcher.hpp"
#include "core/windows.hpp"

using namespace segmentation;

namespace {

constexpr Micros kDay = kMicrosPerDay;
constexpr Micros kNow = 9000 * kDay;

exact::MoneyKey money(long long whole) {
    return exact::money_key_from_units(static_cast<exact::int128>(whole) * exact::kOne);
}

// Attribute values at the edges of every kind (core/attributes.hpp): the
// stored JSON of a customers row, and the shop's declared attributes.
const AttributeSchema kSchema = {{"country", AttributeKind::Text},
                                 {"age", AttributeKind::Number},
                                 {"vip", AttributeKind::Boolean},
                                 {"born", AttributeKind::Time}};

const AttributeValues& stored_attributes(int which) {
    static AttributeValues values[3];
    static bool read = false;
    if (!read) {
        values[0].read(R"({"age": 18, "born": 946684800.000001, "country": "DE", "vip": true})");
        values[1].read(R"({"age": -1e40, "born": "Infinity", "country": "", "vip": false})");
        values[2].read(R"({"age": 17.999999999999999999999, "born": -62135596800, "country": "\u00e9"})");
        read = true;
    }
    return values[which];
}

// Customers at the edges of every metric.
std::vector<Customer> customers() {
    std::vector<Customer> all;
    Customer none;  // no orders, nothing known
    all.push_back(none);
    Customer regular;
    regular.order_count = 12;
    regular.lifetime_value = money(1500);
    regular.last_order_at = kNow - 40 * kDay;
    regular.customer_since = kNow - 700 * kDay;
    regular.loyalty_level = "GOLD";
    all.push_back(regular);
    Customer fresh = regular;
    fresh.order_count = 1;
    fresh.lifetime_value = money(20) + 1;  // a value with digits beyond 18 places
    fresh.last_order_at = kNow;
    fresh.customer_since = kNow - kDay / 3;
    fresh.loyalty_level = std::nullopt;
    all.push_back(fresh);
    Customer odd = regular;  // refunds, future dates, a huge history
    odd.order_count = 4000000000000LL;
    odd.lifetime_value = -money(99999);
    odd.last_order_at = kNow + 5 * kDay;
    odd.customer_since = kNow + kDay;
    odd.loyalty_level = std::string_view("\xe9t\xc3\xa9", 4);
    all.push_back(odd);
    for (int which = 0; which < 3; ++which) {  // the same customers with attributes
        Customer c = all[static_cast<std::size_t>(which + 1)];
        c.attributes = &stored_attributes(which);
        all.push_back(c);
    }
    return all;
}

// Order histories (time, whole amount) behind the customers above, for
// "window" criteria: totals are computed for each instant a customer is
// matched at, as the glue's query computes them.
const std::vector<std::pair<Micros, long long>>& history(std::size_t which) {
    static const std::vector<std::pair<Micros, long long>> histories[] = {
        {},
        {{kNow - 40 * kDay, 100}, {kNow - 30 * kDay, 50}, {kNow - 30 * kDay + 1, 25}, {kNow - kDay / 3, 10}},
        {{kNow, 20}},
        {{kNow + 5 * kDay, -99999}, {kNow - 365 * kDay, 1}},
    };
    return histories[which % 4];
}

Customer with_windows(const Customer& c, std::size_t which, const Matcher& matcher, Micros as_of,
                      WindowTotals& totals) {
    totals.clear();
    for (Micros span : matcher.window_spans()) {
        WindowTotal t;
        t.span = span;
        for (const auto& [when, amount] : history(which)) {
            if (static_cast<exact::int128>(as_of) - when > span) continue;
            t.orders += 1;
            t.spend += money(amount);
            if (!t.oldest || when < *t.oldest) t.oldest = when;
        }
        totals.set(t);
    }
    Customer out = c;
    out.windows = &totals;
    return out;
}

void require(bool condition) {
    if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<Customer> people = customers();
    std::string_view text(reinterpret_cast<const char*>(data), size);
    Criteria criteria;
    try {
        criteria = parse_criteria(text);
    } catch (const CriteriaError&) {
        return 0;  // refused with a message: fine
    }
    // Checked against the shop's attributes: refused with a message, or accepted.
    try {
        check_attributes(criteria, kSchema);
    } catch (const CriteriaError&) {
    }
    Matcher matcher(criteria);
    SegmentSet set;
    set.add(1, matcher);
    WindowTotals totals;
    for (std::size_t i = 0; i < people.size(); ++i) {
        auto at = [&](Micros as_of) { return with_windows(people[i], i, matcher, as_of, totals); };
        Customer c = at(kNow);
        bool now = matcher.matches(c, kNow);
        std::optional<Micros> next = matcher.next_change(c, kNow);
        if (next) {
            // No change before the announced instant.
            require(*next > kNow);
            require(matcher.matches(at(*next - 1), *next - 1) == now);
        } else {
            require(matcher.matches(at(kNow + 100000 * kDay), kNow + 100000 * kDay) == now);
        }
        c = at(kNow);
        std::vector<std::int64_t> matched;
        require(set.evaluate(c, kNow, matched) == next);
        require((matched.size() == 1) == now);
    }
    return 0;
}
