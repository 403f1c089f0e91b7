// The tracking configuration (segmentation.tracked_tables): read, cached per
// backend, and the first step of the lock order.
#include "glue/tracking/configuration.hpp"

#include <unordered_map>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/tracking/tracked_columns.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace segmentation::glue {
namespace {

const spi::Statement kReadTracking = {
    "SELECT kind, relation, customer_column, time_column, coalesce(amount_column, loyalty_column), live, "
    "{attribute_columns} FROM segmentation.tracked_tables",
    0,
    {}};

std::shared_ptr<const Tracking> cached_configuration;
// On a Citus node, the configuration with the tracked tables replaced by
// their shards, per relation set (placements.hpp). Dropped with the above.
std::unordered_map<uint64, std::shared_ptr<const Tracking>> localized_configurations;

void reset_cached_tracking() {
    cached_configuration.reset();
    localized_configurations.clear();
}

// PG-style: where the table's key, time and value columns are.
SEGMENTATION_PG_CONTEXT void locate_columns(TrackedTable& table) {
    auto attnum_of = [&](const std::string& column) {
        return column.empty() ? InvalidAttrNumber : get_attnum(table.relation, column.c_str());
    };
    table.key_attnum = attnum_of(table.key_column);
    table.time_attnum = attnum_of(table.time_column);
    table.value_attnum = attnum_of(table.value_column);
}

// The tracked tables of `t` as the active relation set holds them: their
// local shards, by OID and by name.
Tracking localized(const Tracking& t) {
    Tracking local = t;
    for (std::optional<TrackedTable>* table : {&local.customers, &local.orders}) {
        if (!*table) continue;
        Oid shard = local_relation((*table)->relation);
        if (shard == (*table)->relation) continue;
        (*table)->relation = shard;
        (*table)->name = pg::call([&] {
            locate_columns(**table);
            return quote_qualified_identifier(get_namespace_name(get_rel_namespace(shard)), get_rel_name(shard));
        });
    }
    return local;
}

void forget_cached_tracking(Datum, Oid relid) {
    if (!cached_configuration) return;
    const Tracking& t = *cached_configuration;
    if (relid == InvalidOid || relid == catalog_relation_of_tracking() ||
        (t.customers && t.customers->relation == relid) || (t.orders && t.orders->relation == relid))
        reset_cached_tracking();
}

void forget_cached_tracking_at_abort(XactEvent event, void*) {
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) reset_cached_tracking();
}

// The attribute column names of row `row` of kReadTracking (column 7, name[]).
void read_attribute_columns(uint64 row, TrackedTable& table) {
    int count = 0;
    Datum* names = nullptr;
    pg::call([&] {
        bool null;
        Datum array = spi::column(row, 7, &null);
        if (null) return;
        deconstruct_array(DatumGetArrayTypeP(array), NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &names, nullptr,
                          &count);
    });
    for (int i = 0; i < count; ++i) table.attribute_columns.emplace_back(NameStr(*DatumGetName(names[i])));
    table.attribute_types.assign(table.attribute_columns.size(), InvalidOid);
}

}  // namespace

AttributeSchema tracked_attribute_schema() {
    spi::connect();
    // On a Citus node, outside any scope (a segment's criteria checked as
    // the segments placement is written), the node's own placement is read.
    RelationScope node(active_relations() != nullptr ? nullptr : node_relations());
    Tracking t = read_tracking();
    spi::finish();
    AttributeSchema schema;
    if (!t.customers) return schema;
    const TrackedTable& c = *t.customers;
    for (std::size_t i = 0; i < c.attribute_columns.size(); ++i) {
        std::optional<AttributeKind> kind = pg::call([&] { return attribute_kind(c.attribute_types[i]); });
        if (kind) schema.push_back({c.attribute_columns[i], *kind});
    }
    return schema;
}

std::shared_ptr<const Tracking> shared_cached_tracking() {
    if (!cached_configuration) {
        Tracking t = read_tracking();
        require_sound_tracking(t);
        cached_configuration = std::make_shared<const Tracking>(std::move(t));
    }
    const RelationSet* set = active_relations();
    if (set == nullptr || !set->sharded) return cached_configuration;
    auto found = localized_configurations.find(set->id);
    if (found == localized_configurations.end())
        found = localized_configurations
                    .emplace(set->id, std::make_shared<const Tracking>(localized(*cached_configuration)))
                    .first;
    return found->second;
}

const Tracking& cached_tracking() { return *shared_cached_tracking(); }

void register_tracking_callbacks() {
    CacheRegisterRelcacheCallback(forget_cached_tracking, (Datum)0);
    RegisterXactCallback(forget_cached_tracking_at_abort, nullptr);
}

Tracking read_tracking() {
    Tracking t;
    uint64 rows = spi::run(kReadTracking, {});
    for (uint64 row = 0; row < rows; ++row) {
        TrackedTable table;
        const char* kind = nullptr;
        const char* key = nullptr;
        const char* time = nullptr;
        const char* value = nullptr;
        pg::call([&] {
            kind = spi::text_column(row, 1);
            table.relation = DatumGetObjectId(spi::column(row, 2));
            key = spi::text_column(row, 3);
            time = spi::text_column(row, 4);
            value = spi::text_column(row, 5);
            table.live = spi::bool_column(row, 6);
        });
        table.key_column = key;
        table.time_column = time;
        table.value_column = value == nullptr ? "" : value;
        read_attribute_columns(row, table);
        pg::call([&] {
            char* name = get_rel_name(table.relation);
            table.name = name == nullptr
                             ? psprintf("(dropped table %u)", table.relation)
                             : quote_qualified_identifier(get_namespace_name(get_rel_namespace(table.relation)), name);
            auto type_of = [&](const std::string& column) {
                AttrNumber attnum = column.empty() ? InvalidAttrNumber : get_attnum(table.relation, column.c_str());
                return attnum == InvalidAttrNumber ? InvalidOid : get_atttype(table.relation, attnum);
            };
            locate_columns(table);
            table.key_type = type_of(table.key_column);
            table.time_type = type_of(table.time_column);
            table.value_type = type_of(table.value_column);
            for (std::size_t i = 0; i < table.attribute_columns.size(); ++i)
                table.attribute_types[i] = type_of(table.attribute_columns[i]);
        });
        (std::string(kind) == "customers" ? t.customers : t.orders) = table;
    }
    return t;
}

void lock_tracked_tables(const Tracking& t, LOCKMODE customers_mode, LOCKMODE orders_mode) {
    pg::call([&] {
        if (t.customers) LockRelationOid(t.customers->relation, customers_mode);
        if (t.orders) LockRelationOid(t.orders->relation, orders_mode);
    });
}

}  // namespace segmentation::glue
