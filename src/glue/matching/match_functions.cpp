// segment_match over customer_metrics rows, and the forms the planner turns
// it into (match_planning.cpp): the row's columns with criteria given as a
// value, or with criteria read from a segments row; segment_match by
// customer id; check_criteria(), next_change_at().
#include "core/matcher.hpp"
#include "core/membership.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/matching/match_cache.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/membership/evaluation.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/membership/windows.hpp"

#include <algorithm>

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// inSegment / notInSegment need the customer's memberships, which a metrics
// row does not carry.
void refuse_membership_on_rows(const Matcher& matcher) {
    if (matcher.uses_membership())
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                    "inSegment and notInSegment cannot be matched against a customer_metrics row", "",
                    "Use segmentation.segment_match(customer id, criteria), which reads the customer's segments.");
    // "window" needs the customer's orders, which a metrics row does not carry either.
    if (matcher.uses_windows())
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "window criteria cannot be matched against a customer_metrics row",
                    "", "Use segmentation.segment_match(customer id, criteria), which reads the customer's orders.");
}

}  // namespace

// segmentation.check_criteria(jsonb): true, or the error naming the problem.
// Attribute names and kinds are checked against the tracked customers table,
// except while a dump is restored: its segments may arrive before its tracking.
SEGMENTATION_FUNCTION(segmentation_check_criteria) {
    require_argument(fcinfo, 0, "criteria");
    Criteria criteria = parse_criteria(jsonb_text(fcinfo, 0));
    if (uses_attributes(criteria) && !pg::call([] { return restoring_from_dump(); }))
        check_attributes(criteria, tracked_attribute_schema());
    PG_RETURN_BOOL(true);
}

// segmentation.segment_match(customer_metrics, jsonb, timestamptz)
SEGMENTATION_FUNCTION(segmentation_segment_match_row) {
    require_argument(fcinfo, 0, "customer");
    const Matcher& matcher = criteria_argument(fcinfo, 1);
    refuse_membership_on_rows(matcher);
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    Customer customer = match_cache(fcinfo).customer_row(fcinfo, 0);
    PG_RETURN_BOOL(matcher.matches(customer, as_of));
}

// segmentation.segment_match_values(lifetime_value, order_count,
//     last_order_at, customer_since, loyalty_level, attributes, criteria, as_of):
// segment_match() of a customer_metrics row given as its columns, which
// spares the executor a copy of the whole row per call. (1.0 declared it
// without attributes; a database not yet updated still calls it so.)
SEGMENTATION_FUNCTION(segmentation_segment_match_values) {
    int attributes = PG_NARGS() == 8 ? 5 : -1;
    int criteria = PG_NARGS() == 8 ? 6 : 5;
    const Matcher& matcher = criteria_argument(fcinfo, criteria);
    refuse_membership_on_rows(matcher);
    TimestampTz as_of = as_of_argument(fcinfo, criteria + 1);
    PG_RETURN_BOOL(matcher.matches(match_cache(fcinfo).customer(fcinfo, 0, attributes, as_of)));
}

// segmentation.segment_match_rows(customer_version, customer_xmin,
//     lifetime_value, order_count, last_order_at, customer_since,
//     loyalty_level, attributes, criteria, criteria_version, criteria_xmin, as_of):
// the same, for a customer_metrics row matched with a segments row (a join).
// Both rows' versions come along, so that the customer and the compiled
// criteria of the previous calls are recognised without comparing bytes.
// Versions are trusted only in the planner's own calls; a call written by
// hand is answered like segment_match_values, by the values. (1.0 declared
// it without attributes.)
SEGMENTATION_FUNCTION(segmentation_segment_match_rows) {
    int attributes = PG_NARGS() == 12 ? 7 : -1;
    int criteria = PG_NARGS() == 12 ? 8 : 7;
    for (int argno : {0, 1, criteria + 1, criteria + 2}) require_argument(fcinfo, argno, "row version");
    require_argument(fcinfo, criteria, "criteria");
    TimestampTz as_of = as_of_argument(fcinfo, criteria + 3);
    MatchCache& cache = match_cache(fcinfo);
    if (!planner_made_call(fcinfo)) {
        const Matcher& matcher = cache.criteria(fcinfo, criteria);
        refuse_membership_on_rows(matcher);
        PG_RETURN_BOOL(matcher.matches(cache.customer(fcinfo, 2, attributes, as_of)));
    }
    const Matcher& matcher =
        cache.criteria_of_row(fcinfo, criteria,
                              RowVersion::of(reinterpret_cast<ItemPointer>(PG_GETARG_POINTER(criteria + 1)),
                                             DatumGetTransactionId(PG_GETARG_DATUM(criteria + 2))));
    refuse_membership_on_rows(matcher);
    const detail::Facts& customer = cache.customer_of_row(
        fcinfo, 2, attributes,
        RowVersion::of(reinterpret_cast<ItemPointer>(PG_GETARG_POINTER(0)), DatumGetTransactionId(PG_GETARG_DATUM(1))),
        as_of);
    PG_RETURN_BOOL(matcher.matches(customer));
}

// segmentation.next_change_at(customer_metrics, timestamptz) -> timestamptz:
// when the customer's automatic segments may next change with time alone.
SEGMENTATION_FUNCTION(segmentation_next_change_at) {
    require_argument(fcinfo, 0, "customer");
    TimestampTz as_of = as_of_argument(fcinfo, 1);
    Customer customer = match_cache(fcinfo).customer_row(fcinfo, 0);
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    if (segments->uses_windows())
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                    "next_change_at cannot answer for a customer_metrics row while segments use window criteria",
                    "When an order leaves a window depends on the customer's orders, which the row does not carry.",
                    "customer_metrics.reevaluate_at holds the customer's next change.");
    std::vector<int64> unused;
    std::optional<Micros> next = storable_instant(segments->evaluate(customer, as_of, unused));
    if (!next) PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(*next);
}

// segmentation.segment_match(customer_id, jsonb, timestamptz)
SEGMENTATION_FUNCTION(segmentation_segment_match_id) {
    Datum key = key_argument(fcinfo, 0);
    const Matcher& matcher = criteria_argument(fcinfo, 1);
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    spi::connect();
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot match customer");
    // Window totals (windows.hpp) for the criteria's windows, and for the
    // segments' own when the criteria refer to segments.
    WindowTotals windows;
    std::shared_ptr<const SegmentSet> all_segments;
    if (matcher.uses_membership()) all_segments = automatic_segments();
    std::vector<Micros> spans =
        all_segments ? merge_spans(matcher.window_spans(), all_segments->window_spans()) : matcher.window_spans();
    if (!spans.empty()) {
        read_window_totals(key, spans, as_of, windows);
        customer.windows = &windows;
    }
    bool result;
    if (matcher.uses_membership()) {
        // The customer's segments at as_of: automatic ones evaluated (in the
        // order of their references, with overrides), manual ones as assigned.
        result = matcher.matches(customer, as_of,
                                 MemberList(segments_at(key, customer, as_of, matcher.references(),
                                                        "cannot match customer \"" + key_text(key) + "\"")));
    } else {
        result = matcher.matches(customer, as_of);
    }
    spi::finish();
    PG_RETURN_BOOL(result);
}
