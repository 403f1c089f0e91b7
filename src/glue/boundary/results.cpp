#include "glue/boundary/results.hpp"

#include "glue/boundary/spi.hpp"

namespace segmentation::glue {

Datum int64_array(const std::vector<int64>& values) {
    return pg::call([&] { return int64_array_of(values); });
}

Datum int64_array_of(const std::vector<int64>& values) {
    Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * (values.size() + 1)));
    for (std::size_t i = 0; i < values.size(); ++i) items[i] = Int64GetDatum(values[i]);
    return int64_array_of(items, static_cast<int>(values.size()));
}

void int64s_of_array(ArrayType* array, std::vector<int64>& values) {
    int count = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
    const int64* items = reinterpret_cast<const int64*>(ARR_DATA_PTR(array));
    values.assign(items, items + count);
}

Datum int64_array_of(Datum* items, int count) {
    return PointerGetDatum(construct_array(items, count, INT8OID, 8, true, TYPALIGN_DOUBLE));
}

Datum composite_result(FunctionCallInfo fcinfo, std::initializer_list<Datum> values, const char* function) {
    return pg::call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "segmentation: %s must return a record", function);
        bool* nulls = static_cast<bool*>(palloc0(sizeof(bool) * values.size()));
        return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), const_cast<Datum*>(values.begin()), nulls));
    });
}

void start_set_result(FunctionCallInfo fcinfo) {
    pg::call([&] { InitMaterializedSRF(fcinfo, 0); });
}

void add_spi_rows_to_set_result(FunctionCallInfo fcinfo, uint64 rows) {
    pg::call([&] {
        auto* result = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
        int columns = result->setDesc->natts;
        Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * columns));
        bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * columns));
        for (uint64 row = 0; row < rows; ++row) {
            for (int column = 0; column < columns; ++column)
                values[column] = spi::column(row, column + 1, &nulls[column]);
            tuplestore_putvalues(result->setResult, result->setDesc, values, nulls);
        }
        pfree(values);
        pfree(nulls);
    });
}

}  // namespace segmentation::glue
