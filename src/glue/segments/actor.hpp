// Who is acting, for the assignment log: the segmentation.actor setting
// when the application sets it, otherwise the session's role.
#pragma once

#include "glue/boundary/guard.hpp"

extern char* segmentation_actor_setting;  // the segmentation.actor GUC (module.cpp defines it)

namespace segmentation::glue {

// The actor as a text Datum: segmentation.actor when set (SET LOCAL
// segmentation.actor = 'alice@example.com', or set_config() with a bind
// parameter), otherwise the role the session acts as outside any SECURITY
// DEFINER function (so a trigger fired by a function of the extension still
// names the caller, not the extension's owner).
Datum actor();

}  // namespace segmentation::glue
