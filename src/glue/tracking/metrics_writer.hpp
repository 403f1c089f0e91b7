// The executor side of the order path: customer_metrics, assignments and
// assignment_log written row by row through the executor's replication
// helpers (find by primary key, lock, update with index maintenance). Every
// call into the executor (EState, EvalPlanQual, tuple locks and updates) is
// in metrics_writer.cpp. PG-style: call inside pg::call.
#pragma once

#include <optional>
#include <vector>

#include "glue/boundary/metric_values.hpp"
#include "glue/membership/evaluation.hpp"

namespace segmentation::glue {

// An executor context for writing the extension's tables row by row, set up
// as logical replication's apply worker sets up its own: customer_metrics
// (updated), assignments (read, added to, removed from) and assignment_log
// (added to). Most orders change no membership: assignments and the log are
// opened only when first needed.
struct Writer {
    EState* estate;
    EPQState epq;
    ResultRelInfo* metrics;
    ResultRelInfo* assignments = nullptr;
    ResultRelInfo* log = nullptr;
    Oid metrics_key;
    Oid assignments_key_oid;
    Relation assignments_key;  // (customer_id, segment_id)
    TupleTableSlot* search;    // on customer_metrics
    TupleTableSlot* current;
    TupleTableSlot* updated;
    TupleTableSlot* assignment_search;
    TupleTableSlot* assignment_found;
    TupleTableSlot* assignment_new;
    TupleTableSlot* log_new;
    MetricsColumns columns;
    struct {
        AttrNumber customer, segment, automatic, assigned_at;
    } assignment_columns;
    struct {
        AttrNumber id, customer, segment, action, automatic, cause, logged_at;
    } log_columns;
    ScanKeyData assignments_scan_key;  // customer_id =
    TimestampTz now;
    Datum cause;  // text 'order'
};

// The new values of one customer, as Datums for its row.
struct NewMetrics {
    Datum lifetime_value;
    int64 order_count;
    std::optional<TimestampTz> first, last, since;
    std::optional<TimestampTz> due;
    // The customer's automatic segments after this write, ascending, and the
    // version of the definitions they hold for (SegmentSet::version), to be
    // remembered in its row; none: the row keeps what it has.
    std::optional<std::vector<int64>> automatic_segments;
    int64 segments_version = 0;
};

// `columns`: metrics_columns() (metric_values.hpp).
SEGMENTATION_PG_CONTEXT void open_writer(Writer& w, const MetricsColumns& columns);
SEGMENTATION_PG_CONTEXT void close_writer(Writer& w);

// Finds the customer's metrics row and locks it (waiting for any other
// writer), leaving its newest version in w.current; false when there is none.
SEGMENTATION_PG_CONTEXT bool find_and_lock(Writer& w, Datum key);

// A timestamptz column of a slot (w.current), or nothing when NULL.
SEGMENTATION_PG_CONTEXT std::optional<TimestampTz> timestamp_column(TupleTableSlot* slot, AttrNumber column);

// The stored metrics of the customer in w.current.
SEGMENTATION_PG_CONTEXT MetricValues metric_values_of(Writer& w);

// Writes the new version of the row in w.current.
SEGMENTATION_PG_CONTEXT void write_row(Writer& w, const NewMetrics& m, bool orders_only);

// The customer's automatic segments, ascending, read after it was locked;
// its manual segments too, into `manual`, when given.
SEGMENTATION_PG_CONTEXT void read_automatic_segments(Writer& w, Datum key, std::vector<int64>& segments,
                                                     std::vector<int64>* manual = nullptr);

// Adds or removes one automatic assignment, with its log row; says whether it did.
SEGMENTATION_PG_CONTEXT bool write_change(Writer& w, const Change& change);

}  // namespace segmentation::glue
