// segmentation.verify(): recomputes everything from the tracked tables and
// reports every difference from what is stored. It reports; it never fixes
// (refresh_all() fixes membership; re-tracking rebuilds metrics).
#include <string>

#include "glue/boundary/placements.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/tracked_columns.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Each query yields (customer_id text, problem text, expected text, actual text).
std::string metrics_drift(const Tracking& t) {
    return "SELECT coalesce(e.customer_id, a.customer_id)::text, "
           "  CASE WHEN a.customer_id IS NULL THEN 'missing customer' "
           "       WHEN e.customer_id IS NULL THEN 'unknown customer' ELSE 'metrics' END, "
           "  CASE WHEN e.customer_id IS NOT NULL THEN ROW(e.lifetime_value, e.order_count, e.first_order_at, "
           "       e.last_order_at, e.customer_since, e.loyalty_level)::text END, "
           "  CASE WHEN a.customer_id IS NOT NULL THEN ROW(a.lifetime_value, a.order_count, a.first_order_at, "
           "       a.last_order_at, a.customer_since, a.loyalty_level)::text END "
           "FROM (" +
           expected_metrics_sql(t) +
           ") e FULL JOIN segmentation.customer_metrics a ON a.customer_id = e.customer_id "
           "WHERE e.customer_id IS NULL OR a.customer_id IS NULL "
           "   OR (e.lifetime_value, e.order_count, e.first_order_at, e.last_order_at, e.customer_since, "
           "e.loyalty_level) "
           "      IS DISTINCT FROM (a.lifetime_value, a.order_count, a.first_order_at, a.last_order_at, "
           "a.customer_since, a.loyalty_level)";
}

// Automatic membership at $1, for customers not waiting for refresh_due().
// Matching is one join of customers with segments (not a subquery per
// customer), which the planner rewrites (match_planning.cpp): each criteria
// is read and compiled once per verify, however large.
const char* const kMembershipDrift =
    "SELECT m.customer_id::text, 'membership', coalesce(e.segments, '{}')::text, coalesce(x.segments, '{}')::text "
    "FROM segmentation.customer_metrics m "
    "LEFT JOIN (SELECT c.customer_id, array_agg(s.id ORDER BY s.id) AS segments "
    "           FROM segmentation.customer_metrics c JOIN segmentation.segments s "
    "             ON s.is_automatic AND segmentation.segment_match(c, s.criteria, $1) "
    "           GROUP BY c.customer_id) e ON e.customer_id = m.customer_id "
    "LEFT JOIN (SELECT a.customer_id, array_agg(a.segment_id ORDER BY a.segment_id) AS segments "
    "           FROM segmentation.assignments a WHERE a.is_automatic GROUP BY a.customer_id) x "
    "  ON x.customer_id = m.customer_id "
    "WHERE (m.reevaluate_at IS NULL OR m.reevaluate_at > $1) "
    "  AND coalesce(e.segments, '{}') <> coalesce(x.segments, '{}')";

// A due time later than the next possible change would miss that change.
const char* const kDueDrift =
    "SELECT m.customer_id::text, 'due time', n.at::text, m.reevaluate_at::text "
    "FROM segmentation.customer_metrics m, LATERAL (SELECT segmentation.next_change_at(m, $1) AS at) n "
    "WHERE n.at IS NOT NULL AND (m.reevaluate_at IS NULL OR m.reevaluate_at > n.at)";

const char* const kAssignmentDrift =
    "SELECT a.customer_id::text, 'orphan assignment', NULL, 'segment ' || a.segment_id "
    "FROM segmentation.assignments a "
    "WHERE NOT EXISTS (SELECT 1 FROM segmentation.customer_metrics m WHERE m.customer_id = a.customer_id) "
    "   OR NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.id = a.segment_id) "
    "UNION ALL "
    "SELECT a.customer_id::text, 'assignment kind', "
    "  'segment ' || s.id || CASE WHEN s.is_automatic THEN ' is automatic' ELSE ' is manual' END, "
    "  CASE WHEN a.is_automatic THEN 'automatic assignment' ELSE 'manual assignment' END "
    "FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id "
    "WHERE s.is_automatic <> a.is_automatic";

}  // namespace

// segmentation.verify(as_of timestamptz) -> setof (customer_id, problem, expected, actual)
SEGMENTATION_FUNCTION(segmentation_verify) {
    Datum as_of = TimestampTzGetDatum(as_of_argument(fcinfo, 0));
    if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(as_of)))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "verify needs a finite as_of");
    start_set_result(fcinfo);
    spi::connect();
    require_single_node("verify");
    Tracking t = read_tracking();
    require_sound_tracking(t);
    std::string queries[] = {metrics_drift(t), kMembershipDrift, kDueDrift, kAssignmentDrift};
    Oid types[1] = {TIMESTAMPTZOID};
    for (const std::string& sql : queries) {
        uint64 rows = spi::run_text(sql + " ORDER BY 1, 2", 1, types, &as_of, nullptr, true);
        add_spi_rows_to_set_result(fcinfo, rows);
    }
    spi::finish();
    return (Datum)0;
}
