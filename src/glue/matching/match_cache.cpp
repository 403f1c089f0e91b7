#include "glue/matching/match_cache.hpp"

#include "glue/boundary/arguments.hpp"
#include "glue/tracking/configuration.hpp"

namespace segmentation::glue {
namespace {

// The bytes of a varlena argument stored inline; false when it is
// compressed or out of line (reading it would need PostgreSQL).
bool inline_bytes(FunctionCallInfo fcinfo, int argno, std::string_view& bytes) {
    auto* value = reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(argno));
    if (VARATT_IS_COMPRESSED(value) || VARATT_IS_EXTERNAL(value)) return false;
    bytes = std::string_view(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
    return true;
}

// The bytes of a varlena argument, detoasted if need be.
std::string_view argument_bytes(FunctionCallInfo fcinfo, int argno) {
    std::string_view bytes;
    if (inline_bytes(fcinfo, argno, bytes)) return bytes;
    auto* value =
        pg::call([&] { return pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(argno))); });
    return std::string_view(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

void delete_match_cache(void* cache) { delete static_cast<MatchCache*>(cache); }

}  // namespace

MatchCache& new_match_cache(FunctionCallInfo fcinfo) {
    auto cache = std::make_unique<MatchCache>();
    pg::call([&] {
        // Freed with the memory the call site lives in (normally the query's).
        auto* callback = static_cast<MemoryContextCallback*>(
            MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(MemoryContextCallback)));
        callback->func = delete_match_cache;
        callback->arg = cache.get();
        MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, callback);
    });
    fcinfo->flinfo->fn_extra = cache.release();
    return *static_cast<MatchCache*>(fcinfo->flinfo->fn_extra);
}

const Matcher& criteria_argument(FunctionCallInfo fcinfo, int argno) {
    require_argument(fcinfo, argno, "criteria");
    return match_cache(fcinfo).criteria(fcinfo, argno);
}

// ---- criteria ------------------------------------------------------------------

const Matcher& MatchCache::criteria(FunctionCallInfo fcinfo, int argno) {
    std::string_view bytes = argument_bytes(fcinfo, argno);
    auto hit = [&](std::size_t i) { return recent_[i].address == bytes.data() && *recent_[i].bytes == bytes; };
    std::size_t next = (last_hit_ + 1) % kRecent;
    if (hit(next)) {
        last_hit_ = next;
        return *recent_[next].matcher;
    }
    for (std::size_t i = 0; i < kRecent; ++i)
        if (hit(i)) {
            last_hit_ = i;
            return *recent_[i].matcher;
        }
    return compile(bytes.data(), bytes.size(), fcinfo, argno);
}

// Not among the recent ones: found by its bytes, or compiled.
const Matcher& MatchCache::compile(const char* bytes, std::size_t length, FunctionCallInfo fcinfo, int argno) {
    std::string key(bytes, length);
    auto found = compiled_.find(key);
    if (found == compiled_.end()) {
        if (compiled_.size() >= kMaxCompiled || compiled_bytes_ + length > kMaxCompiledBytes) forget_compiled();
        compiled_bytes_ += length;
        Criteria criteria = parse_criteria(jsonb_text(fcinfo, argno));
        if (uses_attributes(criteria)) check_attributes(criteria, tracked_attribute_schema());
        auto matcher = std::make_unique<Matcher>(criteria);
        found = compiled_.emplace(std::move(key), std::move(matcher)).first;
    }
    recent_[next_recent_] = RecentBytes{bytes, &found->first, found->second.get()};
    last_hit_ = next_recent_;
    next_recent_ = (next_recent_ + 1) % kRecent;
    return *found->second;
}

const Matcher& MatchCache::criteria_of_row_slowly(FunctionCallInfo fcinfo, int argno, RowVersion version) {
    for (std::size_t i = 0; i < kRecent; ++i)
        if (versions_[i].matcher != nullptr && versions_[i].version == version) {
            last_version_hit_ = i;
            return *versions_[i].matcher;
        }
    auto known = by_version_.find(version);
    const Matcher& matcher = known != by_version_.end() ? *known->second : criteria(fcinfo, argno);
    if (by_version_.size() >= kMaxCompiled) by_version_.clear();  // many rows, few criteria
    by_version_.emplace(version, &matcher);
    versions_[next_version_] = RecentVersion{version, &matcher};
    last_version_hit_ = next_version_;
    next_version_ = (next_version_ + 1) % kRecent;
    return matcher;
}

void MatchCache::forget_compiled() {
    compiled_.clear();
    compiled_bytes_ = 0;
    by_version_.clear();
    for (RecentBytes& r : recent_) r = RecentBytes{};
    for (RecentVersion& v : versions_) v = RecentVersion{};
}

// ---- customers -----------------------------------------------------------------

const detail::Facts& MatchCache::customer(FunctionCallInfo fcinfo, int first, int attributes, TimestampTz as_of) {
    if (!same_customer(fcinfo, first, attributes)) remember_customer(fcinfo, first, attributes);
    return facts_at(as_of);
}

bool MatchCache::same_customer(FunctionCallInfo fcinfo, int first, int attributes) const {
    const PreviousCustomer& p = previous_;
    if (!p.by_value) return false;
    for (int i = 0; i < kMetricColumnCount; ++i)
        if (PG_ARGISNULL(first + i) != p.nulls[i]) return false;
    if ((!p.nulls[1] && PG_GETARG_DATUM(first + 1) != p.order_count) ||
        (!p.nulls[2] && PG_GETARG_DATUM(first + 2) != p.last_order_at) ||
        (!p.nulls[3] && PG_GETARG_DATUM(first + 3) != p.customer_since))
        return false;
    std::string_view bytes;
    if (!p.nulls[0] &&
        (!inline_bytes(fcinfo, first, bytes) || bytes != std::string_view(p.lifetime_value, p.lifetime_value_length)))
        return false;
    if (!p.nulls[4] && (!inline_bytes(fcinfo, first + 4, bytes) || bytes != p.loyalty_level)) return false;
    bool attributes_null = attributes < 0 || PG_ARGISNULL(attributes);
    if (attributes_null != p.attributes_null) return false;
    if (!attributes_null && (!inline_bytes(fcinfo, attributes, bytes) || bytes != p.attributes_bytes)) return false;
    return true;
}

// Decodes the customer's columns into previous_, keeping their bytes (when
// short enough) to recognise the next call's.
void MatchCache::remember_customer(FunctionCallInfo fcinfo, int first, int attributes) {
    PreviousCustomer& p = previous_;
    p.by_value = false;
    p.by_version = false;
    p.facts_valid = false;
    p.attributes_null = attributes < 0 || PG_ARGISNULL(attributes);
    p.attributes_bytes.clear();
    const char* attributes_json = nullptr;
    if (!p.attributes_null) {
        p.attributes_bytes.assign(argument_bytes(fcinfo, attributes));
        attributes_json = pg::call([&] { return attributes_text(PG_GETARG_DATUM(attributes), false); });
    }
    read_attribute_values(attributes_json, p.attributes);
    MetricValues v;
    v.lifetime_value_null = PG_ARGISNULL(first);
    v.lifetime_value = PG_GETARG_DATUM(first);
    v.order_count_null = PG_ARGISNULL(first + 1);
    v.order_count = PG_GETARG_DATUM(first + 1);
    v.last_order_at_null = PG_ARGISNULL(first + 2);
    v.last_order_at = PG_GETARG_DATUM(first + 2);
    v.customer_since_null = PG_ARGISNULL(first + 3);
    v.customer_since = PG_GETARG_DATUM(first + 3);
    v.loyalty_level_null = true;  // kept in p's own storage, below
    v.loyalty_level = (Datum)0;
    if (!inline_customer_from_values(v, p.customer))
        p.customer = pg::call([&] { return customer_from_values(v, std::nullopt); });
    if (!PG_ARGISNULL(first + 4)) {
        p.loyalty_level.assign(argument_bytes(fcinfo, first + 4));
        p.customer.loyalty_level = std::string_view(p.loyalty_level);
    }
    p.customer.attributes = &p.attributes;
    std::string_view value;
    if (!PG_ARGISNULL(first) && (!inline_bytes(fcinfo, first, value) || value.size() > sizeof p.lifetime_value))
        return;  // recognised by version only
    if (!PG_ARGISNULL(first)) {
        std::memcpy(p.lifetime_value, value.data(), value.size());
        p.lifetime_value_length = value.size();
    }
    for (int i = 0; i < kMetricColumnCount; ++i) p.nulls[i] = PG_ARGISNULL(first + i);
    p.order_count = PG_ARGISNULL(first + 1) ? (Datum)0 : PG_GETARG_DATUM(first + 1);
    p.last_order_at = PG_ARGISNULL(first + 2) ? (Datum)0 : PG_GETARG_DATUM(first + 2);
    p.customer_since = PG_ARGISNULL(first + 3) ? (Datum)0 : PG_GETARG_DATUM(first + 3);
    p.by_value = true;
}

Customer MatchCache::customer_row(FunctionCallInfo fcinfo, int argno) {
    const char* attributes = nullptr;
    Customer customer = pg::call([&] {
        HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(argno);
        Oid type = HeapTupleHeaderGetTypeId(row);
        TupleDesc desc = lookup_rowtype_tupdesc(type, HeapTupleHeaderGetTypMod(row));
        if (row_type_ != type) {
            for (int i = 0; i <= kMetricColumnCount; ++i) {
                const char* name = i == 0 ? "customer_id" : kMetricColumnNames[i - 1];
                columns_[i] = InvalidAttrNumber;
                for (int a = 0; a < desc->natts; ++a) {
                    Form_pg_attribute attribute = TupleDescAttr(desc, a);
                    if (!attribute->attisdropped && strcmp(NameStr(attribute->attname), name) == 0)
                        columns_[i] = attribute->attnum;
                }
                if (columns_[i] == InvalidAttrNumber)
                    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                                    errmsg("a segmentation.customer_metrics row is needed; %s has no column %s",
                                           format_type_be(type), name)));
            }
            attributes_column_ = InvalidAttrNumber;  // optional: a database at 1.0 has none
            for (int a = 0; a < desc->natts; ++a) {
                Form_pg_attribute attribute = TupleDescAttr(desc, a);
                if (!attribute->attisdropped && attribute->atttypid == JSONBOID &&
                    strcmp(NameStr(attribute->attname), "attributes") == 0)
                    attributes_column_ = attribute->attnum;
            }
            row_type_ = type;
        }
        HeapTupleData tuple;
        tuple.t_len = HeapTupleHeaderGetDatumLength(row);
        ItemPointerSetInvalid(&tuple.t_self);
        tuple.t_tableOid = InvalidOid;
        tuple.t_data = row;
        MetricValues v;
        bool key_null;
        Datum key = heap_getattr(&tuple, columns_[0], desc, &key_null);
        v.lifetime_value = heap_getattr(&tuple, columns_[1], desc, &v.lifetime_value_null);
        v.order_count = heap_getattr(&tuple, columns_[2], desc, &v.order_count_null);
        v.last_order_at = heap_getattr(&tuple, columns_[3], desc, &v.last_order_at_null);
        v.customer_since = heap_getattr(&tuple, columns_[4], desc, &v.customer_since_null);
        v.loyalty_level = heap_getattr(&tuple, columns_[5], desc, &v.loyalty_level_null);
        if (attributes_column_ != InvalidAttrNumber) {
            v.attributes = heap_getattr(&tuple, attributes_column_, desc, &v.attributes_null);
            attributes = attributes_text(v.attributes, v.attributes_null);
        }
        ReleaseTupleDesc(desc);
        return customer_from_values(v, key_null ? std::nullopt : std::optional<Datum>(key));
    });
    read_attribute_values(attributes, row_attributes_);
    customer.attributes = &row_attributes_;
    return customer;
}

}  // namespace segmentation::glue
