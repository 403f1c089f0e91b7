// The SQL that keeps customer_metrics in step with the tracked tables
// (generated from the configuration), and running it. Needs SPI.
#pragma once

#include <string>
#include <vector>

#include "glue/membership/evaluation.hpp"
#include "glue/tracking/configuration.hpp"

namespace segmentation::glue {

// The customer key type's SQL name.
std::string key_type_name();

TimestampTz transaction_start();

// The first column of the SPI results' `rows` rows: customer keys.
std::vector<Datum> keys_from_results(uint64 rows);

// Customers with order metrics, which TRUNCATE of the orders table clears.
extern const char* const kHasOrders;

// Statements returning the keys of the customers they changed or found.
std::string orders_cleared_sql(const Tracking& t);                               // every order metric back to zero
std::string orders_backfill_sql(const Tracking& t);                              // order metrics from scratch
std::string customers_upsert_sql(const Tracking& t, const std::string& source);  // customers of `source` in
std::string customers_gone_sql(const TrackedTable& customers, const std::string& source);
std::string customers_missing_sql(const TrackedTable& customers);

// A query of the metrics every customer should have, computed from scratch
// from the tracked tables, with the columns of customer_metrics (up to
// loyalty_level, then attributes). Used by verify().
std::string expected_metrics_sql(const Tracking& t);

// The customers a trigger's statement touched: keys in its transition tables.
std::vector<Datum> transition_keys(const std::string& key_column, bool old_rows, bool new_rows);

// Runs `sql`, which returns customer keys, and evaluates those customers when live.
void update_and_evaluate(const std::string& sql, bool live, Cause cause);

// Runs `sql`, which returns customer keys, and forgets those customers.
void forget_matching(const std::string& sql, Cause cause);
void forget_everyone(Cause cause);

// Removes customers and every assignment they had (logged with `cause`).
void forget_customers(const std::vector<Datum>& keys, Cause cause);

// Moves manual assignments to a customer's new key after an UPDATE of keys.
void carry_manual_assignments(const TrackedTable& customers);

}  // namespace segmentation::glue
