// One customer named by an SQL argument, as stored in customer_metrics.
#pragma once

#include <string>

#include "core/customer.hpp"
#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

// The customer key argument `argno`, of the key type.
Datum key_argument(FunctionCallInfo fcinfo, int argno);

// The key as text, for messages.
std::string key_text(Datum key);

// Loads one customer's metrics, or nothing when the key is unknown. Needs SPI.
// Its loyalty level and attributes stay valid until the next load.
bool load_customer(Datum key, Customer& customer);

// 42704: `doing` failed because the customer does not exist.
[[noreturn]] void unknown_customer(Datum key, const std::string& doing);

}  // namespace segmentation::glue
