#include "glue/boundary/arguments.hpp"

namespace segmentation::glue {

void null_argument(const char* what) {
    throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be NULL");
}

TriggerData* trigger_data(FunctionCallInfo fcinfo, const char* function) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                    std::string("segmentation.") + function + "() must be called as a trigger");
    return reinterpret_cast<TriggerData*>(fcinfo->context);
}

std::string jsonb_text(FunctionCallInfo fcinfo, int argno) {
    const char* text = pg::call([&] {
        Jsonb* document = PG_GETARG_JSONB_P(argno);
        return JsonbToCString(nullptr, &document->root, VARSIZE(document));
    });
    return text;
}

}  // namespace segmentation::glue
