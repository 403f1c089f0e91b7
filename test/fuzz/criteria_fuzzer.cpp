// libFuzzer target: the criteria reader and the compiled matcher.
//
// Any input either is refused with a CriteriaError or compiles into a
// matcher whose answers obey the invariants below; anything else (a crash,
// a sanitizer report, another exception, a broken invariant) is a finding.
// The explanation of an accepted document (core/explain.hpp) must be JSON
// whose "matched" is the matcher's answer.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/explain.hpp"
#include "core/json.hpp"
#include "core/matcher.hpp"
#include "core/references.hpp"
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

constexpr std::int64_t kSegment = 1;  // the fuzzed document's own id in a SegmentSet

// The explanation's "matched", which must be the matcher's answer.
bool explained(std::string_view text, const Customer& c, const ExplainContext& context) {
    json::Value e = json::parse(explain_criteria(text, c, kNow, "criteria", context));
    require(e.kind == json::Kind::Object && !e.members.empty() && e.members[0].first == "matched");
    return e.members[0].second.boolean;
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
    set.add(kSegment, matcher);
    // A document naming its own segment is a cycle, refused when stored.
    bool acyclic = true;
    try {
        set.order_by_references();
    } catch (const ReferenceCycle&) {
        acyclic = false;
    }
    // The customer's other segments (manual, for the set): none, every one
    // named, the first named.
    std::vector<std::vector<std::int64_t>> memberships = {{}};
    if (matcher.uses_membership()) {
        std::vector<std::int64_t> others;
        for (std::int64_t id : matcher.references())
            if (id != kSegment) others.push_back(id);
        memberships.push_back(others);
        if (!others.empty()) memberships.push_back({others.front()});
    }
    ExplainContext described;
    described.schema = &kSchema;
    WindowTotals totals;
    for (std::size_t i = 0; i < people.size(); ++i) {
        // The customer with its window totals at an instant (they change with it).
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
        require(explained(text, c, ExplainContext{}) == now);  // no view: membership tests do not hold
        for (const std::vector<std::int64_t>& manual : memberships) {
            MemberList view(manual);
            bool in = matcher.matches(c, kNow, view);
            described.membership = &view;
            require(explained(text, c, described) == in);
            if (!acyclic) continue;
            // The set agrees with the matcher given the same segments, and
            // an override decides over both.
            MembershipContext context;
            context.manual = manual;
            std::vector<std::int64_t> matched;
            require(set.evaluate(c, kNow, matched, context) == next);
            require((matched.size() == 1) == in);
            context.excluded = {kSegment};
            matched.clear();
            set.evaluate(c, kNow, matched, context);
            require(matched.empty());
            context.excluded.clear();
            context.included = {kSegment};
            matched.clear();
            set.evaluate(c, kNow, matched, context);
            require(matched.size() == 1);
        }
    }
    return 0;
}
