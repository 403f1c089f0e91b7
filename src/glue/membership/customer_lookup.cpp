#include "glue/membership/customer_lookup.hpp"

#include "glue/boundary/keys.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/spi.hpp"

namespace segmentation::glue {
namespace {

const spi::Statement kLoadCustomer = {"SELECT " SEGMENTATION_METRIC_COLUMNS
                                      ", {attributes} FROM segmentation.customer_metrics WHERE customer_id = $1",
                                      1,
                                      {spi::kKeyType}};

}  // namespace

Datum key_argument(FunctionCallInfo fcinfo, int argno) {
    return pg::call([&] { return customer_key_argument(fcinfo, argno); });
}

std::string key_text(Datum key) {
    return pg::call([&] { return key_to_text(key); });
}

// Loads one customer's metrics, or nothing when the key is unknown. Needs SPI.
bool load_customer(Datum key, Customer& customer) {
    static AttributeValues attributes;  // the last customer's: see the header
    if (spi::run(kLoadCustomer, {key}, nullptr, true) == 0) return false;
    const char* text = pg::call([&] {
        customer = customer_from_values(metric_values_from_spi(0, 1), key);
        bool null;
        Datum value = spi::column(0, kMetricColumnCount + 1, &null);
        return attributes_text(value, null);
    });
    read_attribute_values(text, attributes);
    customer.attributes = &attributes;
    return true;
}

[[noreturn]] void unknown_customer(Datum key, const std::string& doing) {
    throw Error(
        ERRCODE_UNDEFINED_OBJECT, doing + ": customer \"" + key_text(key) + "\" does not exist", "",
        "Customers come from the tables given to segmentation.track_customers() and segmentation.track_orders().");
}

}  // namespace segmentation::glue
