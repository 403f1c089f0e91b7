// Every customer with its automatic segments, in customer key order,
// streamed in batches for the bulk refreshes: customer_metrics read through
// its primary key, merged with an index-only scan of the primary key of
// assignments (which includes is_automatic). Nothing is locked and nothing
// is held beyond a batch; writers lock and re-read the customers they change.
#pragma once

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "glue/membership/evaluation.hpp"

namespace segmentation::glue {

// A state's context has the customer's manual segments, not its overrides:
// callers re-read customers that have some (OverriddenCustomers).
class CustomerScan {
public:
    // Opens both scans with a snapshot taken now, at the first customer
    // (open) or at the first after `key` (open_after; a key of the storage
    // type). PostgreSQL resources are released by close(), or by the
    // transaction's abort after an error.
    void open() { open_at(true, (Datum)0); }
    void open_after(Datum key) { open_at(false, key); }
    // Appends up to `limit` customers to `batch`; keys and loyalty levels are
    // copied into the current memory context. Returns how many it appended
    // (zero at the end).
    std::size_t next(std::vector<CustomerState>& batch, std::size_t limit);
    void close();
    // Leaves the customers' attributes undecoded (Customer::attributes null),
    // for segments that test none (SegmentSet::uses_attributes): decoding
    // them is a jsonb to text to parse round trip per customer.
    void skip_attributes() noexcept { with_attributes_ = false; }

    struct Handles;  // PostgreSQL's scan state, plain data (customer_scan.cpp)

private:
    void open_at(bool from_start, Datum after);
    Handles* handles_ = nullptr;  // palloc'd
    bool with_attributes_ = true;
};

// One customer's state (the recalculate button, assign_automatic_segments),
// without SPI: its metrics row by the primary key, then its assignments by
// theirs, with the transaction snapshot (taken now). When `remembered` is
// a definitions version and the row remembers the customer's automatic
// segments for it (customer_metrics.automatic_segments, the order path's),
// those are used and assignments is not read: `used_remembered` says so,
// and the state's manual segments are then not read either (pass a version
// only when no criteria refer to manual segments, as the order path does).
// The state's overrides are not read. False when the customer is unknown.
bool read_one_customer(Datum key, std::optional<int64> remembered, CustomerState& state, bool& used_remembered);

// The customers that have an override (segmentation.overrides), read once
// for a bulk pass; few, as overrides are made by hand.
class OverriddenCustomers {
public:
    // Reads them when `any` (SegmentSet::has_overrides()). Needs SPI.
    void load(bool any);
    bool contains(Datum key) const;

private:
    std::unordered_set<std::string> keys_;  // key bytes
};

}  // namespace segmentation::glue
