// Who is acting, for the log: the segmentation.actor setting when the
// application sets it (SET LOCAL segmentation.actor = 'alice@example.com', or
// set_config('segmentation.actor', $1, true)), otherwise the role the session
// acts as (outside any SECURITY DEFINER function).
#pragma once

#include "glue/boundary/postgres.hpp"

namespace segmentation::glue {

// A text datum.
Datum actor();

}  // namespace segmentation::glue
