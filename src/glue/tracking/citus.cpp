#include "glue/tracking/citus.hpp"

#include "glue/boundary/spi.hpp"

extern "C" {
#include "catalog/pg_namespace.h"
}

namespace segmentation::glue {
namespace {

const char* const kSupported =
    "segmentation tracks plain PostgreSQL tables, including local tables in a Citus database; "
    "Citus distributed and reference tables are not supported yet.";

}  // namespace

SEGMENTATION_PG_CONTEXT bool citus_installed() {
    return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE));
}

void require_not_distributed(Oid relation) {
    if (!pg::call([] { return citus_installed(); })) return;
    // Citus's own classification: reference tables are replicated ('t')
    // without a distribution column ('n'); local tables added to its
    // metadata have no colocation group.
    Datum args[1] = {ObjectIdGetDatum(relation)};
    Oid types[1] = {REGCLASSOID};
    uint64 rows = spi::run_text(
        "SELECT CASE WHEN partmethod = 'n' AND repmodel = 't' THEN 'reference table' "
        "            WHEN partmethod = 'n' AND colocationid = 0 THEN 'local table' "
        "            ELSE 'distributed table' END "
        "FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1",
        1, types, args, nullptr, true);
    if (rows == 0) return;
    std::string kind = pg::call([] { return spi::text_column(0, 1); });
    std::string name = pg::call([&] { return get_rel_name(relation); });
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                "\"" + name + "\" is a Citus " + kind + ", which segmentation cannot track yet",
                "Its rows are written to shards, where the tracking triggers would not keep metrics and segment "
                "membership up to date.",
                kSupported);
}

void refuse_distributing_tracked_table(const std::string& trigger_function) {
    std::string kind = trigger_function == "customers_changed" ? "customers" : "orders";
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "a table tracked by segmentation cannot become a Citus table yet",
                "Its tracking trigger was being created on a table segmentation does not track (Citus copies "
                "triggers to the shards of a table it distributes), where it would not keep metrics and segment "
                "membership up to date.",
                "Call segmentation.untrack_" + kind + "() first. " + kSupported);
}

}  // namespace segmentation::glue
