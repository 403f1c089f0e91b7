#include "glue/tracking/tracked_columns.hpp"

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/spi.hpp"

extern "C" {
#include "access/genam.h"
#include "catalog/pg_inherits.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/ruleutils.h"
}

namespace segmentation::glue {

bool column_type_allowed(TrackedColumn column, Oid type) {
    switch (column) {
        case TrackedColumn::CustomerId:
        case TrackedColumn::OrderCustomer: return key_family(type) != KeyFamily::Unsupported;
        case TrackedColumn::CreatedAt:
        case TrackedColumn::OrderedAt: return type == TIMESTAMPTZOID || type == TIMESTAMPOID || type == DATEOID;
        case TrackedColumn::Amount:
            return type == NUMERICOID || type == INT2OID || type == INT4OID || type == INT8OID || type == MONEYOID;
        case TrackedColumn::Loyalty:
            return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == NAMEOID || type_is_enum(type);
        case TrackedColumn::Attribute: return attribute_kind(type).has_value();
    }
    return false;
}

std::optional<AttributeKind> attribute_kind(Oid type) {
    switch (type) {
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID:
        case NAMEOID: return AttributeKind::Text;
        case BOOLOID: return AttributeKind::Boolean;
        case INT2OID:
        case INT4OID:
        case INT8OID:
        case NUMERICOID: return AttributeKind::Number;
        case DATEOID:
        case TIMESTAMPOID:
        case TIMESTAMPTZOID: return AttributeKind::Time;
        default: break;
    }
    if (type_is_enum(type)) return AttributeKind::Text;
    return std::nullopt;
}

std::string attributes_sql(const TrackedTable& customers, const std::string& row_alias) {
    if (customers.attribute_columns.empty()) return "NULL::pg_catalog.jsonb";
    std::string pairs;
    for (std::size_t i = 0; i < customers.attribute_columns.size(); ++i) {
        const std::string& name = customers.attribute_columns[i];
        Oid type = customers.attribute_types[i];
        std::string column = row_alias + "." + pg::call([&] { return quote_identifier(name.c_str()); });
        std::string value;
        switch (pg::call([&] { return attribute_kind(type); }).value_or(AttributeKind::Text)) {
            case AttributeKind::Text: value = loyalty_as_text(column, type); break;
            case AttributeKind::Boolean: value = column + "::pg_catalog.bool"; break;
            case AttributeKind::Number: value = column + "::pg_catalog.numeric"; break;
            case AttributeKind::Time:
                value = "pg_catalog.extract('epoch'::pg_catalog.text, " + instant_sql(column, type) + ")";
                break;
        }
        if (!pairs.empty()) pairs += ", ";
        pairs +=
            pg::call([&] { return quote_literal_cstr(name.c_str()); }) + std::string("::pg_catalog.text, ") + value;
    }
    return "pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(" + pairs + "))";
}

const char* column_type_expectation(TrackedColumn column) {
    switch (column) {
        case TrackedColumn::CustomerId: return "customer ids must be text, varchar, smallint, integer, bigint or uuid";
        case TrackedColumn::OrderCustomer:
            return "customer references must be text, varchar, smallint, integer, bigint or uuid";
        case TrackedColumn::CreatedAt: return "creation times must be timestamptz, timestamp or date";
        case TrackedColumn::OrderedAt: return "order times must be timestamptz, timestamp or date";
        case TrackedColumn::Amount: return "amounts must be numeric, smallint, integer, bigint or money";
        case TrackedColumn::Loyalty: return "loyalty levels must be text, varchar, char, name or an enum";
        case TrackedColumn::Attribute:
            return "attributes must be text, varchar, char, name, an enum, boolean, smallint, integer, bigint, "
                   "numeric, date, timestamp or timestamptz";
    }
    return "";
}

KeyFamily key_family(Oid type) {
    switch (type) {
        case INT2OID:
        case INT4OID:
        case INT8OID: return KeyFamily::Integer;
        case TEXTOID:
        case VARCHAROID: return KeyFamily::Text;
        case UUIDOID: return KeyFamily::Uuid;
        default: return KeyFamily::Unsupported;
    }
}

// Keys are stored as bigint for every integer type, text for text and varchar.
Oid storage_type(KeyFamily family) {
    switch (family) {
        case KeyFamily::Integer: return INT8OID;
        case KeyFamily::Uuid: return UUIDOID;
        default: return TEXTOID;
    }
}

std::string instant_sql(const std::string& column_sql, Oid type) {
    // A zero interval as the zone: the wall time read at offset 0, without
    // looking up a zone name (or the session's abbreviations).
    if (type == TIMESTAMPOID) return "pg_catalog.timezone('0'::pg_catalog.interval, " + column_sql + ")";
    if (type == DATEOID)
        return "pg_catalog.timezone('0'::pg_catalog.interval, (" + column_sql + ")::pg_catalog.timestamp)";
    return "(" + column_sql + ")::pg_catalog.timestamptz";
}

SEGMENTATION_PG_CONTEXT TimestampTz instant_of(Datum value, Oid type) {
    if (type == TIMESTAMPOID) return DatumGetTimestamp(value);  // the same microseconds, read at UTC
    if (type == DATEOID) return DatumGetTimestamp(DirectFunctionCall1(date_timestamp, value));  // midnight, no zone
    return DatumGetTimestampTz(value);
}

std::string loyalty_as_text(const std::string& column_sql, Oid type) {
    // An enum's owner could define a cast from it to text; its output
    // function is the extension's to call.
    if (type != TEXTOID && type != VARCHAROID && type != BPCHAROID && type != NAMEOID)
        return "pg_catalog.textin(pg_catalog.enum_out(" + column_sql + "))";
    return column_sql + "::pg_catalog.text";
}

namespace {

// The relation's first inheritance parent (a partition's partitioned
// table), or InvalidOid. PG-style.
SEGMENTATION_PG_CONTEXT Oid first_inheritance_parent(Oid relation) {
    Relation inherits = table_open(InheritsRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relation));
    SysScanDesc scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    Oid parent = HeapTupleIsValid(tuple) ? reinterpret_cast<Form_pg_inherits>(GETSTRUCT(tuple))->inhparent : InvalidOid;
    systable_endscan(scan);
    table_close(inherits, AccessShareLock);
    return parent;
}

}  // namespace

std::optional<Untrackable> untrackable_relation(Oid relation) {
    struct Facts {
        char kind, persistence;
        bool partition, extensions_own;
        const char *name, *parent, *child;
    };
    Facts f = pg::call([&] {
        Facts facts{get_rel_relkind(relation), '\0', false, false, nullptr, nullptr, nullptr};
        if (facts.kind == '\0') return facts;
        facts.persistence = get_rel_persistence(relation);
        facts.partition = get_rel_relispartition(relation);
        facts.extensions_own = get_rel_namespace(relation) == catalog().schema;
        facts.name = get_rel_name(relation);
        Oid parent = first_inheritance_parent(relation);
        if (OidIsValid(parent)) facts.parent = get_rel_name(parent);
        List* children = find_inheritance_children(relation, NoLock);
        if (children != NIL) facts.child = get_rel_name(linitial_oid(children));
        return facts;
    });
    if (f.kind == '\0')
        return Untrackable{ERRCODE_UNDEFINED_TABLE, "relation with OID " + std::to_string(relation) + " does not exist",
                           ""};
    std::string name = std::string("\"") + f.name + "\"";
    if (f.kind == RELKIND_PARTITIONED_TABLE)
        return Untrackable{ERRCODE_FEATURE_NOT_SUPPORTED, name + " is a partitioned table, which cannot be tracked yet",
                           "Rows written to a partition directly would bypass tracking."};
    if (f.kind != RELKIND_RELATION)
        return Untrackable{ERRCODE_WRONG_OBJECT_TYPE, name + " is not a table", "Only plain tables can be tracked."};
    if (f.persistence == RELPERSISTENCE_TEMP)
        return Untrackable{ERRCODE_WRONG_OBJECT_TYPE, name + " is a temporary table, which cannot be tracked",
                           "It would vanish with its session and leave the tracking behind."};
    if (f.persistence == RELPERSISTENCE_UNLOGGED)
        return Untrackable{ERRCODE_WRONG_OBJECT_TYPE, name + " is an unlogged table, which cannot be tracked",
                           "Crash recovery empties an unlogged table without firing triggers, and the metrics would "
                           "keep its rows."};
    if (f.extensions_own)
        return Untrackable{ERRCODE_WRONG_OBJECT_TYPE,
                           name + " belongs to the segmentation extension and cannot be tracked", ""};
    if (f.parent != nullptr)
        return Untrackable{ERRCODE_FEATURE_NOT_SUPPORTED,
                           name + (f.partition ? " is a partition of \"" : " inherits from \"") + f.parent +
                               "\", and tables in an inheritance hierarchy cannot be tracked",
                           f.partition
                               ? "Rows routed through the partitioned table would bypass the partition's triggers."
                               : "Queries of the parent table would count rows its triggers never saw."};
    if (f.child != nullptr)
        return Untrackable{
            ERRCODE_FEATURE_NOT_SUPPORTED,
            name + " has an inheritance child (\"" + f.child +
                "\"), and tables in an inheritance hierarchy cannot be tracked",
            "Rows written to a child bypass the parent's triggers, yet queries of the parent count them."};
    return std::nullopt;
}

void require_trackable_relation(Oid relation) {
    if (auto refusal = untrackable_relation(relation))
        throw Error(refusal->sqlstate, refusal->message, refusal->detail);
}

std::optional<Untrackable> untrackable_key_column(Oid relation, const std::string& column) {
    struct Facts {
        const char *table, *collation;
    };
    Facts f = pg::call([&] {
        Facts facts{nullptr, nullptr};
        AttrNumber attnum = get_attnum(relation, column.c_str());
        if (attnum == InvalidAttrNumber) return facts;
        Oid type, collation;
        int32 typmod;
        get_atttypetypmodcoll(relation, attnum, &type, &typmod, &collation);
        if (OidIsValid(collation) && !get_collation_isdeterministic(collation)) {
            facts.table = get_rel_name(relation);
            facts.collation = generate_collation_name(collation);
        }
        return facts;
    });
    if (f.collation == nullptr) return std::nullopt;
    return Untrackable{ERRCODE_FEATURE_NOT_SUPPORTED,
                       "column \"" + column + "\" of \"" + f.table + "\" has the nondeterministic collation " +
                           f.collation + ", which customer keys cannot have",
                       "Keys it treats as equal (such as 'abc' and 'ABC') would be one customer to the table and two "
                       "to the extension."};
}

void require_trackable_key_column(Oid relation, const std::string& column) {
    if (auto refusal = untrackable_key_column(relation, column))
        throw Error(refusal->sqlstate, refusal->message, refusal->detail,
                    "Track a column with a deterministic collation, such as the database's default.");
}

namespace {

std::optional<std::string> table_problem(const TrackedTable& table, const char* kind) {
    struct Part {
        const std::string& column;
        Oid type;
        TrackedColumn role;
    };
    bool customers = std::string(kind) == "customers";
    const Part parts[3] = {
        {table.key_column, table.key_type, customers ? TrackedColumn::CustomerId : TrackedColumn::OrderCustomer},
        {table.time_column, table.time_type, customers ? TrackedColumn::CreatedAt : TrackedColumn::OrderedAt},
        {table.value_column, table.value_type, customers ? TrackedColumn::Loyalty : TrackedColumn::Amount},
    };
    char relkind = pg::call([&] { return get_rel_relkind(table.relation); });
    if (relkind == '\0') return "the tracked " + std::string(kind) + " table no longer exists";
    if (relkind != RELKIND_RELATION) return table.name + " is no longer a plain table";
    if (auto refusal = untrackable_relation(table.relation)) return refusal->message;  // unlogged, inherited
    for (const Part& part : parts) {
        if (part.column.empty()) continue;  // no loyalty column
        if (part.type == InvalidOid) return "column \"" + part.column + "\" of " + table.name + " no longer exists";
        if (!pg::call([&] { return column_type_allowed(part.role, part.type); })) {
            const char* type = pg::call([&] { return format_type_be(part.type); });
            return "column \"" + part.column + "\" of " + table.name + " has type " + type + ", but " +
                   column_type_expectation(part.role);
        }
        bool key = part.role == TrackedColumn::CustomerId || part.role == TrackedColumn::OrderCustomer;
        if (key)
            if (auto refusal = untrackable_key_column(table.relation, part.column)) return refusal->message;
    }
    for (std::size_t i = 0; i < table.attribute_columns.size(); ++i) {
        const std::string& column = table.attribute_columns[i];
        if (table.attribute_types[i] == InvalidOid)
            return "column \"" + column + "\" of " + table.name + " no longer exists";
        if (!pg::call([&] { return column_type_allowed(TrackedColumn::Attribute, table.attribute_types[i]); }))
            return "column \"" + column + "\" of " + table.name + " has type " + type_name(table.attribute_types[i]) +
                   ", but " + column_type_expectation(TrackedColumn::Attribute);
    }
    // The four triggers tracking installed, present and enabled.
    Datum args[2] = {ObjectIdGetDatum(table.relation), pg::call([&] { return CStringGetTextDatum(kind); })};
    Oid types[2] = {OIDOID, TEXTOID};
    spi::run_text(
        "SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgenabled IN ('O', 'A') "
        "AND tgname IN ('segmentation_' || $2 || '_insert', 'segmentation_' || $2 || '_update', "
        "'segmentation_' || $2 || '_delete', 'segmentation_' || $2 || '_truncate')",
        2, types, args);  // not read-only: triggers created earlier in this function must be seen
    int64 triggers = pg::call([] { return spi::int64_column(0, 1); });
    if (triggers != 4)
        return "a segmentation_" + std::string(kind) + "_* trigger on " + table.name + " was dropped or disabled";
    return std::nullopt;
}

}  // namespace

std::optional<std::string> tracking_problem(const Tracking& tracking) {
    if (tracking.customers)
        if (auto problem = table_problem(*tracking.customers, "customers")) return problem;
    if (tracking.orders)
        if (auto problem = table_problem(*tracking.orders, "orders")) return problem;
    return std::nullopt;
}

void require_sound_tracking(const Tracking& tracking) {
    if (auto problem = tracking_problem(tracking))
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "tracking is broken: " + *problem, "",
                    "Undo the change, or untrack the table and track it again.");
}

std::string type_name(Oid type) {
    return pg::call([&] { return format_type_be(type); });
}

Oid column_type(Oid relation, const std::string& column, const char* role) {
    return pg::call([&] {
        AttrNumber attnum = get_attnum(relation, column.c_str());
        if (attnum == InvalidAttrNumber || attnum < 0)
            ereport(ERROR,
                    (errcode(ERRCODE_UNDEFINED_COLUMN),
                     errmsg("column \"%s\" of relation \"%s\" does not exist", column.c_str(), get_rel_name(relation)),
                     errdetail("It was given as the %s column.", role)));
        return get_atttype(relation, attnum);
    });
}

void require_column_type(TrackedColumn role, const std::string& column, Oid type) {
    if (!pg::call([&] { return column_type_allowed(role, type); }))
        throw Error(ERRCODE_DATATYPE_MISMATCH,
                    "column \"" + column + "\" has type " + type_name(type) + ", but " + column_type_expectation(role));
}

}  // namespace segmentation::glue
