// What SQL functions return, built one way: int64 arrays, composite (OUT
// parameter) records, and sets materialized from SPI rows.
#pragma once

#include <initializer_list>
#include <vector>

#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

// A bigint[] of `values`, palloc'd in the current memory context.
Datum int64_array(const std::vector<int64>& values);
// The same from `count` int64 Datums, or from `values`, for code already
// inside pg::call.
SEGMENTATION_PG_CONTEXT Datum int64_array_of(Datum* items, int count);
SEGMENTATION_PG_CONTEXT Datum int64_array_of(const std::vector<int64>& values);
// The elements of a bigint[] without NULLs, into `values`; PG-style.
SEGMENTATION_PG_CONTEXT void int64s_of_array(ArrayType* array, std::vector<int64>& values);

// The record of a function with OUT parameters, none of them null. `function`
// names it in the error raised when its SQL declaration returns no record.
// The record's descriptor is kept per function (its OUT parameters fix it),
// while the function's pg_proc row stays the same.
Datum composite_result(FunctionCallInfo fcinfo, std::initializer_list<Datum> values, const char* function);

// Starts a set-returning function's result (materialized, one tuplestore).
void start_set_result(FunctionCallInfo fcinfo);

// Adds the first `rows` rows of SPI_tuptable to the set result, as many
// leading columns as the result has.
void add_spi_rows_to_set_result(FunctionCallInfo fcinfo, uint64 rows);

}  // namespace segmentation::glue
