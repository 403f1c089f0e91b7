// The service's API as SQL-callable functions: segments, matching and
// assignments. Tracking lives in tracking.cpp, refreshes in refresh.cpp.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/matcher.hpp"
#include "glue/catalog.hpp"
#include "glue/customers.hpp"
#include "glue/guard.hpp"
#include "glue/keys.hpp"
#include "glue/membership.hpp"
#include "glue/notify.hpp"
#include "glue/segment_cache.hpp"
#include "glue/spi.hpp"

using namespace segmentation;
using namespace segmentation::glue;
using spi::kKeyType;

char* segmentation_actor_setting = nullptr;  // the segmentation.actor GUC

namespace {

const spi::Statement kLoadCustomer = {
    "SELECT " SEGMENTATION_METRIC_COLUMNS " FROM segmentation.customer_metrics WHERE customer_id = $1",
    1, {kKeyType}};

const spi::Statement kLockCustomerKey = {
    "SELECT 1 FROM segmentation.customer_metrics WHERE customer_id = $1 FOR KEY SHARE", 1, {kKeyType}};

const spi::Statement kLockSegment = {
    "SELECT name, is_automatic FROM segmentation.segments WHERE id = $1 FOR KEY SHARE", 1, {INT8OID}};

const spi::Statement kAddManual = {
    "WITH added AS ("
    "  INSERT INTO segmentation.assignments (customer_id, segment_id, is_automatic, assigned_at, assigned_by) "
    "  VALUES ($1, $2, false, now(), $3) ON CONFLICT (customer_id, segment_id) DO NOTHING RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor) "
    "SELECT $1, $2, 'added', false, 'manual', $3 FROM added RETURNING 1",
    3, {kKeyType, INT8OID, TEXTOID}};

const spi::Statement kRemoveManual = {
    "WITH removed AS ("
    "  DELETE FROM segmentation.assignments "
    "  WHERE customer_id = $1 AND segment_id = $2 AND NOT is_automatic RETURNING 1) "
    "INSERT INTO segmentation.assignment_log (customer_id, segment_id, action, is_automatic, cause, actor, reason) "
    "SELECT $1, $2, 'removed', false, 'manual', $3, $4 FROM removed RETURNING 1",
    4, {kKeyType, INT8OID, TEXTOID, TEXTOID}};

const spi::Statement kCustomerSegments = {
    "SELECT a.segment_id, s.name, s.criteria, a.is_automatic, a.assigned_at, a.assigned_by "
    "FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id "
    "WHERE a.customer_id = $1 ORDER BY s.name, a.segment_id",
    1, {kKeyType}};

const spi::Statement kSegmentNamed = {
    "SELECT id FROM segmentation.segments WHERE name = $1", 1, {TEXTOID}};

const spi::Statement kInsertSegment = {
    "INSERT INTO segmentation.segments (name, description, criteria, is_automatic) "
    "VALUES ($1, $2, $3, $4) RETURNING id",
    4, {TEXTOID, TEXTOID, JSONBOID, BOOLOID}};

[[noreturn]] void null_argument(const char* what) {
    throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be NULL");
}

inline void require_argument(FunctionCallInfo fcinfo, int argno, const char* what) {
    if (unlikely(PG_ARGISNULL(argno))) null_argument(what);
}

// The text of a jsonb argument (NULL must have been refused already).
std::string jsonb_text(FunctionCallInfo fcinfo, int argno) {
    const char* text = pg::call([&] {
        Jsonb* document = PG_GETARG_JSONB_P(argno);
        return JsonbToCString(nullptr, &document->root, VARSIZE(document));
    });
    return text;
}

inline TimestampTz as_of_argument(FunctionCallInfo fcinfo, int argno) {
    require_argument(fcinfo, argno, "as_of");
    return PG_GETARG_TIMESTAMPTZ(argno);
}

Datum key_argument(FunctionCallInfo fcinfo, int argno) {
    return pg::call([&] { return customer_key_argument(fcinfo, argno); });
}

std::string key_text(Datum key) {
    return pg::call([&] { return key_to_text(key); });
}

// Who is acting: the segmentation.actor setting when the application sets
// it (SET LOCAL segmentation.actor = 'alice@example.com'), otherwise the
// role the session acts as (outside any SECURITY DEFINER function).
Datum actor() {
    return pg::call([] {
        if (segmentation_actor_setting != nullptr && segmentation_actor_setting[0] != '\0')
            return CStringGetTextDatum(segmentation_actor_setting);
        return CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
    });
}

// Loads one customer's metrics, or nothing when the key is unknown. Needs SPI.
bool load_customer(Datum key, Customer& customer) {
    if (spi::run(kLoadCustomer, {key}, nullptr, true) == 0) return false;
    pg::call([&] { customer = customer_from_values(metric_values_from_spi(0, 1), key); });
    return true;
}

[[noreturn]] void unknown_customer(Datum key, const std::string& doing) {
    throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": customer \"" + key_text(key) + "\" does not exist",
                "", "Customers come from the tables given to segmentation.track_customers() and segmentation.track_orders().");
}

// The manual segment `segment`, locked against deletion; errors name both
// the customer and the segment.
void require_manual_segment(int64 segment, Datum key, const std::string& doing) {
    if (spi::run(kLockSegment, {Int64GetDatum(segment)}) == 0)
        throw Error(ERRCODE_UNDEFINED_OBJECT, doing + ": segment " + std::to_string(segment) + " does not exist");
    bool automatic = false;
    std::string name = pg::call([&] {
        bool null;
        automatic = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &null));
        return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    });
    if (automatic)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    doing + ": segment " + std::to_string(segment) + " (\"" + name + "\") is automatic",
                    "Members of automatic segments follow the segment's criteria.",
                    "Only manual segments can be assigned or removed by hand.");
    (void)key;
}

Datum int64_array_datum(const std::vector<int64>& values) {
    return pg::call([&] {
        Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * (values.size() + 1)));
        for (std::size_t i = 0; i < values.size(); ++i) items[i] = Int64GetDatum(values[i]);
        return PointerGetDatum(construct_array(items, static_cast<int>(values.size()), INT8OID, 8, true, TYPALIGN_DOUBLE));
    });
}

// Compiled criteria per call site, keyed by the jsonb's bytes, so a scan that
// matches many rows against a few criteria compiles each only once. A join
// with segments alternates between criteria whose values stay at the same
// addresses (a materialized inner side): the recently used ones are found
// by address first, then confirmed by their bytes.
struct MatchCache {
    std::unordered_map<std::string, std::unique_ptr<Matcher>> matchers;
    struct Recent {
        const char* address = nullptr;
        const std::string* bytes = nullptr;  // a key of `matchers`
        const Matcher* matcher = nullptr;
    };
    static constexpr std::size_t kRecent = 32;
    Recent recent[kRecent];
    std::size_t next_recent = 0;  // replaced round-robin
    // Layout of the customer_metrics row type as last seen.
    Oid row_type = InvalidOid;
    AttrNumber columns[kMetricColumnCount + 1] = {};  // customer_id, then the metric columns

    std::size_t last_hit = 0;  // a join asks for the criteria in the same order for every customer

    static bool same_bytes(const std::string& stored, const char* bytes, std::size_t length) {
        if (stored.size() != length) return false;
        const char* known = stored.data();
        std::size_t i = 0;
        for (; i + 8 <= length; i += 8) {  // inline: most criteria are under 100 bytes
            std::uint64_t a, b;
            std::memcpy(&a, known + i, 8);
            std::memcpy(&b, bytes + i, 8);
            if (a != b) return false;
        }
        for (; i < length; ++i)
            if (known[i] != bytes[i]) return false;
        return true;
    }

    bool recent_hit(std::size_t index, const char* bytes, std::size_t length) const {
        const Recent& r = recent[index];
        return r.address == bytes && same_bytes(*r.bytes, bytes, length);
    }

    const Matcher& matcher_for(const char* bytes, std::size_t length, FunctionCallInfo fcinfo, int argno) {
        std::size_t next = (last_hit + 1) % kRecent;
        if (recent_hit(next, bytes, length)) {
            last_hit = next;
            return *recent[next].matcher;
        }
        for (std::size_t i = 0; i < kRecent; ++i)
            if (recent_hit(i, bytes, length)) {
                last_hit = i;
                return *recent[i].matcher;
            }
        return compile(bytes, length, fcinfo, argno);
    }

    // Not among the recent ones: found by bytes, or compiled.
    __attribute__((noinline)) const Matcher& compile(const char* bytes, std::size_t length, FunctionCallInfo fcinfo,
                                                     int argno) {
        std::string key(bytes, length);
        auto found = matchers.find(key);
        if (found == matchers.end()) {
            if (matchers.size() >= 256) {
                matchers.clear();
                for (Recent& r : recent) r = Recent{};
            }
            auto compiled = std::make_unique<Matcher>(parse_criteria(jsonb_text(fcinfo, argno)));
            found = matchers.emplace(std::move(key), std::move(compiled)).first;
        }
        recent[next_recent] = Recent{bytes, &found->first, found->second.get()};
        last_hit = next_recent;
        next_recent = (next_recent + 1) % kRecent;
        return *found->second;
    }

    // The customer of the previous segment_match_values call, recognised by
    // its input bytes: a join repeats each customer once per segment.
    struct PreviousCustomer {
        bool valid = false;
        bool nulls[kMetricColumnCount] = {};
        Datum order_count = 0, last_order_at = 0, customer_since = 0;
        char lifetime_value[32];
        std::size_t lifetime_value_length = 0;
        char loyalty_level[64];
        std::size_t loyalty_level_length = 0;
        Customer customer;  // its loyalty level points into loyalty_level above
    } previous;
};

void delete_match_cache(void* cache) { delete static_cast<MatchCache*>(cache); }

MatchCache& new_match_cache(FunctionCallInfo fcinfo) {
    {
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
    }
    return *static_cast<MatchCache*>(fcinfo->flinfo->fn_extra);
}

inline MatchCache& match_cache(FunctionCallInfo fcinfo) {
    if (likely(fcinfo->flinfo->fn_extra != nullptr)) return *static_cast<MatchCache*>(fcinfo->flinfo->fn_extra);
    return new_match_cache(fcinfo);
}

inline const Matcher& criteria_argument(FunctionCallInfo fcinfo, int argno) {
    require_argument(fcinfo, argno, "criteria");
    auto* value = reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(argno));
    if (VARATT_IS_COMPRESSED(value) || VARATT_IS_EXTERNAL(value))  // else in place, no call needed
        value = pg::call([&] { return pg_detoast_datum_packed(value); });
    const char* bytes = VARDATA_ANY(value);
    std::size_t length = VARSIZE_ANY_EXHDR(value);
    return match_cache(fcinfo).matcher_for(bytes, length, fcinfo, argno);
}

// The bytes of a varlena argument stored inline (else nothing).
bool inline_bytes(FunctionCallInfo fcinfo, int argno, std::string_view& bytes) {
    auto* value = reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(argno));
    if (VARATT_IS_COMPRESSED(value) || VARATT_IS_EXTERNAL(value)) return false;
    bytes = std::string_view(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
    return true;
}

// Whether segment_match_values's customer arguments (0-4) are those of the
// previous call.
bool same_customer(FunctionCallInfo fcinfo, const MatchCache::PreviousCustomer& p) {
    if (!p.valid) return false;
    for (int argno = 0; argno < kMetricColumnCount; ++argno)
        if (PG_ARGISNULL(argno) != p.nulls[argno]) return false;
    if ((!p.nulls[1] && PG_GETARG_DATUM(1) != p.order_count) || (!p.nulls[2] && PG_GETARG_DATUM(2) != p.last_order_at) ||
        (!p.nulls[3] && PG_GETARG_DATUM(3) != p.customer_since))
        return false;
    std::string_view bytes;
    if (!p.nulls[0] && (!inline_bytes(fcinfo, 0, bytes) || bytes != std::string_view(p.lifetime_value, p.lifetime_value_length)))
        return false;
    if (!p.nulls[4] && (!inline_bytes(fcinfo, 4, bytes) || bytes != std::string_view(p.loyalty_level, p.loyalty_level_length)))
        return false;
    return true;
}

// Decodes segment_match_values's customer arguments into `p`, keeping their
// bytes (when short enough) to recognise the next call's.
void remember_customer(FunctionCallInfo fcinfo, MatchCache::PreviousCustomer& p) {
    MetricValues v;
    v.lifetime_value_null = PG_ARGISNULL(0);
    v.lifetime_value = PG_GETARG_DATUM(0);
    v.order_count_null = PG_ARGISNULL(1);
    v.order_count = PG_GETARG_DATUM(1);
    v.last_order_at_null = PG_ARGISNULL(2);
    v.last_order_at = PG_GETARG_DATUM(2);
    v.customer_since_null = PG_ARGISNULL(3);
    v.customer_since = PG_GETARG_DATUM(3);
    v.loyalty_level_null = true;  // kept in p's own buffer, below
    v.loyalty_level = (Datum)0;
    p.valid = false;
    if (!inline_customer_from_values(v, p.customer))
        p.customer = pg::call([&] { return customer_from_values(v, std::nullopt); });
    if (!PG_ARGISNULL(4)) {
        std::string_view level;
        if (!inline_bytes(fcinfo, 4, level) || level.size() > sizeof p.loyalty_level) {
            // Unusual: a long or toasted loyalty level is read for this call only.
            auto* text = reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(4));
            text = pg::call([&] { return pg_detoast_datum_packed(text); });
            p.customer.loyalty_level = std::string_view(VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text));
            return;
        }
        std::memcpy(p.loyalty_level, level.data(), level.size());
        p.loyalty_level_length = level.size();
        p.customer.loyalty_level = std::string_view(p.loyalty_level, level.size());
    }
    std::string_view value;
    if (!PG_ARGISNULL(0) && (!inline_bytes(fcinfo, 0, value) || value.size() > sizeof p.lifetime_value)) return;
    if (!PG_ARGISNULL(0)) {
        std::memcpy(p.lifetime_value, value.data(), value.size());
        p.lifetime_value_length = value.size();
    }
    for (int argno = 0; argno < kMetricColumnCount; ++argno) p.nulls[argno] = PG_ARGISNULL(argno);
    p.order_count = PG_ARGISNULL(1) ? (Datum)0 : PG_GETARG_DATUM(1);
    p.last_order_at = PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2);
    p.customer_since = PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3);
    p.valid = true;
}

// A customer_metrics row argument as a Customer (its columns are found by
// name, once per call site).
Customer customer_row_argument(FunctionCallInfo fcinfo, int argno) {
    MatchCache& cache = match_cache(fcinfo);
    return pg::call([&] {
        HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(argno);
        Oid type = HeapTupleHeaderGetTypeId(row);
        TupleDesc desc = lookup_rowtype_tupdesc(type, HeapTupleHeaderGetTypMod(row));
        if (cache.row_type != type) {
            static const char* const names[] = {"customer_id", "lifetime_value", "order_count",
                                                "last_order_at", "customer_since", "loyalty_level"};
            for (int i = 0; i <= kMetricColumnCount; ++i) {
                cache.columns[i] = InvalidAttrNumber;
                for (int a = 0; a < desc->natts; ++a) {
                    Form_pg_attribute attribute = TupleDescAttr(desc, a);
                    if (!attribute->attisdropped && strcmp(NameStr(attribute->attname), names[i]) == 0)
                        cache.columns[i] = attribute->attnum;
                }
                if (cache.columns[i] == InvalidAttrNumber)
                    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                                    errmsg("a segmentation.customer_metrics row is needed; %s has no column %s",
                                           format_type_be(type), names[i])));
            }
            cache.row_type = type;
        }
        HeapTupleData tuple;
        tuple.t_len = HeapTupleHeaderGetDatumLength(row);
        ItemPointerSetInvalid(&tuple.t_self);
        tuple.t_tableOid = InvalidOid;
        tuple.t_data = row;
        MetricValues v;
        bool key_null;
        Datum key = heap_getattr(&tuple, cache.columns[0], desc, &key_null);
        v.lifetime_value = heap_getattr(&tuple, cache.columns[1], desc, &v.lifetime_value_null);
        v.order_count = heap_getattr(&tuple, cache.columns[2], desc, &v.order_count_null);
        v.last_order_at = heap_getattr(&tuple, cache.columns[3], desc, &v.last_order_at_null);
        v.customer_since = heap_getattr(&tuple, cache.columns[4], desc, &v.customer_since_null);
        v.loyalty_level = heap_getattr(&tuple, cache.columns[5], desc, &v.loyalty_level_null);
        ReleaseTupleDesc(desc);
        return customer_from_values(v, key_null ? std::nullopt : std::optional<Datum>(key));
    });
}

}  // namespace

// segmentation.check_criteria(jsonb): true, or the error naming the problem.
SEGMENTATION_FUNCTION(segmentation_check_criteria) {
    require_argument(fcinfo, 0, "criteria");
    parse_criteria(jsonb_text(fcinfo, 0));
    PG_RETURN_BOOL(true);
}

// segmentation.segment_match(customer_metrics, jsonb, timestamptz)
SEGMENTATION_FUNCTION(segmentation_segment_match_row) {
    require_argument(fcinfo, 0, "customer");
    const Matcher& matcher = criteria_argument(fcinfo, 1);
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    Customer customer = customer_row_argument(fcinfo, 0);
    PG_RETURN_BOOL(matcher.matches(customer, as_of));
}

// segmentation.segment_match_values(lifetime_value, order_count,
//     last_order_at, customer_since, loyalty_level, criteria, as_of):
// segment_match() of a customer_metrics row given as its columns. The
// planner calls this instead of segment_match(m, criteria) (see
// match_planning.cpp), sparing the executor a whole-row copy per call.
SEGMENTATION_FUNCTION(segmentation_segment_match_values) {
    const Matcher& matcher = criteria_argument(fcinfo, 5);
    TimestampTz as_of = as_of_argument(fcinfo, 6);
    MatchCache::PreviousCustomer& previous = match_cache(fcinfo).previous;
    if (!same_customer(fcinfo, previous)) remember_customer(fcinfo, previous);
    PG_RETURN_BOOL(matcher.matches(previous.customer, as_of));
}

// segmentation.next_change_at(customer_metrics, timestamptz) -> timestamptz:
// when the customer's automatic segments may next change with time alone.
SEGMENTATION_FUNCTION(segmentation_next_change_at) {
    require_argument(fcinfo, 0, "customer");
    TimestampTz as_of = as_of_argument(fcinfo, 1);
    Customer customer = customer_row_argument(fcinfo, 0);
    std::vector<int64> unused;
    std::optional<Micros> next = automatic_segments()->evaluate(customer, as_of, unused);
    if (!next || *next >= END_TIMESTAMP) PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(*next);
}

// segmentation.segment_match(customer_id, jsonb, timestamptz)
SEGMENTATION_FUNCTION(segmentation_segment_match_id) {
    Datum key = key_argument(fcinfo, 0);
    const Matcher& matcher = criteria_argument(fcinfo, 1);
    TimestampTz as_of = as_of_argument(fcinfo, 2);
    spi::connect();
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot match customer");
    bool result = matcher.matches(customer, as_of);
    spi::finish();
    PG_RETURN_BOOL(result);
}

// segmentation.calculate_automatic_segments(customer_id, timestamptz) -> bigint[]
SEGMENTATION_FUNCTION(segmentation_calculate_automatic_segments) {
    Datum key = key_argument(fcinfo, 0);
    TimestampTz as_of = as_of_argument(fcinfo, 1);
    spi::connect();
    Customer customer;
    if (!load_customer(key, customer)) unknown_customer(key, "cannot calculate segments");
    std::vector<int64> matched;
    automatic_segments()->evaluate(customer, as_of, matched);
    spi::finish();
    return int64_array_datum(matched);
}

// segmentation.assign_automatic_segments(customer_id, OUT added bigint[], OUT removed bigint[])
SEGMENTATION_FUNCTION(segmentation_assign_automatic_segments) {
    Datum key = key_argument(fcinfo, 0);
    spi::connect();
    Customer unused;
    if (!load_customer(key, unused)) unknown_customer(key, "cannot assign automatic segments");
    TimestampTz now = pg::call([] { return GetCurrentTransactionStartTimestamp(); });
    std::vector<Change> changes = evaluate_customers({key}, now, Cause::Refresh);
    std::vector<int64> added, removed;
    for (const Change& c : changes) (c.added ? added : removed).push_back(c.segment);
    std::sort(added.begin(), added.end());
    std::sort(removed.begin(), removed.end());
    spi::finish();
    Datum values[2] = {int64_array_datum(added), int64_array_datum(removed)};
    return pg::call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "segmentation: assign_automatic_segments must return a record");
        bool nulls[2] = {false, false};
        return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
    });
}

// segmentation.assign_manual_segment(customer_id, segment_id) -> boolean
SEGMENTATION_FUNCTION(segmentation_assign_manual_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    std::string doing = "cannot assign segment " + std::to_string(segment) + " to customer \"" + key_text(key) + "\"";
    spi::connect();
    require_manual_segment(segment, key, doing);
    if (spi::run(kLockCustomerKey, {key}) == 0) unknown_customer(key, doing);
    Datum who = actor();
    bool added = spi::run(kAddManual, {key, Int64GetDatum(segment), who}) > 0;
    if (added) remember_change(key, segment, true);
    spi::finish();
    PG_RETURN_BOOL(added);
}

// segmentation.remove_manual_segment(customer_id, segment_id, reason) -> boolean
SEGMENTATION_FUNCTION(segmentation_remove_manual_segment) {
    Datum key = key_argument(fcinfo, 0);
    require_argument(fcinfo, 1, "segment id");
    int64 segment = PG_GETARG_INT64(1);
    std::string doing = "cannot remove segment " + std::to_string(segment) + " from customer \"" + key_text(key) + "\"";
    spi::connect();
    require_manual_segment(segment, key, doing);
    if (spi::run(kLockCustomerKey, {key}) == 0) unknown_customer(key, doing);
    Datum who = actor();
    Datum reason = PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2);
    char nulls[4] = {' ', ' ', ' ', static_cast<char>(PG_ARGISNULL(2) ? 'n' : ' ')};
    bool removed = spi::run(kRemoveManual, {key, Int64GetDatum(segment), who, reason}, nulls) > 0;
    if (removed) remember_change(key, segment, false);
    spi::finish();
    PG_RETURN_BOOL(removed);
}

// segmentation.customer_segments(customer_id) -> setof (segment_id, name, criteria, is_automatic, assigned_at, assigned_by)
SEGMENTATION_FUNCTION(segmentation_customer_segments) {
    Datum key = key_argument(fcinfo, 0);
    spi::connect();
    Customer unused;
    if (!load_customer(key, unused)) unknown_customer(key, "cannot list segments");
    uint64 rows = spi::run(kCustomerSegments, {key}, nullptr, true);
    pg::call([&] {
        InitMaterializedSRF(fcinfo, 0);
        ReturnSetInfo* result = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
        for (uint64 row = 0; row < rows; ++row) {
            Datum values[6];
            bool nulls[6];
            for (int column = 0; column < 6; ++column)
                values[column] = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column + 1, &nulls[column]);
            tuplestore_putvalues(result->setResult, result->setDesc, values, nulls);
        }
    });
    spi::finish();
    return (Datum)0;
}

// segmentation.create_segment(name, criteria, is_automatic, description) -> bigint
SEGMENTATION_FUNCTION(segmentation_create_segment) {
    require_argument(fcinfo, 0, "segment name");
    require_argument(fcinfo, 1, "criteria");
    require_argument(fcinfo, 2, "is_automatic");
    std::string name = pg::call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    if (name.find_first_not_of(" \t\r\n\f\v") == std::string::npos)  // as the table's CHECK
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "segment name must not be empty");
    parse_criteria(jsonb_text(fcinfo, 1));  // a clear error before anything is written
    spi::connect();
    Datum name_datum = PG_GETARG_DATUM(0);
    if (spi::run(kSegmentNamed, {name_datum}) > 0)
        throw Error(ERRCODE_UNIQUE_VIOLATION, "segment \"" + name + "\" already exists",
                    "", "Segment names are unique; choose another name or edit the existing segment.");
    char nulls[4] = {' ', static_cast<char>(PG_ARGISNULL(3) ? 'n' : ' '), ' ', ' '};
    spi::run(kInsertSegment, {name_datum, PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)},
             nulls);
    int64 id = pg::call([] {
        bool null;
        return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
    });
    spi::finish();
    PG_RETURN_INT64(id);
}
