// segmentation.track_customer_attributes(): the columns of the tracked
// customers table that criteria test as attributes (core/attributes.hpp).
// Their values are kept in customer_metrics.attributes (jsonb) by the same
// statements that keep the loyalty level: the back-fill here, the customers
// trigger (customers_upsert_sql) and verify() (expected_metrics_sql).
#include "glue/tracking/attribute_functions.hpp"

#include <algorithm>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/refresh.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"
#include "glue/tracking/tracked_columns.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace segmentation::glue {

void refuse_attributes_in_use(const std::vector<std::string>& names, const std::string& doing) {
    uint64 rows = spi::run_text("SELECT id, name, criteria::pg_catalog.text FROM segmentation.segments ORDER BY id", 0,
                                nullptr, nullptr);
    for (uint64 row = 0; row < rows; ++row) {
        int64 id = 0;
        const char* name = nullptr;
        const char* criteria = nullptr;
        pg::call([&] {
            id = spi::int64_column(row, 1);
            name = spi::text_column(row, 2);
            criteria = spi::text_column(row, 3);
        });
        Criteria parsed;
        try {
            parsed = parse_criteria(criteria);
        } catch (const CriteriaError&) {
            continue;  // not ours to judge here (stored criteria are checked on the way in)
        }
        for (const std::string& attribute : names) {
            if (!uses_attribute(parsed, attribute)) continue;
            throw Error(
                ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                doing + ": segment " + std::to_string(id) + " (\"" + name + "\") tests attribute \"" + attribute + "\"",
                "", "Change or delete the segment's criteria first.");
        }
        if (names.empty() && uses_attributes(parsed))
            throw Error(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                        doing + ": segment " + std::to_string(id) + " (\"" + name + "\") tests customer attributes", "",
                        "Change or delete the segment's criteria first.");
    }
}

std::string attributes_backfill_sql(const TrackedTable& c) {
    std::string key = "c." + std::string(pg::call([&] { return quote_identifier(c.key_column.c_str()); }));
    return "UPDATE segmentation.customer_metrics m SET attributes = x.a FROM (SELECT DISTINCT ON (1) " + key +
           "::" + key_type_name() + " AS k, " + attributes_sql(c, "c") + " AS a FROM " + c.name + " c WHERE " + key +
           " IS NOT NULL ORDER BY 1) x "
           "WHERE m.customer_id = x.k AND m.attributes IS DISTINCT FROM x.a";
}

}  // namespace segmentation::glue

namespace {

// The column names of a name[] argument; NULL elements are refused.
std::vector<std::string> column_names(FunctionCallInfo fcinfo, int argno) {
    int count = 0;
    Datum* items = nullptr;
    bool* nulls = nullptr;
    pg::call([&] {
        ArrayType* array = PG_GETARG_ARRAYTYPE_P(argno);
        if (ARR_NDIM(array) > 1)
            ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("columns must be a one-dimensional array")));
        deconstruct_array(array, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &items, &nulls, &count);
    });
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) {
        if (nulls[i]) null_argument("an attribute column");
        names.emplace_back(NameStr(*DatumGetName(items[i])));
    }
    return names;
}

const spi::Statement kCountCustomers = {"SELECT count(*) FROM segmentation.customer_metrics", 0, {}};

}  // namespace

// segmentation.track_customer_attributes(columns name[]) -> bigint (customers tracked)
SEGMENTATION_FUNCTION(segmentation_track_customer_attributes) {
    require_argument(fcinfo, 0, "columns");
    std::vector<std::string> columns = column_names(fcinfo, 0);
    if (columns.size() > kMaxAttributes)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "at most " + std::to_string(kMaxAttributes) +
                                                         " attribute columns can be tracked, not " +
                                                         std::to_string(columns.size()));
    for (std::size_t i = 0; i < columns.size(); ++i)
        if (std::find(columns.begin(), columns.begin() + static_cast<long>(i), columns[i]) !=
            columns.begin() + static_cast<long>(i))
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "attribute column \"" + columns[i] + "\" is given twice");

    spi::connect();
    Tracking t = read_tracking();
    if (!t.customers)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "customers are not tracked", "",
                    "Call segmentation.track_customers() first: attributes are columns of the customers table.");
    // The customers table's writers wait (their trigger reads the attributes), then evaluations.
    lock_tracked_tables(t, ShareRowExclusiveLock);
    lock_definitions_exclusively();
    t = read_tracking();
    if (!t.customers) throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "customers are not tracked");
    Oid relation = t.customers->relation;
    for (const std::string& column : columns)
        require_column_type(TrackedColumn::Attribute, column, column_type(relation, column, "attribute"));
    std::vector<std::string> dropped;
    for (const std::string& old : t.customers->attribute_columns)
        if (std::find(columns.begin(), columns.end(), old) == columns.end()) dropped.push_back(old);
    if (!dropped.empty()) refuse_attributes_in_use(dropped, "cannot change the tracked attributes");

    bool on_citus = extension_tables_distributed();
    if (on_citus) prepare_distributed_tracking();  // one connection per node: the nodes see the row
    Datum names = PG_GETARG_DATUM(0);
    Oid types[1] = {NAMEARRAYOID};
    spi::run_text("UPDATE segmentation.tracked_tables SET attribute_columns = $1 WHERE kind = 'customers'", 1, types,
                  &names);
    t = read_tracking();
    require_sound_tracking(t);
    if (on_citus) {
        // On Citus, each node back-fills and evaluates its shards (citus.hpp).
        backfill_on_every_node("track_attributes");
    } else {
        // Back-fill: every customer's attributes from the customers table, in one pass.
        spi::run_text(attributes_backfill_sql(*t.customers), 0, nullptr, nullptr);
        refresh_customers(transaction_start(), Cause::Customer);
    }
    spi::run(kCountCustomers, {});
    int64 tracked = pg::call([] { return spi::int64_column(0, 1); });
    spi::finish();
    PG_RETURN_INT64(tracked);
}
