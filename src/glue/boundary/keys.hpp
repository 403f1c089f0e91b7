// Customer keys: every API function takes a customer id as text, bigint,
// integer or uuid and converts it to the shop's key type (the type of the
// tracked key column). PG-style: call inside pg::call.
#pragma once

#include "glue/boundary/postgres.hpp"

namespace segmentation::glue {

// Argument `argno` of the current call as a key of the storage key type.
// Errors: NULL (22004), a value that cannot name a key of this type (22P02,
// 22003), a type that never can (42804).
SEGMENTATION_PG_CONTEXT Datum customer_key_argument(FunctionCallInfo fcinfo, int argno);

// The text form of a key, for messages.
SEGMENTATION_PG_CONTEXT char* key_to_text(Datum key);

// A one-element array of the key type, as statements taking keys expect.
SEGMENTATION_PG_CONTEXT Datum key_array(const Datum* keys, int count);

}  // namespace segmentation::glue
