// Included first by every header of the core. The core is pure C++: it must
// never see PostgreSQL's headers, which redefine names of the C library
// (snprintf, printf, gettext, Max, ...) and would silently change it. So a
// translation unit must include the core's headers before any of
// PostgreSQL's; including one after postgres.h fails here, at compile time.
// (No #pragma once: the check runs at every inclusion.)
#ifdef PG_VERSION_NUM
#error "a src/core header was included after PostgreSQL's headers: include the core's headers first"
#endif
