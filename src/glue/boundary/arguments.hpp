// Reading SQL arguments the same way everywhere: a NULL where a value is
// needed is an error with SQLSTATE 22004 naming the argument.
#pragma once

#include <string>

#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

[[noreturn]] void null_argument(const char* what);

inline void require_argument(FunctionCallInfo fcinfo, int argno, const char* what) {
    if (unlikely(PG_ARGISNULL(argno))) null_argument(what);
}

// The instant criteria are evaluated at.
inline TimestampTz as_of_argument(FunctionCallInfo fcinfo, int argno) {
    require_argument(fcinfo, argno, "as_of");
    return PG_GETARG_TIMESTAMPTZ(argno);
}

// The trigger data of a function that must be called as a trigger; 39P01
// naming segmentation.<function>() otherwise.
TriggerData* trigger_data(FunctionCallInfo fcinfo, const char* function);

// The text of a jsonb argument (NULL must have been refused already).
std::string jsonb_text(FunctionCallInfo fcinfo, int argno);

}  // namespace segmentation::glue
