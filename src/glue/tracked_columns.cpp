#include "glue/tracked_columns.hpp"

#include "glue/spi.hpp"

extern "C" {
#include "utils/fmgrprotos.h"
}

namespace segmentation::glue {

bool column_type_allowed(TrackedColumn column, Oid type) {
    switch (column) {
        case TrackedColumn::CustomerId:
        case TrackedColumn::OrderCustomer:
            return key_family(type) != KeyFamily::Unsupported;
        case TrackedColumn::CreatedAt:
        case TrackedColumn::OrderedAt:
            return type == TIMESTAMPTZOID || type == TIMESTAMPOID || type == DATEOID;
        case TrackedColumn::Amount:
            return type == NUMERICOID || type == INT2OID || type == INT4OID || type == INT8OID || type == MONEYOID;
        case TrackedColumn::Loyalty:
            return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == NAMEOID || type_is_enum(type);
    }
    return false;
}

const char* column_type_expectation(TrackedColumn column) {
    switch (column) {
        case TrackedColumn::CustomerId: return "customer ids must be text, varchar, smallint, integer, bigint or uuid";
        case TrackedColumn::OrderCustomer: return "customer references must be text, varchar, smallint, integer, bigint or uuid";
        case TrackedColumn::CreatedAt: return "creation times must be timestamptz, timestamp or date";
        case TrackedColumn::OrderedAt: return "order times must be timestamptz, timestamp or date";
        case TrackedColumn::Amount: return "amounts must be numeric, smallint, integer, bigint or money";
        case TrackedColumn::Loyalty: return "loyalty levels must be text, varchar, char, name or an enum";
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

TimestampTz instant_of(Datum value, Oid type) {
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
    for (const Part& part : parts) {
        if (part.column.empty()) continue;  // no loyalty column
        if (part.type == InvalidOid) return "column \"" + part.column + "\" of " + table.name + " no longer exists";
        if (!pg::call([&] { return column_type_allowed(part.role, part.type); })) {
            const char* type = pg::call([&] { return format_type_be(part.type); });
            return "column \"" + part.column + "\" of " + table.name + " has type " + type + ", but " +
                   column_type_expectation(part.role);
        }
    }
    // The four triggers tracking installed, present and enabled.
    Datum args[2] = {ObjectIdGetDatum(table.relation), CStringGetTextDatum(kind)};
    Oid types[2] = {OIDOID, TEXTOID};
    spi::run_text("SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgenabled IN ('O', 'A') "
                  "AND tgname IN ('segmentation_' || $2 || '_insert', 'segmentation_' || $2 || '_update', "
                  "'segmentation_' || $2 || '_delete', 'segmentation_' || $2 || '_truncate')",
                  2, types, args);  // not read-only: triggers created earlier in this function must be seen
    int64 triggers = pg::call([] {
        bool null;
        return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
    });
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

}  // namespace segmentation::glue
