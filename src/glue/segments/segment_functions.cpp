// Segments as SQL functions: create_segment(), update_segment(),
// delete_segment(), segment_members(). (Their triggers, which keep
// membership in step with definitions, are in segment_triggers.cpp.)
#include <optional>
#include <string>

#include "core/criteria.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/customer_lookup.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/tracking/configuration.hpp"

extern "C" {
#include "mb/pg_wchar.h"
}

using namespace segmentation;
using namespace segmentation::glue;

namespace {

// Segment names: trimmed of these, at most this many characters, unique
// regardless of case (the segments table's constraints say the same).
constexpr const char* kNameSpaces = " \t\r\n\f\v";
constexpr int kMaxNameLength = 200;

const spi::Statement kSegmentNamedAlike = {
    "SELECT name FROM segmentation.segments "
    "WHERE pg_catalog.lower(name) = pg_catalog.lower($1) AND id IS DISTINCT FROM $2",
    2,
    {TEXTOID, INT8OID}};

const spi::Statement kInsertSegment = {
    "INSERT INTO segmentation.segments (name, description, criteria, is_automatic) "
    "VALUES ($1, $2, $3, $4) RETURNING id",
    4,
    {TEXTOID, TEXTOID, JSONBOID, BOOLOID}};

const spi::Statement kLockSegmentForUpdate = {
    "SELECT name, is_automatic FROM segmentation.segments WHERE id = $1 FOR UPDATE", 1, {INT8OID}};

// NULL leaves a column as it is; the whole new row comes back.
const spi::Statement kUpdateSegment = {
    "UPDATE segmentation.segments s SET name = coalesce($2, s.name), criteria = coalesce($3, s.criteria), "
    "description = coalesce($4, s.description) WHERE s.id = $1 RETURNING s",
    4,
    {INT8OID, TEXTOID, JSONBOID, TEXTOID}};

const spi::Statement kCountMembers = {
    "SELECT pg_catalog.count(*) FROM segmentation.assignments WHERE segment_id = $1", 1, {INT8OID}};

const spi::Statement kDeleteSegment = {"DELETE FROM segmentation.segments WHERE id = $1", 1, {INT8OID}};

const spi::Statement kSegmentExists = {"SELECT 1 FROM segmentation.segments WHERE id = $1", 1, {INT8OID}};

// Members in key order (the index on (segment_id, customer_id) walks it).
const spi::Statement kFirstMembers = {
    "SELECT a.customer_id::text, a.is_automatic, a.assigned_at, a.assigned_by FROM segmentation.assignments a "
    "WHERE a.segment_id = $1 ORDER BY a.customer_id LIMIT $2",
    2,
    {INT8OID, INT8OID}};
const spi::Statement kMembersAfter = {
    "SELECT a.customer_id::text, a.is_automatic, a.assigned_at, a.assigned_by FROM segmentation.assignments a "
    "WHERE a.segment_id = $1 AND a.customer_id > $3 ORDER BY a.customer_id LIMIT $2",
    3,
    {INT8OID, INT8OID, spi::kKeyType}};

constexpr int kMaxPage = 10000;

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

// The name argument, trimmed; 22023 when nothing is left or it is too long.
std::string segment_name_argument(FunctionCallInfo fcinfo, int argno) {
    std::string name = pg::call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(argno)); });
    std::size_t first = name.find_first_not_of(kNameSpaces);
    if (first == std::string::npos) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "segment name must not be empty");
    name = name.substr(first, name.find_last_not_of(kNameSpaces) - first + 1);
    int length = pg::call([&] { return pg_mbstrlen_with_len(name.c_str(), static_cast<int>(name.size())); });
    if (length > kMaxNameLength)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "segment name must be at most " + std::to_string(kMaxNameLength) +
                                                         " characters, not " + std::to_string(length));
    return name;
}

Datum text_datum(const std::string& text) {
    return pg::call([&] { return CStringGetTextDatum(text.c_str()); });
}

// 23505 when another segment (not `except`) has this name, in any case.
void require_unused_name(const std::string& name, std::optional<int64> except) {
    char nulls[2] = {' ', static_cast<char>(except ? ' ' : 'n')};
    if (spi::run(kSegmentNamedAlike, {text_datum(name), Int64GetDatum(except.value_or(0))}, nulls) == 0) return;
    std::string existing = pg::call([] { return spi::text_column(0, 1); });
    throw Error(ERRCODE_UNIQUE_VIOLATION, "segment " + quoted(existing) + " already exists", "",
                "Segment names are unique regardless of case; choose another name or edit the existing segment.");
}

// Criteria text of an argument, validated (22023 naming the path).
std::string criteria_argument_text(FunctionCallInfo fcinfo, int argno) {
    std::string text = jsonb_text(fcinfo, argno);
    parse_criteria(text);
    return text;
}

[[noreturn]] void manual_with_criteria(const std::string& doing) {
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, doing + ": a manual segment cannot have criteria",
                "Members of a manual segment are assigned by hand.", "Give a manual segment the criteria '{}'.");
}

// Definition changes lock the tracked tables, then the definitions (the
// one lock order; the segments trigger takes the same locks again), so
// that the name check and the write see every committed segment.
void lock_for_definition_change() {
    lock_tracked_tables(read_tracking());
    lock_definitions_exclusively();
}

// The segment, locked for update; 42704 naming it when it does not exist.
void lock_segment(int64 id, const std::string& doing, std::string& name, bool& automatic) {
    if (spi::run(kLockSegmentForUpdate, {Int64GetDatum(id)}) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": segment " + std::to_string(id) + " does not exist");
    name = pg::call([&] {
        automatic = spi::bool_column(0, 2);
        return spi::text_column(0, 1);
    });
}

}  // namespace

// segmentation.create_segment(name, criteria, is_automatic, description) -> bigint
SEGMENTATION_FUNCTION(segmentation_create_segment) {
    require_argument(fcinfo, 0, "segment name");
    require_argument(fcinfo, 1, "criteria");
    require_argument(fcinfo, 2, "is_automatic");
    std::string name = segment_name_argument(fcinfo, 0);
    std::string criteria = criteria_argument_text(fcinfo, 1);  // a clear error before anything is written
    bool automatic = PG_GETARG_BOOL(2);
    if (!automatic && criteria != "{}") manual_with_criteria("cannot create segment " + quoted(name));
    spi::connect();
    lock_for_definition_change();
    require_unused_name(name, std::nullopt);
    char nulls[4] = {' ', static_cast<char>(PG_ARGISNULL(3) ? 'n' : ' '), ' ', ' '};
    spi::run(
        kInsertSegment,
        {text_datum(name), PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)},
        nulls);
    int64 id = pg::call([] { return spi::int64_column(0, 1); });
    spi::finish();
    PG_RETURN_INT64(id);
}

// segmentation.update_segment(id, name, criteria, description) -> segments:
// NULL leaves a column unchanged. The segments trigger re-evaluates the
// segment's members when its criteria change.
SEGMENTATION_FUNCTION(segmentation_update_segment) {
    require_argument(fcinfo, 0, "segment id");
    int64 id = PG_GETARG_INT64(0);
    std::string doing = "cannot update segment " + std::to_string(id);
    std::optional<std::string> name;
    if (!PG_ARGISNULL(1)) name = segment_name_argument(fcinfo, 1);
    std::optional<std::string> criteria;
    if (!PG_ARGISNULL(2)) criteria = criteria_argument_text(fcinfo, 2);
    spi::connect();
    lock_for_definition_change();
    std::string current;
    bool automatic = false;
    lock_segment(id, doing, current, automatic);
    if (!automatic && criteria && *criteria != "{}") manual_with_criteria(doing + " (" + quoted(current) + ")");
    if (name) require_unused_name(*name, id);
    char nulls[4] = {' ', static_cast<char>(name ? ' ' : 'n'), static_cast<char>(criteria ? ' ' : 'n'),
                     static_cast<char>(PG_ARGISNULL(3) ? 'n' : ' ')};
    spi::run(kUpdateSegment,
             {Int64GetDatum(id), name ? text_datum(*name) : (Datum)0, criteria ? PG_GETARG_DATUM(2) : (Datum)0,
              PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3)},
             nulls);
    // The row, copied out of SPI's memory before finish() frees it.
    Datum row = pg::call([] { return SPI_datumTransfer(spi::column(0, 1), false, -1); });
    spi::finish();
    return row;
}

// segmentation.delete_segment(id) -> bigint: deletes the segment; the
// segments trigger removes its members, logged with the actor. Returns the
// number of members it had.
SEGMENTATION_FUNCTION(segmentation_delete_segment) {
    require_argument(fcinfo, 0, "segment id");
    int64 id = PG_GETARG_INT64(0);
    spi::connect();
    lock_for_definition_change();
    std::string name;
    bool automatic = false;
    lock_segment(id, "cannot delete segment " + std::to_string(id), name, automatic);
    spi::run(kCountMembers, {Int64GetDatum(id)});
    int64 members = pg::call([] { return spi::int64_column(0, 1); });
    spi::run(kDeleteSegment, {Int64GetDatum(id)});
    spi::finish();
    PG_RETURN_INT64(members);
}

// segmentation.segment_members(segment_id, after, limit) -> setof (customer_id text, is_automatic, assigned_at,
// assigned_by): one page of members in key order, after the key `after` (NULL: from the first).
SEGMENTATION_FUNCTION(segmentation_segment_members) {
    require_argument(fcinfo, 0, "segment id");
    require_argument(fcinfo, 2, "limit");
    int64 segment = PG_GETARG_INT64(0);
    int32 limit = PG_GETARG_INT32(2);
    if (limit < 0 || limit > kMaxPage)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "segment_members takes a limit from 0 to " +
                                                         std::to_string(kMaxPage) + ", not " + std::to_string(limit));
    bool from_start = PG_ARGISNULL(1);
    Datum after = from_start ? (Datum)0 : key_argument(fcinfo, 1);
    spi::connect();
    if (spi::run(kSegmentExists, {Int64GetDatum(segment)}, nullptr, true) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, "cannot list the members of segment " + std::to_string(segment) +
                                                  ": segment " + std::to_string(segment) + " does not exist");
    uint64 rows = from_start
                      ? spi::run(kFirstMembers, {Int64GetDatum(segment), Int64GetDatum(limit)}, nullptr, true)
                      : spi::run(kMembersAfter, {Int64GetDatum(segment), Int64GetDatum(limit), after}, nullptr, true);
    start_set_result(fcinfo);
    add_spi_rows_to_set_result(fcinfo, rows);
    spi::finish();
    return (Datum)0;
}
