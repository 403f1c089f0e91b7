#include "glue/boundary/metric_values.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/spi.hpp"

namespace segmentation::glue {

// numeric's stored layout (an on-disk format, so stable across versions):
// after the varlena header, a 16-bit word whose top two bits say long form
// (00 positive, 01 negative), short form (10) or special (11: NaN,
// infinities). Short form keeps sign, display scale and a 7-bit weight in
// that word; long form has the sign and scale there and a 16-bit weight next.
// Then come base-10000 digits, most significant first, 16 bits each.
namespace {

bool stored_inline(Datum value) noexcept {
    auto* pointer = reinterpret_cast<struct varlena*>(DatumGetPointer(value));
    return !VARATT_IS_COMPRESSED(pointer) && !VARATT_IS_EXTERNAL(pointer);
}

// The key of a numeric stored inline (no PostgreSQL call).
std::optional<exact::MoneyKey> money_key_of_inline_numeric(const struct varlena* value) noexcept {
    const char* data = VARDATA_ANY(value);
    int size = static_cast<int>(VARSIZE_ANY_EXHDR(value));
    if (size < 2) return std::nullopt;
    uint16 header;
    std::memcpy(&header, data, sizeof header);
    uint16 form = header & 0xC000;
    bool negative;
    int weight;
    int digits_offset;
    if (form == 0xC000) return std::nullopt;  // NaN or an infinity
    if (form == 0x8000) {
        negative = (header & 0x2000) != 0;
        weight = (header & 0x0040) ? static_cast<int>(header & 0x003F) - 64 : static_cast<int>(header & 0x003F);
        digits_offset = 2;
    } else {
        if (size < 4) return std::nullopt;
        negative = form == 0x4000;
        int16 long_weight;
        std::memcpy(&long_weight, data + 2, sizeof long_weight);
        weight = long_weight;
        digits_offset = 4;
    }
    int ndigits = (size - digits_offset) / 2;
    constexpr int kKept = 64;
    int16 digits[kKept];
    bool truncated = ndigits > kKept;
    if (truncated) ndigits = kKept;
    std::memcpy(digits, data + digits_offset, static_cast<size_t>(ndigits) * 2);
    if (truncated) {
        // Any value in range has its 64th digit far beyond the 20th decimal
        // place, and numeric never stores trailing zero digits, so something
        // non-zero was cut off: a non-zero last digit keeps that fact.
        digits[kKept - 1] = 1;
    }
    return exact::money_key_from_base10000(negative, weight, digits, ndigits);
}

}  // namespace

std::optional<exact::MoneyKey> money_key_of_numeric(Datum numeric) {
    return money_key_of_inline_numeric(
        pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(numeric))));
}

bool inline_customer_from_values(const MetricValues& v, Customer& c) noexcept {
    if (!v.lifetime_value_null && !stored_inline(v.lifetime_value)) return false;
    if (!v.loyalty_level_null && !stored_inline(v.loyalty_level)) return false;
    c = Customer{};
    if (!v.lifetime_value_null) {
        auto money =
            money_key_of_inline_numeric(reinterpret_cast<const struct varlena*>(DatumGetPointer(v.lifetime_value)));
        if (!money) return false;  // customer_from_values reports it
        c.lifetime_value = *money;
    }
    c.order_count = v.order_count_null ? 0 : DatumGetInt64(v.order_count);
    if (!v.last_order_at_null) c.last_order_at = DatumGetTimestampTz(v.last_order_at);
    if (!v.customer_since_null) c.customer_since = DatumGetTimestampTz(v.customer_since);
    if (!v.loyalty_level_null) {
        auto* text = reinterpret_cast<const struct varlena*>(DatumGetPointer(v.loyalty_level));
        c.loyalty_level = std::string_view(VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text));
    }
    return true;
}

Customer customer_from_values(const MetricValues& v, std::optional<Datum> key) {
    Customer c;
    if (!v.lifetime_value_null) {
        auto money = money_key_of_numeric(v.lifetime_value);
        if (!money)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("lifetime value of customer %s is outside the supported range",
                                   key ? key_to_text(*key) : "(unknown)"),
                            errdetail("Lifetime values must be finite and below 10^19 in magnitude.")));
        c.lifetime_value = *money;
    }
    c.order_count = v.order_count_null ? 0 : DatumGetInt64(v.order_count);
    if (!v.last_order_at_null) c.last_order_at = DatumGetTimestampTz(v.last_order_at);
    if (!v.customer_since_null) c.customer_since = DatumGetTimestampTz(v.customer_since);
    if (!v.loyalty_level_null) {
        struct varlena* text =
            pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(v.loyalty_level)));
        c.loyalty_level = std::string_view(VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text));
    }
    return c;
}

MetricAttributes metric_attributes(Oid customer_metrics) {
    AttrNumber at[kMetricColumnCount];
    for (int i = 0; i < kMetricColumnCount; ++i) at[i] = get_attnum(customer_metrics, kMetricColumnNames[i]);
    return {at[0], at[1], at[2], at[3], at[4], get_attnum(customer_metrics, "attributes")};
}

namespace {

// The columns of each customer_metrics relation read or written here (the
// table, or a Citus node's shards of it), looked up once rather than by name
// in every statement. A change to the table (on Citus, made through it to
// its shards) starts a new catalog generation, and the look-ups are made
// again. (No relcache callback of our own: PostgreSQL has ten slots, and
// Citus takes several.)
std::unordered_map<Oid, MetricsColumns> known_metrics_columns;
uint64 known_metrics_generation = 0;

// PG-style.
SEGMENTATION_PG_CONTEXT MetricsColumns look_up_metrics_columns(const Catalog& c) {
    MetricsColumns m;
    static_cast<MetricAttributes&>(m) = metric_attributes(c.customer_metrics);
    m.key = get_attnum(c.customer_metrics, "customer_id");
    m.first_order_at = get_attnum(c.customer_metrics, "first_order_at");
    m.reevaluate_at = get_attnum(c.customer_metrics, "reevaluate_at");
    m.automatic_segments =
        c.remembers_membership ? get_attnum(c.customer_metrics, "automatic_segments") : InvalidAttrNumber;
    m.segments_version =
        c.remembers_membership ? get_attnum(c.customer_metrics, "segments_version") : InvalidAttrNumber;
    return m;
}

}  // namespace

MetricsColumns metrics_columns() {
    // catalog() first: it rebuilds what an invalidation dropped, and starts
    // the generation compared here.
    auto [relid, generation] = pg::call([] { return std::pair{catalog().customer_metrics, catalog_generation()}; });
    if (generation != known_metrics_generation) {
        known_metrics_columns.clear();
        known_metrics_generation = generation;
    }
    auto known = known_metrics_columns.find(relid);
    if (known != known_metrics_columns.end()) return known->second;
    MetricsColumns columns = pg::call([] { return look_up_metrics_columns(catalog()); });
    known_metrics_columns.emplace(relid, columns);
    return columns;
}

bool remembered_segments_of_slot(TupleTableSlot* slot, const MetricsColumns& at, int64 version,
                                 std::vector<int64>& segments) {
    if (at.automatic_segments == InvalidAttrNumber) return false;
    bool null;
    Datum stored_version = slot_getattr(slot, at.segments_version, &null);
    if (null || DatumGetInt64(stored_version) != version) return false;
    Datum stored = slot_getattr(slot, at.automatic_segments, &null);
    if (null) return false;
    ArrayType* array = DatumGetArrayTypeP(stored);
    if (ARR_HASNULL(array) || ARR_ELEMTYPE(array) != INT8OID) return false;  // not ours: read the assignments
    int64s_of_array(array, segments);
    if (!std::is_sorted(segments.begin(), segments.end())) std::sort(segments.begin(), segments.end());
    return true;
}

const char* attributes_text(Datum jsonb, bool null) {
    if (null) return nullptr;
    Jsonb* document = DatumGetJsonbP(jsonb);
    return JsonbToCString(nullptr, &document->root, VARSIZE(document));
}

void read_attribute_values(const char* text, AttributeValues& values) {
    if (text == nullptr)
        values.clear();
    else
        values.read(text);
}

MetricValues metric_values_of_slot(TupleTableSlot* slot, const MetricAttributes& at) {
    MetricValues v;
    v.lifetime_value = slot_getattr(slot, at.lifetime_value, &v.lifetime_value_null);
    v.order_count = slot_getattr(slot, at.order_count, &v.order_count_null);
    v.last_order_at = slot_getattr(slot, at.last_order_at, &v.last_order_at_null);
    v.customer_since = slot_getattr(slot, at.customer_since, &v.customer_since_null);
    v.loyalty_level = slot_getattr(slot, at.loyalty_level, &v.loyalty_level_null);
    if (at.attributes != InvalidAttrNumber) v.attributes = slot_getattr(slot, at.attributes, &v.attributes_null);
    return v;
}

MetricValues metric_values_from_spi(uint64 row, int first_column) {
    MetricValues v;
    v.lifetime_value = spi::column(row, first_column, &v.lifetime_value_null);
    v.order_count = spi::column(row, first_column + 1, &v.order_count_null);
    v.last_order_at = spi::column(row, first_column + 2, &v.last_order_at_null);
    v.customer_since = spi::column(row, first_column + 3, &v.customer_since_null);
    v.loyalty_level = spi::column(row, first_column + 4, &v.loyalty_level_null);
    return v;
}

}  // namespace segmentation::glue
