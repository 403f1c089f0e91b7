// Citus: the extension's tables as this node holds them for one shard
// (placements.hpp, docs/citus.md).
#include "glue/boundary/placements.hpp"

#include <cctype>
#include <unordered_map>

#include "glue/boundary/spi.hpp"

extern "C" {
#include "catalog/pg_namespace.h"
}

namespace segmentation::glue {
namespace {

RelationSetPtr active;
uint64 next_set_id = 1;

// Per backend: shard relation -> its set (null: not such a shard), and the
// node's set. Dropped on any invalidation of a relation they name (Citus
// invalidates a Citus table's relcache when its metadata changes), of the
// extension's tables, and at abort.
std::unordered_map<Oid, RelationSetPtr> shard_sets;
std::optional<RelationSetPtr> node_set;

void forget_all() {
    shard_sets.clear();
    node_set.reset();
}

bool names(const RelationSet& set, Oid relid) {
    for (const auto& [logical, local] : set.shards)
        if (logical == relid || local == relid) return true;
    return false;
}

}  // namespace

void forget_placements(Oid relid) {
    if (shard_sets.empty() && !node_set) return;
    if (relid == InvalidOid) return forget_all();
    for (const auto& [shard, set] : shard_sets)
        if (shard == relid || (set && names(*set, relid))) return forget_all();
    if (node_set && *node_set && names(**node_set, relid)) forget_all();
}

namespace {

void forget_at_abort(XactEvent event, void*) {
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) forget_all();
}

// Local shards and placements: a Citus table's shard is here when this
// node's group has a placement of it (after a move, the old node keeps the
// table for a while, without the placement). shard_name() qualifies even
// public tables, so that to_regclass finds them whatever the search_path.
const char* const kLocalShard =
    "pg_catalog.to_regclass(pg_catalog.shard_name(%s.logicalrelid, %s.shardid, false))::pg_catalog.oid";
const char* const kPlacedHere =
    "EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement pl, pg_catalog.pg_dist_local_group lg "
    "        WHERE pl.shardid = %s.shardid AND pl.groupid = lg.groupid)";

std::string format(const char* pattern, const char* alias) {
    std::string out;
    for (const char* p = pattern; *p != '\0'; ++p) {
        if (p[0] == '%' && p[1] == 's') {
            out += alias;
            ++p;
        } else {
            out += *p;
        }
    }
    return out;
}

// The reference placements of segments and tracked_tables ($1, $2).
std::string reference_placements_sql() {
    return "SELECT r.logicalrelid::pg_catalog.oid, " + format(kLocalShard, "r") +
           " FROM pg_catalog.pg_dist_shard r JOIN pg_catalog.pg_dist_partition rp ON rp.logicalrelid = r.logicalrelid "
           "WHERE rp.partmethod = 'n' AND rp.repmodel = 't' AND r.logicalrelid::pg_catalog.oid IN ($1, $2) AND " +
           format(kPlacedHere, "r");
}

// The shards co-located with shard $3 (whose relation is $4), placed here.
std::string colocated_shards_sql() {
    return "WITH me AS (SELECT s.shardminvalue, p.colocationid FROM pg_catalog.pg_dist_shard s "
           "  JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid "
           "  WHERE s.shardid = $3 AND " +
           format(kLocalShard, "s") +
           " = $4) "
           "SELECT t.logicalrelid::pg_catalog.oid, " +
           format(kLocalShard, "t") +
           " FROM me JOIN pg_catalog.pg_dist_partition q ON q.colocationid = me.colocationid "
           "JOIN pg_catalog.pg_dist_shard t ON t.logicalrelid = q.logicalrelid AND t.shardminvalue = me.shardminvalue "
           "WHERE " +
           format(kPlacedHere, "t") + " UNION ALL " + reference_placements_sql();
}

// A shard's relation name ends in _<shard id>; 0 when it does not.
int64 shard_id_of_name(const std::string& name) {
    std::size_t underscore = name.rfind('_');
    if (underscore == std::string::npos || underscore + 1 == name.size()) return 0;
    int64 id = 0;
    for (std::size_t i = underscore + 1; i < name.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(name[i])) || id > (INT64_MAX - 9) / 10) return 0;
        id = id * 10 + (name[i] - '0');
    }
    return id;
}

std::string qualified_name(Oid relation) {
    return pg::call([&] {
        return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)), get_rel_name(relation));
    });
}

// Builds the set from the (logical, local) pairs of the last statement.
RelationSetPtr build_set(uint64 rows) {
    auto set = std::make_shared<RelationSet>();
    set->id = next_set_id++;
    Catalog base = pg::call([] { return base_catalog(); });
    for (uint64 row = 0; row < rows; ++row) {
        bool null = false;
        Oid logical = InvalidOid, local = InvalidOid;
        pg::call([&] {
            logical = DatumGetObjectId(spi::column(row, 1));
            local = DatumGetObjectId(spi::column(row, 2, &null));
        });
        if (!null && OidIsValid(local)) set->shards.emplace_back(logical, local);
    }
    struct Own {
        Oid oid;
        const char* name;
        bool distributed;
    };
    int distributed_found = 0;
    for (Own own : {Own{base.segments, "segments", false}, Own{base.tracked_tables, "tracked_tables", false},
                    Own{base.customer_metrics, "customer_metrics", true}, Own{base.assignments, "assignments", true},
                    Own{base.assignment_log, "assignment_log", true}}) {
        for (const auto& [logical, local] : set->shards) {
            if (logical != own.oid) continue;
            set->renames.emplace_back(std::string("segmentation.") + own.name, qualified_name(local));
            if (own.distributed) ++distributed_found;
        }
    }
    set->sharded = distributed_found == 3;
    // The channel of cluster tasks and calls (cluster_work.hpp), and the
    // notifications' outbox (notify.cpp), and the overrides (distributed
    // with the customers), when 1.1.
    for (const char* table : {"cluster_calls", "notification_outbox", "overrides"}) {
        Oid own = pg::call([&] { return get_relname_relid(table, get_namespace_oid("segmentation", false)); });
        for (const auto& [logical, local] : set->shards)
            if (OidIsValid(own) && logical == own)
                set->renames.emplace_back(std::string("segmentation.") + table, qualified_name(local));
    }
    return set;
}

// Citus creates shards without their table's column defaults (it computes
// them on the coordinator), nor its identity: the extension's statements on
// a shard rely on them (log ids, logged_at, ...). Each shard of the
// extension's tables gets its table's defaults, the identity as a default
// on the node's sequence, when first used on this node (a shard moved here
// is new: it gets them at its first use).
void complete_shard_defaults(const RelationSet& set) {
    Catalog base = pg::call([] { return base_catalog(); });
    Oid overrides = pg::call([] { return overrides_relation(); });
    for (Oid logical : {base.customer_metrics, base.assignments, base.assignment_log, overrides}) {
        if (!OidIsValid(logical)) continue;
        Oid shard = InvalidOid;
        for (const auto& [l, local] : set.shards)
            if (l == logical) shard = local;
        if (!OidIsValid(shard)) continue;
        Datum args[2] = {ObjectIdGetDatum(logical), ObjectIdGetDatum(shard)};
        Oid types[2] = {OIDOID, OIDOID};
        uint64 rows = spi::run_text(
            "SELECT pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', $2::pg_catalog.regclass, "
            "a.attname, CASE WHEN a.attidentity <> '' THEN pg_catalog.format('pg_catalog.nextval(%L::pg_catalog."
            "regclass)', pg_catalog.pg_get_serial_sequence($1::pg_catalog.regclass::pg_catalog.text, a.attname)) "
            "ELSE pg_catalog.pg_get_expr(d.adbin, d.adrelid) END) "
            "FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = "
            "a.attnum "
            "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND (d.oid IS NOT NULL OR a.attidentity <> "
            "'') "
            "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute sa JOIN pg_catalog.pg_attrdef sd "
            "  ON sd.adrelid = sa.attrelid AND sd.adnum = sa.attnum WHERE sa.attrelid = $2 AND sa.attname = a.attname)",
            2, types, args, nullptr, true);
        std::vector<std::string> alters;
        pg::call([&] {
            for (uint64 row = 0; row < rows; ++row) alters.emplace_back(spi::text_column(row, 1));
        });
        for (const std::string& alter : alters) spi::run_once(alter);
    }
}

}  // namespace

const Catalog& localized_catalog(const RelationSet& set) {
    const Catalog& base = base_catalog();
    if (set.catalog_generation == catalog_generation()) return set.catalog;
    Catalog c = base;
    for (Oid* oid : {&c.segments, &c.tracked_tables, &c.customer_metrics, &c.assignments, &c.assignment_log})
        for (const auto& [logical, local] : set.shards)
            if (logical == *oid) *oid = local;
    set.catalog = c;
    set.catalog_generation = catalog_generation();
    return set.catalog;
}

bool citus_present() { return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)); }

RelationSetPtr node_relations() {
    if (node_set) return *node_set;
    if (!pg::call([] { return citus_present(); })) {
        node_set = RelationSetPtr();
        return nullptr;
    }
    Catalog base = pg::call([] { return base_catalog(); });
    Datum args[2] = {ObjectIdGetDatum(base.segments), ObjectIdGetDatum(base.tracked_tables)};
    Oid types[2] = {OIDOID, OIDOID};
    uint64 rows = spi::run_text(reference_placements_sql(), 2, types, args, nullptr, true);
    // Only a found set is kept: Citus may be making the tables Citus tables
    // right now (in this transaction), and a table becomes one for good.
    if (rows == 0) return nullptr;
    RelationSetPtr set = build_set(rows);
    node_set = set;
    return set;
}

bool extension_tables_distributed() { return node_relations() != nullptr; }

RelationSetPtr shard_relations(Oid relation) {
    auto found = shard_sets.find(relation);
    if (found != shard_sets.end()) return found->second;
    RelationSetPtr set;
    std::string name = pg::call([&] {
        const char* n = get_rel_name(relation);
        return n == nullptr ? "" : n;
    });
    int64 shard = shard_id_of_name(name);
    if (shard != 0 && pg::call([] { return citus_present(); })) {
        Catalog base = pg::call([] { return base_catalog(); });
        Datum args[4] = {ObjectIdGetDatum(base.segments), ObjectIdGetDatum(base.tracked_tables), Int64GetDatum(shard),
                         ObjectIdGetDatum(relation)};
        Oid types[4] = {OIDOID, OIDOID, INT8OID, OIDOID};
        uint64 rows = spi::run_text(colocated_shards_sql(), 4, types, args, nullptr, true);
        RelationSetPtr candidate = build_set(rows);
        bool is_shard = false;
        for (const auto& [logical, local] : candidate->shards) is_shard = is_shard || local == relation;
        if (is_shard && candidate->sharded) {
            set = candidate;
            complete_shard_defaults(*set);
        }
        // Not (yet) co-located with the extension's tables: asked again next time.
        if (!set) return set;
    }
    shard_sets[relation] = set;
    return set;
}

std::vector<RelationSetPtr> local_shard_groups() {
    std::vector<RelationSetPtr> groups;
    RelationSetPtr node = node_relations();
    if (!node) return groups;
    Oid metrics = pg::call([] { return base_catalog().customer_metrics; });
    Datum args[1] = {ObjectIdGetDatum(metrics)};
    Oid types[1] = {OIDOID};
    uint64 rows = spi::run_text("SELECT " + format(kLocalShard, "s") +
                                    " FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid::pg_catalog.oid = $1 AND " +
                                    format(kPlacedHere, "s") + " ORDER BY s.shardminvalue::pg_catalog.int8",
                                1, types, args, nullptr, true);
    std::vector<Oid> shards;
    pg::call([&] {
        for (uint64 row = 0; row < rows; ++row) {
            bool null;
            Datum shard = spi::column(row, 1, &null);
            if (!null) shards.push_back(DatumGetObjectId(shard));
        }
    });
    for (Oid shard : shards)
        if (RelationSetPtr set = shard_relations(shard)) groups.push_back(set);
    return groups;
}

RelationScope::RelationScope(RelationSetPtr set) : saved_(active), active_(set != nullptr) {
    if (active_) active = std::move(set);
}

RelationScope::~RelationScope() {
    if (active_) active = std::move(saved_);
}

const RelationSet* active_relations() { return active.get(); }

RelationSetPtr active_relation_set() { return active; }

Oid local_relation(Oid relation) {
    if (active)
        for (const auto& [logical, local] : active->shards)
            if (logical == relation) return local;
    return relation;
}

std::string localized_sql(const std::string& sql) {
    if (!active || active->renames.empty()) return sql;
    std::string out = sql;
    for (const auto& [from, to] : active->renames) {
        for (std::size_t at = out.find(from); at != std::string::npos; at = out.find(from, at)) {
            std::size_t end = at + from.size();
            char next = end < out.size() ? out[end] : ' ';
            char before = at > 0 ? out[at - 1] : ' ';
            // Whole names only: not segmentation.assignments_idx, not x.segmentation.segments.
            if (std::isalnum(static_cast<unsigned char>(next)) || next == '_' || next == '"' || before == '.' ||
                before == '_' || std::isalnum(static_cast<unsigned char>(before))) {
                at = end;
                continue;
            }
            out.replace(at, from.size(), to);
            at += to.size();
        }
    }
    return out;
}

void register_placement_callbacks() {
    // (Relcache invalidations reach forget_placements through catalog.cpp's
    // callback: PostgreSQL has only ten slots, which Citus uses too.)
    RegisterXactCallback(forget_at_abort, nullptr);
}

}  // namespace segmentation::glue
