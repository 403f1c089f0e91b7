// Segments as SQL functions: create_segment(). (Their triggers, which keep
// membership in step with definitions, are in segment_triggers.cpp.)
#include <string>

#include "core/criteria.hpp"
#include "glue/boundary/arguments.hpp"
#include "glue/boundary/spi.hpp"

using namespace segmentation;
using namespace segmentation::glue;

namespace {

const spi::Statement kSegmentNamed = {"SELECT id FROM segmentation.segments WHERE name = $1", 1, {TEXTOID}};

const spi::Statement kInsertSegment = {
    "INSERT INTO segmentation.segments (name, description, criteria, is_automatic) "
    "VALUES ($1, $2, $3, $4) RETURNING id",
    4,
    {TEXTOID, TEXTOID, JSONBOID, BOOLOID}};

}  // namespace

// segmentation.create_segment(name, criteria, is_automatic, description) -> bigint
SEGMENTATION_FUNCTION(segmentation_create_segment) {
    require_argument(fcinfo, 0, "segment name");
    require_argument(fcinfo, 1, "criteria");
    require_argument(fcinfo, 2, "is_automatic");
    std::string name = pg::call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    if (name.find_first_not_of(" \t\r\n\f\v") == std::string::npos)  // as the table's CHECK
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "segment name must not be empty");
    parse_criteria(jsonb_text(fcinfo, 1));  // a clear error before anything is written
    spi::connect();
    Datum name_datum = PG_GETARG_DATUM(0);
    if (spi::run(kSegmentNamed, {name_datum}) > 0)
        throw Error(ERRCODE_UNIQUE_VIOLATION, "segment \"" + name + "\" already exists", "",
                    "Segment names are unique; choose another name or edit the existing segment.");
    char nulls[4] = {' ', static_cast<char>(PG_ARGISNULL(3) ? 'n' : ' '), ' ', ' '};
    spi::run(kInsertSegment,
             {name_datum, PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)},
             nulls);
    int64 id = pg::call([] { return spi::int64_column(0, 1); });
    spi::finish();
    PG_RETURN_INT64(id);
}
