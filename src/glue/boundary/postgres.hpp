// The one place the glue includes PostgreSQL's headers. The core never does.
#pragma once

// The core first: its headers refuse to compile after PostgreSQL's, whose
// macros would change them (core/pure.hpp). Every glue file reaches
// PostgreSQL through this header, so the core is always compiled before it.
#include "core/criteria.hpp"
#include "core/customer.hpp"
#include "core/exact.hpp"
#include "core/explain.hpp"
#include "core/json.hpp"
#include "core/matcher.hpp"
#include "core/membership.hpp"
#include "core/references.hpp"

extern "C" {
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
}

// PostgreSQL's c.h defines these as macros, which collide with the C++ library.
#ifdef Min
#undef Min
#endif
#ifdef Max
#undef Max
#endif

// Boundary markers, read by test/boundary/check_boundary.py (CONTRIBUTING.md,
// "The boundary"); put them on a function's first declaration.
//
// SEGMENTATION_PG_CONTEXT: a "PG-style" function. It runs entirely in
// PostgreSQL context: it calls PostgreSQL directly (an error longjmps through
// it), so it keeps no C++ object with a destructor alive across those calls,
// and it is called only inside pg::call, from another such function, or by
// PostgreSQL itself.
// SEGMENTATION_BOUNDARY: the boundary itself (guard(), pg::call's machinery,
// callbacks that follow guard()'s pattern by hand). It may call PostgreSQL,
// may be called from anywhere, and is reviewed by hand, not by the checker.
// Only clang (the checker's parser) knows the attribute; GCC builds drop it.
#ifdef __clang__
#define SEGMENTATION_PG_CONTEXT __attribute__((annotate("segmentation:pg_context")))
#define SEGMENTATION_BOUNDARY __attribute__((annotate("segmentation:boundary")))
#else
#define SEGMENTATION_PG_CONTEXT
#define SEGMENTATION_BOUNDARY
#endif

// Functions whose signature changed after PostgreSQL 15.
#include "glue/boundary/compat.hpp"
