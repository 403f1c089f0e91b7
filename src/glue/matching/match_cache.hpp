// What the matching functions keep between calls at one call site (in
// fn_extra, freed with the query): compiled criteria, and the customer of the
// previous call. A join of customers with segments calls a matching function
// once per pair, so both are asked for again and again; finding them must
// cost a few comparisons, not a parse or a decode.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/matcher.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

// A row version: its ctid and xmin. Within one query a version is one
// content (a snapshot sees at most one version at a ctid, and versions
// differ in ctid or xmin), so it identifies what was read from the row.
struct RowVersion {
    BlockNumber block = InvalidBlockNumber;
    OffsetNumber offset = InvalidOffsetNumber;
    TransactionId xmin = InvalidTransactionId;

    static RowVersion of(ItemPointer tid, TransactionId xmin) {
        return {ItemPointerGetBlockNumberNoCheck(tid), ItemPointerGetOffsetNumberNoCheck(tid), xmin};
    }
    bool operator==(const RowVersion& other) const {
        return block == other.block && offset == other.offset && xmin == other.xmin;
    }
    struct Hash {
        std::size_t operator()(const RowVersion& v) const noexcept {
            uint64_t place = (static_cast<uint64_t>(v.block) << 16) | v.offset;
            return std::hash<uint64_t>()(place * 0x9E3779B97F4A7C15ULL ^ v.xmin);
        }
    };
};

class MatchCache {
public:
    // The compiled criteria of jsonb argument `argno`, found by its bytes.
    // A join with segments alternates between criteria that stay at the same
    // addresses: the recently used ones are found by address first, then
    // confirmed by their bytes.
    const Matcher& criteria(FunctionCallInfo fcinfo, int argno);

    // The same for criteria read from a row whose version is known: found
    // by the version, without looking at the bytes.
    const Matcher& criteria_of_row(FunctionCallInfo fcinfo, int argno, RowVersion version) {
        std::size_t next = (last_version_hit_ + 1) % kRecent;
        if (versions_[next].version == version && versions_[next].matcher != nullptr) {
            last_version_hit_ = next;
            return *versions_[next].matcher;
        }
        return criteria_of_row_slowly(fcinfo, argno, version);
    }

    // The customer given as metric columns from argument `first` on
    // (lifetime_value, order_count, last_order_at, customer_since,
    // loyalty_level), and its attributes (jsonb) at argument `attributes`
    // (-1: none, a call of 1.0's signature), as facts at `as_of`. Decoded
    // again only when the columns differ from the previous call's.
    const detail::Facts& customer(FunctionCallInfo fcinfo, int first, int attributes, TimestampTz as_of);

    // The same, for columns read from a row whose version is known.
    const detail::Facts& customer_of_row(FunctionCallInfo fcinfo, int first, int attributes, RowVersion version,
                                         TimestampTz as_of) {
        if (!(previous_.by_version && previous_.version == version)) {
            remember_customer(fcinfo, first, attributes);
            previous_.by_version = true;
            previous_.version = version;
        }
        return facts_at(as_of);
    }

    // A customer_metrics row argument (a whole row) as a Customer (its
    // attributes valid until the next call).
    Customer customer_row(FunctionCallInfo fcinfo, int argno);

private:
    static constexpr std::size_t kRecent = 32;
    // What one call site keeps compiled before starting over: enough for
    // every segment of a join (a limit crossed by a join's segments would
    // recompile each of them for every customer), bounded for criteria that
    // differ in every row.
    static constexpr std::size_t kMaxCompiled = 10000;
    static constexpr std::size_t kMaxCompiledBytes = std::size_t{64} << 20;

    const Matcher& compile(const char* bytes, std::size_t length, FunctionCallInfo fcinfo, int argno);
    const Matcher& criteria_of_row_slowly(FunctionCallInfo fcinfo, int argno, RowVersion version);
    bool same_customer(FunctionCallInfo fcinfo, int first, int attributes) const;
    void remember_customer(FunctionCallInfo fcinfo, int first, int attributes);
    const detail::Facts& facts_at(TimestampTz as_of) {
        if (!previous_.facts_valid || previous_.facts_as_of != as_of) {
            previous_.facts = derive_facts(previous_.customer, as_of);
            previous_.facts_as_of = as_of;
            previous_.facts_valid = true;
        }
        return previous_.facts;
    }
    void forget_compiled();

    // Every criteria compiled here, by its bytes, and their total size.
    std::unordered_map<std::string, std::unique_ptr<Matcher>> compiled_;
    std::size_t compiled_bytes_ = 0;
    // The compiled criteria of every row version seen (beyond the recent ones).
    std::unordered_map<RowVersion, const Matcher*, RowVersion::Hash> by_version_;

    struct RecentBytes {
        const char* address = nullptr;
        const std::string* bytes = nullptr;  // a key of compiled_
        const Matcher* matcher = nullptr;
    };
    RecentBytes recent_[kRecent];
    std::size_t next_recent_ = 0;  // replaced round-robin
    std::size_t last_hit_ = 0;     // a join asks in the same order for every customer

    struct RecentVersion {
        RowVersion version;
        const Matcher* matcher = nullptr;
    };
    RecentVersion versions_[kRecent];
    std::size_t next_version_ = 0;
    std::size_t last_version_hit_ = 0;

    // The customer of the previous call, recognised by its row version or
    // by the bytes of its columns.
    struct PreviousCustomer {
        bool by_version = false;
        RowVersion version;
        bool by_value = false;
        bool nulls[kMetricColumnCount] = {};
        Datum order_count = 0, last_order_at = 0, customer_since = 0;
        char lifetime_value[32];
        std::size_t lifetime_value_length = 0;
        std::string loyalty_level;  // customer.loyalty_level points here
        bool attributes_null = true;
        std::string attributes_bytes;  // the jsonb's bytes, to recognise the next call's
        AttributeValues attributes;    // customer.attributes points here
        Customer customer;
        bool facts_valid = false;
        TimestampTz facts_as_of = 0;
        detail::Facts facts{};  // points into customer
    } previous_;

    // Layout of the customer_metrics row type as last seen.
    Oid row_type_ = InvalidOid;
    AttrNumber columns_[kMetricColumnCount + 1] = {};   // customer_id, then the metric columns
    AttrNumber attributes_column_ = InvalidAttrNumber;  // none in a database at 1.0
    AttributeValues row_attributes_;                    // of customer_row's last customer
};

// How the planner rewrite (match_planning.cpp) marks the segment_match_rows
// calls it makes, whose row versions are those of the rows the columns were
// read from. SQL a user writes never gives an extension's function this form
// (only pg_catalog's SQL-syntax functions, such as EXTRACT, have it), so a
// call written by hand cannot make the cache trust versions it made up.
constexpr CoercionForm kPlannerMadeCall = COERCE_SQL_SYNTAX;
inline bool planner_made_call(FunctionCallInfo fcinfo) {
    Node* expression = fcinfo->flinfo->fn_expr;
    return expression != nullptr && IsA(expression, FuncExpr) &&
           reinterpret_cast<FuncExpr*>(expression)->funcformat == kPlannerMadeCall;
}

// The cache of the calling function's call site, made on first use.
MatchCache& new_match_cache(FunctionCallInfo fcinfo);
inline MatchCache& match_cache(FunctionCallInfo fcinfo) {
    if (likely(fcinfo->flinfo->fn_extra != nullptr)) return *static_cast<MatchCache*>(fcinfo->flinfo->fn_extra);
    return new_match_cache(fcinfo);
}

// The compiled criteria of jsonb argument `argno` (NULL is an error).
const Matcher& criteria_argument(FunctionCallInfo fcinfo, int argno);

}  // namespace segmentation::glue
