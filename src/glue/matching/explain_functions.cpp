// explain_match(customer, criteria or segment_id, as_of): why a customer does
// or does not match, as the core's explanation tree (core/explain.hpp).
#include <optional>
#include <string>
#include <vector>

#include "core/explain.hpp"
#include "core/matcher.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "core/matcher.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/membership/windows.hpp"
#include "glue/membership/evaluation.hpp"
#include "glue/tracking/configuration.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

const spi::Statement kSegment = {
    "SELECT name, is_automatic, criteria::text FROM segmentation.segments WHERE id = $1", 1, {INT8OID}};

const spi::Statement kMembership = {
    "SELECT is_automatic FROM segmentation.assignments WHERE customer_id = $1 AND segment_id = $2",
    2,
    {spi::kKeyType, INT8OID}};

// The customer's window totals, for criteria that use windows.
void read_windows_for(Datum key, const std::string& criteria, TimestampTz as_of, Customer& customer,
                      WindowTotals& windows) {
    Matcher matcher(parse_criteria(criteria));
    if (!matcher.uses_windows()) return;
    read_window_totals(key, matcher.window_spans(), as_of, windows);
    customer.windows = &windows;
}
const spi::Statement kOverride = {
    "SELECT CASE WHEN included THEN 'included' ELSE 'excluded' END, reason, actor, "
    "       pg_catalog.to_jsonb(created_at)::text "
    "FROM segmentation.overrides WHERE customer_id = $1 AND segment_id = $2",
    2,
    {spi::kKeyType, INT8OID}};

Datum jsonb_result(const std::string& text) {
    return pg::call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
}

// A text column of the current SPI result as a JSON string, or null.
std::string json_text_column(int column) {
    const char* text = pg::call([&]() -> const char* {
        bool null;
        spi::column(0, column, &null);
        return null ? nullptr : spi::text_column(0, column);
    });
    return text != nullptr ? json_string(text) : "null";
}

// The explanation of `criteria` for a customer loaded by load_customer():
// with its segments at as_of when the criteria test membership, and the
// tracked attributes' kinds when they test attributes. Needs SPI.
std::string explain(Datum key, const Customer& customer, const std::string& criteria, const Criteria& parsed,
                    TimestampTz as_of, const AttributeSchema& schema, const std::string& doing) {
    ExplainContext context;
    context.schema = &schema;
    std::optional<MemberList> segments;
    std::vector<int64> referenced = referenced_segments(parsed);
    if (!referenced.empty()) {
        segments.emplace(segments_at(key, customer, as_of, referenced, doing));
        context.membership = &*segments;
    }
    return explain_criteria(criteria, customer, as_of, "criteria", context);
}

// The tracked attributes when `criteria` test any (their kinds show times as
// times); checked against them like segment_match checks them (22023).
AttributeSchema attribute_schema(const Criteria& criteria, bool check) {
    if (!uses_attributes(criteria)) return {};
    AttributeSchema schema = tracked_attribute_schema();
    if (check) check_attributes(criteria, schema);
    return schema;
}

}  // namespace

// segmentation.explain_match(customer_id, criteria jsonb, as_of) -> jsonb
SEGMENTATION_FUNCTION(segmentation_explain_match_criteria) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "criteria");
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    std::string criteria = jsonb_text(fcinfo, 1);
    Criteria parsed = parse_criteria(criteria);  // the criteria's error before the customer's
    AttributeSchema schema = attribute_schema(parsed, true);
    spi::connect();
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot explain a match");
    WindowTotals windows;
    read_windows_for(key, criteria, as_of, customer, windows);
    // The customer's loyalty level lives in SPI's memory: explain before finish().
    std::string explanation = explain(key, customer, criteria, parsed, as_of, schema, "cannot explain a match");
    spi::finish();
    return jsonb_result(explanation);
}

// segmentation.explain_match(customer_id, segment_id bigint, as_of) -> jsonb:
// {"segment_id", "name", "automatic", for an automatic segment "criteria"
// (the explanation of its criteria) and "override" (the customer's include
// or exclude override, or null), "decided_by" (what makes the membership:
// "criteria", "override" or, for a manual segment, "assignment"), and
// "member" (assigned now)}.
SEGMENTATION_FUNCTION(segmentation_explain_match_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    std::string doing = "cannot explain segment " + std::to_string(segment) + " for customer \"" + key_text(key) + "\"";
    spi::connect();
    if (spi::run(kSegment, {Int64GetDatum(segment)}, nullptr, true) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": segment " + std::to_string(segment) + " does not exist");
    bool automatic = false;
    std::string name = pg::call([&] {
        automatic = spi::bool_column(0, 2);
        return spi::text_column(0, 1);
    });
    std::string criteria = pg::call([] { return spi::text_column(0, 3); });
    Criteria parsed = parse_criteria(criteria);
    // Stored criteria were checked against the attributes when stored, and
    // attributes a segment tests cannot be untracked.
    AttributeSchema schema = automatic ? attribute_schema(parsed, false) : AttributeSchema{};
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, doing);
    std::string explanation = "{\"segment_id\": " + std::to_string(segment) + ", \"name\": " + json_string(name) +
                              ", \"automatic\": " + (automatic ? "true" : "false");
    std::string decided_by = "assignment";
    WindowTotals windows;
    if (automatic) {
        read_windows_for(key, criteria, as_of, customer, windows);
        explanation += ", \"criteria\": " + explain(key, customer, criteria, parsed, as_of, schema, doing);
        explanation += ", \"override\": ";
        if (spi::run(kOverride, {key, Int64GetDatum(segment)}, nullptr, true) > 0) {
            explanation += "{\"kind\": " + json_text_column(1) + ", \"reason\": " + json_text_column(2) +
                           ", \"actor\": " + json_text_column(3) +
                           ", \"created_at\": " + pg::call([] { return spi::text_column(0, 4); }) + "}";
            decided_by = "override";
        } else {
            explanation += "null";
            decided_by = "criteria";
        }
    }
    bool member = spi::run(kMembership, {key, Int64GetDatum(segment)}, nullptr, true) > 0;
    explanation += ", \"decided_by\": \"" + decided_by + "\", \"member\": " + (member ? "true" : "false") + "}";
    spi::finish();
    return jsonb_result(explanation);
}
