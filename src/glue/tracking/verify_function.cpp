// segmentation.verify(): recomputes everything from the tracked tables and
// reports every difference from what is stored. It reports; it never fixes
// (refresh_all() fixes membership; re-tracking rebuilds metrics).
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "glue/boundary/placements.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/membership/customer_scan.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/membership/windows.hpp"
#include "glue/boundary/results.hpp"
#include "core/membership.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/tracked_columns.hpp"
#include "glue/tracking/cluster_work.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Each query yields (customer_id text, problem text, expected text, actual text).
std::string metrics_drift(const Tracking& t) {
    // Attributes are compared in a database at 1.1 or later (a 1.0 one has no such column).
    bool attributes = pg::call([] { return catalog().has_attributes; });
    std::string columns =
        "lifetime_value, {}.order_count, {}.first_order_at, {}.last_order_at, {}.customer_since, "
        "{}.loyalty_level";
    if (attributes) columns += ", {}.attributes";
    auto of = [&](const char* alias) {
        std::string text = std::string(alias) + "." + columns;
        for (std::size_t at = text.find("{}"); at != std::string::npos; at = text.find("{}", at))
            text.replace(at, 2, alias);
        return text;
    };
    return "SELECT coalesce(e.customer_id, a.customer_id)::text, "
           "  CASE WHEN a.customer_id IS NULL THEN 'missing customer' "
           "       WHEN e.customer_id IS NULL THEN 'unknown customer' ELSE 'metrics' END, "
           "  CASE WHEN e.customer_id IS NOT NULL THEN ROW(" +
           of("e") +
           ")::text END, "
           "  CASE WHEN a.customer_id IS NOT NULL THEN ROW(" +
           of("a") +
           ")::text END "
           "FROM (" +
           expected_metrics_sql(t) +
           ") e FULL JOIN segmentation.customer_metrics a ON a.customer_id = e.customer_id "
           "WHERE e.customer_id IS NULL OR a.customer_id IS NULL "
           "   OR (" +
           of("e") + ") IS DISTINCT FROM (" + of("a") + ")";
}

// Automatic membership at $1, for customers not waiting for refresh_due(),
// leaving out segments with an online change in progress: their membership
// is on its way from the old definition to the new.
// Matching is one join of customers with segments (not a subquery per
// customer), which the planner rewrites (match_planning.cpp): each criteria
// is read and compiled once per verify, however large.
// On a shard (docs/citus.md), rows of customer_metrics are rows of the
// shard's own type: the functions over customer_metrics rows get them cast
// to it (quoted, so that the shard scope does not rename the type).
std::string metrics_row(const char* alias) {
    if (active_relations() == nullptr) return alias;
    return std::string("ROW(") + alias + ".*)::segmentation.\"customer_metrics\"";
}

std::string membership_drift(bool online_changes) {
    std::string settled = online_changes ? " AND s.pending_change IS NULL" : "";
    std::string not_changing = online_changes ? " AND a.segment_id NOT IN (SELECT p.id FROM segmentation.segments p "
                                                "WHERE p.pending_change IS NOT NULL)"
                                              : "";
    return "SELECT m.customer_id::text, 'membership', coalesce(e.segments, '{}')::text, "
           "coalesce(x.segments, '{}')::text "
           "FROM segmentation.customer_metrics m "
           "LEFT JOIN (SELECT c.customer_id, array_agg(s.id ORDER BY s.id) AS segments "
           "           FROM segmentation.customer_metrics c JOIN segmentation.segments s "
           "             ON s.is_automatic" +
           settled + " AND segmentation.segment_match(" + metrics_row("c") +
           ", s.criteria, $1) "
           "           GROUP BY c.customer_id) e ON e.customer_id = m.customer_id "
           "LEFT JOIN (SELECT a.customer_id, array_agg(a.segment_id ORDER BY a.segment_id) AS segments "
           "           FROM segmentation.assignments a WHERE a.is_automatic" +
           not_changing +
           "           GROUP BY a.customer_id) x "
           "  ON x.customer_id = m.customer_id "
           "WHERE (m.reevaluate_at IS NULL OR m.reevaluate_at > $1) "
           "  AND coalesce(e.segments, '{}') <> coalesce(x.segments, '{}')";
}

// With segment membership in play (inSegment / notInSegment criteria, or
// overrides), a segment's members depend on other segments' members: the
// evaluator itself recomputes every customer's automatic segments at $1,
// in the order of their references, and these rows report the differences
// it found (customer, expected, actual), in the same shape.
const char* const kEvaluatedMembershipDrift =
    "SELECT u.c, u.p, u.e, nullif(u.a, '') FROM unnest($2::text[], $5::text[], $3::text[], $4::text[]) AS u(c, p, e, "
    "a) "
    "WHERE $1 IS NOT NULL";

std::string ids_text(const std::vector<int64>& ids) {
    std::string text = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) text += (i == 0 ? "" : ",") + std::to_string(ids[i]);
    return text + "}";
}

Datum text_array(const std::vector<std::string>& values) {
    return pg::call([&] {
        Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * (values.size() + 1)));
        for (std::size_t i = 0; i < values.size(); ++i) items[i] = CStringGetTextDatum(values[i].c_str());
        return PointerGetDatum(
            construct_array(items, static_cast<int>(values.size()), TEXTOID, -1, false, TYPALIGN_INT));
    });
}

struct MembershipDrift {
    std::vector<std::string> customers, problems, expected, actual;
};

std::string timestamp_text(TimestampTz at) {
    return pg::call([&] { return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(at))); });
}

// Every customer not waiting for refresh_due(), evaluated at as_of as the
// triggers evaluate it (a batch of customers per SPI connection).
// With window criteria, due times are checked here too (next_change_at()
// cannot see orders): when `check_due`, a stored due time later than the
// evaluator's next change is reported as the SQL check reports it.
MembershipDrift evaluated_membership_drift(TimestampTz as_of, const std::vector<int64>& changing, bool check_due) {
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    OverriddenCustomers overridden;
    overridden.load(segments->has_overrides());
    MembershipDrift drift;
    CustomerScan scan;
    scan.open();
    std::vector<CustomerState> batch;
    std::vector<int64> matched;
    for (;;) {
        poll_interrupts();
        spi::connect();
        batch.clear();
        if (scan.next(batch, 10000) == 0) {
            spi::finish();
            break;
        }
        read_window_totals(batch, *segments, as_of);  // when criteria use windows
        for (CustomerState& state : batch) {
            Customer customer = state.customer;
            customer.attributes = &state.attributes;
            customer.windows = &state.windows;
            if (check_due) {
                // Every customer, waiting or not, as kDueDrift checks them.
                std::vector<int64> ignored;
                std::optional<Micros> next =
                    storable_instant(segments->evaluate(customer, as_of, ignored, state.context));
                if (next && (!state.reevaluate_at || *state.reevaluate_at > *next)) {
                    drift.customers.push_back(key_text(state.key));
                    drift.problems.push_back("due time");
                    drift.expected.push_back(timestamp_text(*next));
                    drift.actual.push_back(state.reevaluate_at ? timestamp_text(*state.reevaluate_at) : "");
                }
            }
            if (state.reevaluate_at && *state.reevaluate_at <= as_of) continue;  // waiting: not drift
            if (overridden.contains(state.key)) state.context = read_membership_context(state.key, true);
            matched.clear();
            segments->evaluate(customer, as_of, matched, state.context);
            // Segments with an online change in progress are on their way.
            auto changing_segment = [&](int64 id) {
                return std::find(changing.begin(), changing.end(), id) != changing.end();
            };
            matched.erase(std::remove_if(matched.begin(), matched.end(), changing_segment), matched.end());
            state.current.erase(std::remove_if(state.current.begin(), state.current.end(), changing_segment),
                                state.current.end());
            if (matched == state.current) continue;
            drift.customers.push_back(key_text(state.key));
            drift.problems.push_back("membership");
            drift.expected.push_back(ids_text(matched));
            drift.actual.push_back(ids_text(state.current));
        }
        spi::finish();
    }
    scan.close();
    return drift;
}

// A due time later than the next possible change would miss that change.
std::string due_drift() {
    return "SELECT m.customer_id::text, 'due time', n.at::text, m.reevaluate_at::text "
           "FROM segmentation.customer_metrics m, LATERAL (SELECT segmentation.next_change_at(" +
           metrics_row("m") +
           ", $1) AS at) n "
           "WHERE n.at IS NOT NULL AND (m.reevaluate_at IS NULL OR m.reevaluate_at > n.at)";
}

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

// Customers whose row remembers automatic segments (for the order path)
// other than their automatic assignments, under definitions version $v, the
// one in force. Rows remembering another version are not used, so not checked.
std::string remembered_segments_drift(int64 version) {
    return "SELECT m.customer_id::text, 'remembered segments', coalesce(a.ids, '{}')::text, "
           "m.automatic_segments::text "
           "FROM segmentation.customer_metrics m LEFT JOIN LATERAL ("
           "  SELECT pg_catalog.array_agg(a.segment_id ORDER BY a.segment_id) AS ids "
           "  FROM segmentation.assignments a WHERE a.customer_id = m.customer_id AND a.is_automatic) a ON true "
           "WHERE m.segments_version = " +
           std::to_string(version) + " AND m.automatic_segments IS DISTINCT FROM coalesce(a.ids, '{}')";
}

const char* const kChangesInProgress = "SELECT id FROM segmentation.segments WHERE pending_change IS NOT NULL";

// Runs verify's drift queries at `as_of` for `t`, in order, handing each
// to `emit` with its arguments.
using DriftEmit = std::function<void(int ordinal, const std::string& sql, int nargs, Oid* types, Datum* values)>;

void drift_queries(TimestampTz as_of_time, const Tracking& t, const DriftEmit& emit) {
    Datum as_of = TimestampTzGetDatum(as_of_time);
    // Due times are stored for the definitions in force, and an online change
    // puts new ones in force before its steps reach every customer: while one
    // is in progress, due times are not checked (the change's steps bring
    // them forward as they go).
    bool online_changes = pg::call([] { return catalog().online_changes; });
    std::vector<int64> changing;
    if (online_changes) {
        uint64 rows = spi::run_text(kChangesInProgress, 0, nullptr, nullptr, nullptr, true);
        pg::call([&] {
            for (uint64 row = 0; row < rows; ++row) changing.push_back(spi::int64_column(row, 1));
        });
    }
    if (!changing.empty())
        pg::call([] {
            ereport(NOTICE, (errmsg("an online segment change is in progress: due times and the membership of "
                                    "the segments changing are not checked")));
        });
    std::shared_ptr<const SegmentSet> segments = automatic_segments();
    // Window criteria (membership/windows.hpp) are matched by the evaluator,
    // which reads orders, and due times with them.
    bool windows = segments->uses_windows();
    bool evaluated = segments->uses_membership() || segments->has_overrides() || windows;
    std::vector<int64> moving = segments->dependents(changing);  // move with the segments changing
    changing.insert(changing.end(), moving.begin(), moving.end());
    std::string membership = evaluated ? kEvaluatedMembershipDrift : membership_drift(online_changes);
    bool remembered = segments->settled() && pg::call([] { return catalog().remembers_membership; });
    std::string queries[] = {metrics_drift(t), membership, changing.empty() && !windows ? due_drift() : "",
                             kAssignmentDrift, remembered ? remembered_segments_drift(segments->version()) : ""};
    Datum values[5] = {as_of, 0, 0, 0, 0};
    Oid types[5] = {TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
    int ordinal = 0;
    for (const std::string& sql : queries) {
        ++ordinal;
        if (sql.empty()) continue;
        int nargs = 1;
        if (evaluated && sql == membership) {
            MembershipDrift drift = evaluated_membership_drift(as_of_time, changing, windows && changing.empty());
            values[1] = text_array(drift.customers);
            values[2] = text_array(drift.expected);
            values[3] = text_array(drift.actual);
            values[4] = text_array(drift.problems);
            nargs = 5;
        }
        emit(ordinal, sql, nargs, types, values);
    }
}

}  // namespace

namespace segmentation::glue {

void verify_into_cluster_calls(TimestampTz as_of, int64 id) {
    drift_queries(
        as_of, cached_tracking(), [&](int ordinal, const std::string& sql, int nargs, Oid* types, Datum* values) {
            spi::run_text(
                "INSERT INTO segmentation.cluster_calls (id, call, ordinal, drift_customer, problem, expected, "
                "actual) SELECT " +
                    std::to_string(id) + ", 'verify', " + std::to_string(ordinal) + ", q.* FROM (" + sql + ") q",
                nargs, types, values);
        });
}

}  // namespace segmentation::glue

// segmentation.verify(as_of timestamptz) -> setof (customer_id, problem, expected, actual)
SEGMENTATION_FUNCTION(segmentation_verify) {
    TimestampTz as_of = as_of_argument(fcinfo, 0);
    if (TIMESTAMP_NOT_FINITE(as_of)) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "verify needs a finite as_of");
    start_set_result(fcinfo);
    spi::connect();
    Tracking t = read_tracking();
    require_sound_tracking(t);
    if (runs_on_cluster()) {
        cluster_verify(fcinfo, as_of);  // each node its shards' drift
    } else {
        drift_queries(as_of, t, [&](int, const std::string& sql, int nargs, Oid* types, Datum* values) {
            uint64 rows = spi::run_text(sql + " ORDER BY 1, 2", nargs, types, values, nullptr, true);
            add_spi_rows_to_set_result(fcinfo, rows);
        });
    }
    spi::finish();
    return (Datum)0;
}
