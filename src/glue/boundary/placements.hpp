// Citus: which tables the extension's code works on, on this node, for the
// shard it was given (docs/citus.md).
//
// On a Citus cluster the extension's tables are Citus tables: segments and
// tracked_tables are reference tables (a copy, "placement", on every node),
// customer_metrics, assignments and assignment_log are distributed by
// customer and co-located with the tracked tables. A trigger on a shard of
// the tracked orders table (shop.orders_102008) must work on the co-located
// shards of the extension's tables on the same node
// (segmentation.customer_metrics_102040, ...) and on the local placements
// of the reference tables, never on the coordinator's shell tables and
// never through a distributed query (Citus refuses one from inside a shard).
//
// A RelationSet says, for one shard, where each of the extension's tables
// is on this node. While a RelationScope holds one, catalog() returns the
// local shards' OIDs and the SPI layer (spi.cpp) runs every statement with
// the extension's table names replaced by the local shards' names, so the
// code above is unchanged: it simply works on the shard it is given.
// Without a scope (one server, or the coordinator's API functions), nothing
// changes. Citus is found through its catalog, never linked.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

struct RelationSet {
    uint64 id;     // unique in this backend: plans prepared for this set are keyed by it
    bool sharded;  // holds shards of customer_metrics, assignments and assignment_log
    // Citus table (logical relation) -> its local shard or placement here:
    // the extension's tables and the tracked tables co-located with them.
    std::vector<std::pair<Oid, Oid>> shards;
    // "segmentation.customer_metrics" -> "segmentation.customer_metrics_102040", ...
    std::vector<std::pair<std::string, std::string>> renames;
    // catalog() with the local shards' OIDs, made again from base_catalog()
    // whenever that changes (the keys' type, say). See localized_catalog().
    mutable Catalog catalog;
    mutable uint64 catalog_generation = 0;
};

// base_catalog() with `set`'s local shards. PG-style.
SEGMENTATION_PG_CONTEXT const Catalog& localized_catalog(const RelationSet& set);

using RelationSetPtr = std::shared_ptr<const RelationSet>;

// Whether Citus is installed in this database. PG-style.
SEGMENTATION_PG_CONTEXT bool citus_present();

// Whether the extension's own tables are Citus tables (segments is a
// reference table): the cluster layout of docs/citus.md. Needs SPI.
bool extension_tables_distributed();

// The set for a shard `relation` of a Citus table co-located with
// customer_metrics (a tracked table's shard, or one of ours), or null when
// `relation` is no such shard on this node. Needs SPI; cached per backend.
RelationSetPtr shard_relations(Oid relation);

// The set for work that concerns no shard (event triggers, the triggers of
// the reference tables): the local placements of segments and
// tracked_tables only. Null when the extension's tables are not Citus
// tables. Needs SPI; cached per backend.
RelationSetPtr node_relations();

// One set per shard group of customer_metrics placed on this node, in
// shard order: set-based work runs once per shard (docs/citus.md). Needs SPI.
std::vector<RelationSetPtr> local_shard_groups();

// Makes `set` the active one (when not null) until the scope ends; scopes nest.
class RelationScope {
public:
    explicit RelationScope(RelationSetPtr set);
    ~RelationScope();
    RelationScope(const RelationScope&) = delete;
    RelationScope& operator=(const RelationScope&) = delete;

private:
    RelationSetPtr saved_;
    bool active_;
};

// The active set, or null.
const RelationSet* active_relations();
RelationSetPtr active_relation_set();

// `relation`'s local shard in the active set, or `relation` itself.
Oid local_relation(Oid relation);

// `sql` with the extension's table names replaced by the active set's.
std::string localized_sql(const std::string& sql);

// Drops the cached sets after an invalidation of `relid` (InvalidOid: all).
// Called by catalog.cpp's relcache callback; must not fail.
void forget_placements(Oid relid);

// Registers the invalidation callbacks; called once from _PG_init.
SEGMENTATION_PG_CONTEXT void register_placement_callbacks();

}  // namespace segmentation::glue
