#include "glue/boundary/keys.hpp"

#include "glue/boundary/catalog.hpp"

namespace segmentation::glue {
namespace {

bool is_integer_type(Oid type) { return type == INT2OID || type == INT4OID || type == INT8OID; }

bool is_text_type(Oid type) {
    return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == NAMEOID || type == UNKNOWNOID;
}

int64 integer_value(Datum value, Oid type) {
    switch (type) {
        case INT2OID: return DatumGetInt16(value);
        case INT4OID: return DatumGetInt32(value);
        default: return DatumGetInt64(value);
    }
}

SEGMENTATION_PG_CONTEXT char* value_to_text(Datum value, Oid type) {
    Oid output;
    bool varlena;
    getTypeOutputInfo(type, &output, &varlena);
    return OidOutputFunctionCall(output, value);
}

SEGMENTATION_PG_CONTEXT Datum integer_key(int64 value, const Catalog& c) {
    if (c.key_type == INT8OID) return Int64GetDatum(value);
    if (c.key_type == INT4OID && value >= PG_INT32_MIN && value <= PG_INT32_MAX)
        return Int32GetDatum(static_cast<int32>(value));
    if (c.key_type == INT2OID && value >= PG_INT16_MIN && value <= PG_INT16_MAX)
        return Int16GetDatum(static_cast<int16>(value));
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                    errmsg("customer id %lld is out of range for customer keys of type %s",
                           static_cast<long long>(value), format_type_be(c.key_type))));
    return (Datum)0;
}

// Reads text as a key, replacing the type's own errors for bad input (22P02)
// and out-of-range values (22003) with one that says what was expected. Any
// other error (out of memory, a cancel) goes on unchanged.
SEGMENTATION_PG_CONTEXT Datum parse_key(const char* text, const Catalog& c) {
    Oid input, ioparam;
    getTypeInputInfo(c.key_type, &input, &ioparam);
    MemoryContext context = CurrentMemoryContext;
    Datum key = (Datum)0;
    // PostgreSQL's PG_TRY blocks keep their own layout.
    // clang-format off
    PG_TRY();
    {
        key = OidInputFunctionCall(input, const_cast<char*>(text), ioparam, c.key_typmod);
    }
    PG_CATCH();
    {
        int code = geterrcode();  // read in place: copying could itself run out of memory
        if (code != ERRCODE_INVALID_TEXT_REPRESENTATION && code != ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE) PG_RE_THROW();
        MemoryContextSwitchTo(context);
        FlushErrorState();
        ereport(ERROR, (errcode(code),
                        errmsg("customer id \"%s\" is not a valid %s", text, format_type_be(c.key_type)),
                        errdetail("Customer keys of this shop have type %s.", format_type_be(c.key_type))));
    }
    PG_END_TRY();
    // clang-format on
    return key;
}

}  // namespace

Datum customer_key_argument(FunctionCallInfo fcinfo, int argno) {
    if (PG_ARGISNULL(argno))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("customer id must not be NULL")));
    const Catalog& c = catalog();
    Oid type = get_fn_expr_argtype(fcinfo->flinfo, argno);
    Datum value = PG_GETARG_DATUM(argno);
    if (type == c.key_type || (type == VARCHAROID && c.key_type == TEXTOID)) return value;
    if (is_integer_type(type) && is_integer_type(c.key_type)) return integer_key(integer_value(value, type), c);
    if (is_text_type(type)) {
        char* text = type == UNKNOWNOID ? DatumGetCString(value) : value_to_text(value, type);
        if (c.key_type == TEXTOID || c.key_type == VARCHAROID) return CStringGetTextDatum(text);
        return parse_key(text, c);
    }
    if (c.key_type == TEXTOID || c.key_type == VARCHAROID) return CStringGetTextDatum(value_to_text(value, type));
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("a %s cannot name a customer: customer keys of this shop have type %s", format_type_be(type),
                           format_type_be(c.key_type))));
    return (Datum)0;
}

char* key_to_text(Datum key) { return value_to_text(key, catalog().key_type); }

Datum key_array(const Datum* keys, int count) {
    const Catalog& c = catalog();
    char align = 'i';
    int16 length;
    bool by_value;
    get_typlenbyvalalign(c.key_type, &length, &by_value, &align);
    return PointerGetDatum(construct_array(const_cast<Datum*>(keys), count, c.key_type, length, by_value, align));
}

}  // namespace segmentation::glue
