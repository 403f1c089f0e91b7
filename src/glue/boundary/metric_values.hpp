// Reading customer_metrics rows into the core's Customer. PG-style: call
// inside pg::call.
#pragma once

#include <optional>
#include <vector>

#include "core/customer.hpp"
#include "glue/boundary/postgres.hpp"

namespace segmentation::glue {

// The metric columns of customer_metrics a Customer is made of, in the
// order of MetricValues: by name, and as the list every customer-reading
// statement selects right after customer_id (checked to be the same list).
constexpr int kMetricColumnCount = 5;
constexpr const char* kMetricColumnNames[kMetricColumnCount] = {"lifetime_value", "order_count", "last_order_at",
                                                                "customer_since", "loyalty_level"};
#define SEGMENTATION_METRIC_COLUMNS "lifetime_value, order_count, last_order_at, customer_since, loyalty_level"

constexpr bool lists_metric_columns(const char* sql) {
    for (int i = 0; i < kMetricColumnCount; ++i) {
        if (i > 0 && (*sql++ != ',' || *sql++ != ' ')) return false;
        for (const char* name = kMetricColumnNames[i]; *name != '\0'; ++name)
            if (*sql++ != *name) return false;
    }
    return *sql == '\0';
}
static_assert(lists_metric_columns(SEGMENTATION_METRIC_COLUMNS), "one list of metric columns");

// One customer's metrics as PostgreSQL values (a row of the columns above).
struct MetricValues {
    Datum lifetime_value;
    bool lifetime_value_null;
    Datum order_count;
    bool order_count_null;
    Datum last_order_at;
    bool last_order_at_null;
    Datum customer_since;
    bool customer_since_null;
    Datum loyalty_level;
    bool loyalty_level_null;
    // customer_metrics.attributes (jsonb), read where a reader asks for it.
    Datum attributes = (Datum)0;
    bool attributes_null = true;
};

// Where the metric columns are in customer_metrics' tuples.
struct MetricAttributes {
    AttrNumber lifetime_value, order_count, last_order_at, customer_since, loyalty_level;
    AttrNumber attributes;  // InvalidAttrNumber in a database still at 1.0
};
SEGMENTATION_PG_CONTEXT MetricAttributes metric_attributes(Oid customer_metrics);

// Where all of customer_metrics' columns that readers and writers use are.
struct MetricsColumns : MetricAttributes {
    AttrNumber key, first_order_at, reevaluate_at;
    // The remembered membership (InvalidAttrNumber in a database still at 1.0).
    AttrNumber automatic_segments, segments_version;
};
// customer_metrics' columns (of the shard in scope, on Citus), looked up
// once per relation and catalog generation. Not PG-style.
MetricsColumns metrics_columns();

// The customer's automatic segments, ascending, as the customer_metrics row
// in `slot` remembers them for the definitions `version`; false when it
// remembers none for them (or none of ours: then read the assignments).
SEGMENTATION_PG_CONTEXT bool remembered_segments_of_slot(TupleTableSlot* slot, const MetricsColumns& at, int64 version,
                                                         std::vector<int64>& segments);

// The metric values of a customer_metrics slot (pointing into it).
SEGMENTATION_PG_CONTEXT MetricValues metric_values_of_slot(TupleTableSlot* slot, const MetricAttributes& at);

// Converts metric values to a Customer. The loyalty level points into the
// (possibly detoasted) text, which must outlive the Customer. `key` names the
// customer in the error raised for a lifetime value beyond 10^19.
SEGMENTATION_PG_CONTEXT Customer customer_from_values(const MetricValues& values, std::optional<Datum> key);

// customer_from_values without calling PostgreSQL, for values stored inline
// (neither compressed nor out of line) and in range; false otherwise, and
// then the caller uses customer_from_values. Safe outside pg::call.
bool inline_customer_from_values(const MetricValues& values, Customer& customer) noexcept;

// The metric values of row `row` of SPI_tuptable, whose columns from
// `first_column` (1-based) on are SEGMENTATION_METRIC_COLUMNS.
SEGMENTATION_PG_CONTEXT MetricValues metric_values_from_spi(uint64 row, int first_column);

// Customer attributes (the jsonb column customer_metrics.attributes), read
// apart from the metrics: a database at 1.0 has no such column, and only
// shops that track attributes fill it.
//
// The text of a stored attributes value (palloc'd), or nullptr for NULL.
SEGMENTATION_PG_CONTEXT const char* attributes_text(Datum jsonb, bool null);
// Decodes that text into `values` (none for nullptr). C++ context.
void read_attribute_values(const char* text, AttributeValues& values);

// The exact comparison key of a numeric, or nothing beyond +-10^19 (or NaN).
SEGMENTATION_PG_CONTEXT std::optional<exact::MoneyKey> money_key_of_numeric(Datum numeric);

}  // namespace segmentation::glue
