// explain_match(customer, criteria or segment_id, as_of): why a customer does
// or does not match, as the core's explanation tree (core/explain.hpp).
#include <string>

#include "core/explain.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "core/matcher.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/membership/windows.hpp"

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

Datum jsonb_result(const std::string& text) {
    return pg::call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
}

}  // namespace

// segmentation.explain_match(customer_id, criteria jsonb, as_of) -> jsonb
SEGMENTATION_FUNCTION(segmentation_explain_match_criteria) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "criteria");
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    std::string criteria = jsonb_text(fcinfo, 1);
    parse_criteria(criteria);  // the criteria's error before the customer's
    spi::connect();
    require_single_node("explain_match");
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot explain a match");
    WindowTotals windows;
    read_windows_for(key, criteria, as_of, customer, windows);
    // The customer's loyalty level lives in SPI's memory: explain before finish().
    std::string explanation = explain_criteria(criteria, customer, as_of);
    spi::finish();
    return jsonb_result(explanation);
}

// segmentation.explain_match(customer_id, segment_id bigint, as_of) -> jsonb:
// {"segment_id", "name", "automatic", "member" (assigned now), and for an
// automatic segment "criteria": the explanation of its criteria}.
SEGMENTATION_FUNCTION(segmentation_explain_match_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    std::string doing = "cannot explain segment " + std::to_string(segment) + " for customer \"" + key_text(key) + "\"";
    spi::connect();
    require_single_node("explain_match");
    if (spi::run(kSegment, {Int64GetDatum(segment)}, nullptr, true) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": segment " + std::to_string(segment) + " does not exist");
    bool automatic = false;
    std::string name = pg::call([&] {
        automatic = spi::bool_column(0, 2);
        return spi::text_column(0, 1);
    });
    std::string criteria = pg::call([] { return spi::text_column(0, 3); });
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, doing);
    std::string explanation = "{\"segment_id\": " + std::to_string(segment) + ", \"name\": " + json_string(name) +
                              ", \"automatic\": " + (automatic ? "true" : "false");
    WindowTotals windows;
    if (automatic) {
        read_windows_for(key, criteria, as_of, customer, windows);
        explanation += ", \"criteria\": " + explain_criteria(criteria, customer, as_of);
    }
    bool member = spi::run(kMembership, {key, Int64GetDatum(segment)}, nullptr, true) > 0;
    explanation += std::string(", \"member\": ") + (member ? "true" : "false") + "}";
    spi::finish();
    return jsonb_result(explanation);
}
