// Prepared SQL over the extension's tables, run through SPI from C++.
//
// Statement texts are fixed at compile time except for "{key}", which stands
// for the customer key type (text until a table is tracked), and
// "{attributes}" and "{attribute_columns}", customer_metrics.attributes and
// tracked_tables.attribute_columns (NULLs in a database still at 1.0, which
// has no such columns). Plans are
// prepared on first use, kept for the backend's life, and prepared again
// when the key type changes.
#pragma once

#include <array>
#include <initializer_list>
#include <optional>
#include <string>

#include "glue/boundary/guard.hpp"

namespace segmentation::glue::spi {

// Argument type placeholders, resolved against the current key type.
constexpr Oid kKeyType = 0xFFFFFFF0;
constexpr Oid kKeyArrayType = 0xFFFFFFF1;

struct Statement {
    const char* sql;
    int nargs;
    std::array<Oid, 8> args;
};

// Connects to SPI for the current SQL-callable function; the connection is
// finished on success by finish(), and by PostgreSQL's cleanup on error.
// Connections nest: a loop over batches connects once per batch so that each
// batch's results and allocations are freed by its finish().
void connect();
void finish();

// The orders trigger's connection (order_changes.cpp). That trigger is
// SECURITY INVOKER without a SET clause: PostgreSQL's save and restore of
// search_path around each call cost 5 to 12% of order-insert throughput
// (test/bench/RESULTS.md, run H), and its usual path runs no SQL. When SQL
// does run (a customer's first order, a deleted order, windows, overrides,
// a cache to fill), it runs as under SECURITY DEFINER SET search_path: the
// first spi:: call (connect() included) connects SPI as the function's
// owner with search_path = pg_catalog, pg_temp, and finish() undoes all
// three. Destroyed without finish() (an error on its way to PostgreSQL),
// it leaves the user, the setting and SPI to the transaction's abort.
class OwnerConnection {
public:
    explicit OwnerConnection(Oid function);
    ~OwnerConnection();
    OwnerConnection(const OwnerConnection&) = delete;
    OwnerConnection& operator=(const OwnerConnection&) = delete;
    void finish();

private:
    friend void open_deferred();
    Oid function_;
    MemoryContext entry_context_;
    bool open_ = false;
    Oid saved_user_ = InvalidOid;
    int saved_context_ = 0;
    int guc_level_ = -1;  // -1: search_path was already pinned
    OwnerConnection* outer_;
};

// Runs a statement; returns the number of rows processed (SPI_processed).
// Rows, if any, are in SPI_tuptable until the next statement.
uint64 run(const Statement& statement, std::initializer_list<Datum> values, const char* nulls = nullptr,
           bool read_only = false);

// How a statement built at run time is planned. Auto is PostgreSQL's
// choice; Generic plans once and keeps that plan, for a statement whose
// custom plans would never look dearer than a generic one (an array
// parameter of one element looks cheaper than the ten a generic plan
// assumes), which PostgreSQL would otherwise plan again on every call.
enum class Planning { Auto, Generic };

// Same for SQL built at run time (tracking): prepared once per distinct text.
uint64 run_text(const std::string& sql, int nargs, const Oid* argtypes, const Datum* values,
                const char* nulls = nullptr, bool read_only = false, Planning planning = Planning::Auto);

// Runs SQL once without keeping a plan (DDL, one-off maintenance).
uint64 run_once(const std::string& sql, bool read_only = false);

// Column `column` (from 1) of row `row` of SPI_tuptable, read inside
// pg::call: the one way the glue reads SPI results. Without `null`, for
// columns the statement never makes null.
SEGMENTATION_PG_CONTEXT Datum column(uint64 row, int column, bool* null = nullptr);
// Typed reads of never-null columns (a null would read as 0 or false).
SEGMENTATION_PG_CONTEXT int64 int64_column(uint64 row, int column);
SEGMENTATION_PG_CONTEXT bool bool_column(uint64 row, int column);
// A timestamptz column, std::nullopt when null.
SEGMENTATION_PG_CONTEXT std::optional<TimestampTz> timestamp_column(uint64 row, int column);
// The column as text (palloc'd by SPI_getvalue), nullptr when null.
SEGMENTATION_PG_CONTEXT char* text_column(uint64 row, int column);

}  // namespace segmentation::glue::spi
