#include "glue/boundary/arguments.hpp"

namespace segmentation::glue {

void null_argument(const char* what) {
    throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be NULL");
}

std::string jsonb_text(FunctionCallInfo fcinfo, int argno) {
    const char* text = pg::call([&] {
        Jsonb* document = PG_GETARG_JSONB_P(argno);
        return JsonbToCString(nullptr, &document->root, VARSIZE(document));
    });
    return text;
}

}  // namespace segmentation::glue
