#include "glue/boundary/guard.hpp"

#include <new>
#include <string>

#include "core/criteria.hpp"

namespace segmentation::glue {

const char* PgError::what() const noexcept {
    return data_ != nullptr && data_->message != nullptr ? data_->message : "PostgreSQL error";
}

namespace pg::detail {

ErrorData* run_catching(void (*fn)(void*), void* context) {
    MemoryContext caller_context = CurrentMemoryContext;
    volatile bool failed = false;
    // PostgreSQL's PG_TRY blocks keep their own layout.
    // clang-format off
    PG_TRY();
    {
        fn(context);
    }
    PG_CATCH();
    {
        failed = true;
    }
    PG_END_TRY();
    // clang-format on
    if (!failed) return nullptr;
    MemoryContextSwitchTo(caller_context);
    ErrorData* error = CopyErrorData();
    FlushErrorState();
    return error;
}

}  // namespace pg::detail

namespace {

// What guard() reports once the body's frames are gone. Filled inside catch
// blocks, where PostgreSQL must not be called (it could longjmp out of the
// handler); static, so that the longjmp of the report skips no destructor.
struct PendingReport {
    int sqlstate = 0;
    std::string message, detail, hint;
};

PendingReport pending;  // backends are single-threaded

void remember(int sqlstate, const char* message, const char* detail = "", const char* hint = "") noexcept {
    pending.sqlstate = sqlstate;
    try {
        pending.message = message;
        pending.detail = detail;
        pending.hint = hint;
    } catch (...) {  // no memory for the text: report what we can
        pending.sqlstate = ERRCODE_OUT_OF_MEMORY;
        pending.message.clear();
        pending.detail.clear();
        pending.hint.clear();
    }
}

}  // namespace

Datum guard(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo)) {
    ErrorData* postgres_error = nullptr;
    bool interrupted = false;
    try {
        return body(fcinfo);
    } catch (const PgError& e) {
        postgres_error = e.data();
    } catch (const Interrupted&) {
        interrupted = true;
    } catch (const Error& e) {
        remember(e.sqlstate(), e.what(), e.detail().c_str(), e.hint().c_str());
    } catch (const CriteriaError& e) {
        remember(ERRCODE_INVALID_PARAMETER_VALUE, e.what());
    } catch (const std::bad_alloc&) {
        remember(ERRCODE_OUT_OF_MEMORY, "out of memory in segmentation");
    } catch (const std::exception& e) {
        remember(ERRCODE_INTERNAL_ERROR, e.what());
    } catch (...) {
        remember(ERRCODE_INTERNAL_ERROR, "unknown C++ exception in segmentation");
    }
    // Every C++ frame of the body has been unwound: PostgreSQL may longjmp now.
    if (postgres_error != nullptr) ReThrowError(postgres_error);
    if (interrupted) {
        CHECK_FOR_INTERRUPTS();
        // poll_interrupts() only fires when PostgreSQL will raise; stay safe.
        ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("canceling statement due to an interrupt")));
    }
    ereport(ERROR, (errcode(pending.sqlstate),
                    errmsg("%s", pending.message.empty() ? "out of memory in segmentation" : pending.message.c_str()),
                    pending.detail.empty() ? 0 : errdetail("%s", pending.detail.c_str()),
                    pending.hint.empty() ? 0 : errhint("%s", pending.hint.c_str())));
    pg_unreachable();
}

}  // namespace segmentation::glue
