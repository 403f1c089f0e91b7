// The C++/PostgreSQL boundary. Read CONTRIBUTING.md ("The boundary") first.
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors; C++
// reports them with exceptions, which PostgreSQL's C frames cannot carry. So:
//
//  * Every SQL-callable function is declared with SEGMENTATION_FUNCTION. Its
//    body runs inside guard(), which catches every C++ exception and reports
//    it to PostgreSQL only after all C++ frames of the body are gone.
//  * C++ code calls PostgreSQL only inside pg::call(). A PostgreSQL error
//    raised there is caught on the spot and travels on as a C++ exception
//    (PgError), so destructors run; guard() re-throws it to PostgreSQL.
//    A pg::call lambda must not have a live local with a non-trivial
//    destructor while it calls PostgreSQL (nothing for longjmp to skip).
//  * C++ code never calls CHECK_FOR_INTERRUPTS(). Long loops call
//    poll_interrupts(), which throws Interrupted when a cancel or a
//    termination is pending; guard() then lets PostgreSQL act on it.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "glue/boundary/postgres.hpp"

namespace segmentation::glue {

// A PostgreSQL error, copied out of the error stack by pg::call.
class PgError : public std::exception {
public:
    explicit PgError(ErrorData* data) noexcept : data_(data) {}
    ErrorData* data() const noexcept { return data_; }
    const char* what() const noexcept override;

private:
    ErrorData* data_;  // palloc'd in the caller's memory context
};

// An error of ours, reported with its SQLSTATE (see README, "Errors").
class Error : public std::exception {
public:
    Error(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : sqlstate_(sqlstate), message_(std::move(message)), detail_(std::move(detail)), hint_(std::move(hint)) {}
    int sqlstate() const noexcept { return sqlstate_; }
    const char* what() const noexcept override { return message_.c_str(); }
    const std::string& detail() const noexcept { return detail_; }
    const std::string& hint() const noexcept { return hint_; }

private:
    int sqlstate_;
    std::string message_;
    std::string detail_;
    std::string hint_;
};

// A cancel or termination is pending; unwinding so PostgreSQL can act on it.
struct Interrupted {};

// Throws Interrupted when PostgreSQL would turn a pending interrupt into an
// error (query cancel, statement timeout, termination). Cheap: reads flags.
inline void poll_interrupts() {
    if (unlikely(InterruptPending) && InterruptHoldoffCount == 0 && CritSectionCount == 0 &&
        (ProcDiePending || (QueryCancelPending && QueryCancelHoldoffCount == 0)))
        throw Interrupted{};
}

// Runs a SQL-callable function's body; see the file comment.
SEGMENTATION_BOUNDARY Datum guard(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo));

namespace pg {

namespace detail {
// Runs fn(context) under PG_TRY. Returns nullptr, or the PostgreSQL error it
// raised, copied into the caller's memory context and cleared.
SEGMENTATION_BOUNDARY ErrorData* run_catching(void (*fn)(void*), void* context);

template <typename Thunk>
SEGMENTATION_BOUNDARY void invoke(void* thunk) {
    (*static_cast<Thunk*>(thunk))();
}
}  // namespace detail

// Runs `f`, which calls PostgreSQL, turning a PostgreSQL error into PgError.
// Results must be trivially destructible (Datums, pointers, numbers).
template <typename F>
auto call(F&& f) -> decltype(f()) {
    using Result = decltype(f());
    static_assert(std::is_void_v<Result> || std::is_trivially_destructible_v<Result>,
                  "pg::call results must not need destructors");
    // The thunk runs between PG_TRY and any longjmp: it owns nothing that
    // needs destroying, and it keeps C++ exceptions from crossing PG_TRY.
    std::exception_ptr cpp_exception;
    if constexpr (std::is_void_v<Result>) {
        auto thunk = [&] {
            try {
                f();
            } catch (...) {
                cpp_exception = std::current_exception();
            }
        };
        if (ErrorData* error = detail::run_catching(detail::invoke<decltype(thunk)>, &thunk)) throw PgError(error);
        if (cpp_exception) std::rethrow_exception(cpp_exception);
    } else {
        Result result{};
        auto thunk = [&] {
            try {
                result = f();
            } catch (...) {
                cpp_exception = std::current_exception();
            }
        };
        if (ErrorData* error = detail::run_catching(detail::invoke<decltype(thunk)>, &thunk)) throw PgError(error);
        if (cpp_exception) std::rethrow_exception(cpp_exception);
        return result;
    }
}

}  // namespace pg
}  // namespace segmentation::glue

// Declares a SQL-callable function `name` whose body follows as a block:
//   SEGMENTATION_FUNCTION(segmentation_example) { ...; return (Datum) 0; }
#define SEGMENTATION_FUNCTION(name)                                                           \
    static Datum name##_body(FunctionCallInfo fcinfo);                                        \
    extern "C" {                                                                              \
    PG_FUNCTION_INFO_V1(name);                                                                \
    Datum name(PG_FUNCTION_ARGS) { return ::segmentation::glue::guard(fcinfo, name##_body); } \
    }                                                                                         \
    static Datum name##_body(FunctionCallInfo fcinfo)
