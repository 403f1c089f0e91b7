// segment_match() over customer_metrics rows, made cheap by the planner.
//
// segment_match(m, criteria, as_of) takes a whole row, which the executor
// copies for every call. A planner support function rewrites calls whose row
// is a scan of segmentation.customer_metrics itself:
//  * with a constant criteria and a clock that cannot be NULL, into the
//    equivalent SQL expression over the row's columns: numeric and bigint
//    comparisons for money and counts (exact, and an index on them can
//    serve), = ANY for loyalty levels, and small exact helpers for the clock
//    bounds, so the executor runs it like a hand-written WHERE clause;
//  * with the criteria of a segmentation.segments row (a join), into
//    segment_match_rows(...), which also gets both rows' versions, so that
//    it recognises the customer and the compiled criteria of earlier calls
//    by a few integer comparisons;
//  * otherwise, into segment_match_values(columns..., criteria, as_of),
//    which takes the columns as they are and caches compiled criteria.
// Both give segment_match's answers. Calls the rewrite cannot prove
// equivalent (a row from the nullable side of an outer join, criteria that
// do not parse, bounds beyond every instant) are left alone.
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/matcher.hpp"
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/metric_values.hpp"
#include "glue/boundary/guard.hpp"
#include "glue/matching/match_cache.hpp"
#include "glue/tracking/configuration.hpp"

extern "C" {
#include "catalog/pg_collation.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
}

using namespace segmentation;
using namespace segmentation::glue;
using exact::int128;

// ---- exact helpers for the clock bounds of inlined criteria ------------------------

// segmentation.elapsed_at_least(since, as_of, micros): as_of - since >= micros,
// in exact integer arithmetic (infinite instants included).
SEGMENTATION_FUNCTION(segmentation_elapsed_at_least) {
    int128 elapsed = static_cast<int128>(PG_GETARG_TIMESTAMPTZ(1)) - PG_GETARG_TIMESTAMPTZ(0);
    PG_RETURN_BOOL(elapsed >= PG_GETARG_INT64(2));
}

// segmentation.elapsed_at_most(since, as_of, micros): as_of - since <= micros.
SEGMENTATION_FUNCTION(segmentation_elapsed_at_most) {
    int128 elapsed = static_cast<int128>(PG_GETARG_TIMESTAMPTZ(1)) - PG_GETARG_TIMESTAMPTZ(0);
    PG_RETURN_BOOL(elapsed <= PG_GETARG_INT64(2));
}

namespace {

// The threshold of a frequency helper, read once per call site: a numeric in
// the criteria's units of 10^-18 (the planner writes it as a constant, but a
// user may call the helper with anything, so the cache checks the value).
struct FrequencyThreshold {
    char bytes[64];
    std::size_t length = 0;
    int128 units = 0;
};

int128 frequency_threshold(FunctionCallInfo fcinfo, int argno) {
    auto* value = reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(argno));
    if (VARATT_IS_COMPRESSED(value) || VARATT_IS_EXTERNAL(value))
        value = pg::call([&] { return pg_detoast_datum_packed(value); });
    const char* bytes = VARDATA_ANY(value);
    std::size_t length = VARSIZE_ANY_EXHDR(value);
    auto* cached = static_cast<FrequencyThreshold*>(fcinfo->flinfo->fn_extra);
    if (cached != nullptr && cached->length == length && std::memcmp(cached->bytes, bytes, length) == 0)
        return cached->units;
    std::string digits =
        pg::call([&] { return DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(argno))); });
    exact::Number n = exact::parse_number(digits);
    if (n.status != exact::NumberStatus::Ok)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    "purchase frequency threshold " + digits + " is not a criteria number",
                    "Thresholds are non-negative, at most 10^18, with at most 18 decimal places.");
    if (length <= sizeof cached->bytes) {
        if (cached == nullptr) {
            cached = pg::call([&] {
                return static_cast<FrequencyThreshold*>(
                    MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FrequencyThreshold)));
            });
            fcinfo->flinfo->fn_extra = cached;
        }
        std::memcpy(cached->bytes, bytes, length);
        cached->length = length;
        cached->units = n.units;
    }
    return n.units;
}

// sign(orders per 30 days - threshold), as the core compares them.
int compare_frequency(FunctionCallInfo fcinfo) {
    int64 orders = PG_GETARG_INT64(0);
    int128 tenure = static_cast<int128>(PG_GETARG_TIMESTAMPTZ(2)) - PG_GETARG_TIMESTAMPTZ(1);
    int128 threshold = frequency_threshold(fcinfo, 3);
    const exact::uint128 factor =
        static_cast<exact::uint128>(30) * kMicrosPerDay * static_cast<exact::uint128>(exact::kOne);
    int128 denominator = tenure > kMicrosPerDay ? tenure : kMicrosPerDay;
    return exact::compare_products(static_cast<exact::uint128>(orders > 0 ? orders : 0), factor,
                                   static_cast<exact::uint128>(threshold), static_cast<exact::uint128>(denominator));
}

}  // namespace

// segmentation.frequency_at_least(order_count, customer_since, as_of, threshold)
SEGMENTATION_FUNCTION(segmentation_frequency_at_least) { PG_RETURN_BOOL(compare_frequency(fcinfo) >= 0); }

// segmentation.frequency_at_most(order_count, customer_since, as_of, threshold)
SEGMENTATION_FUNCTION(segmentation_frequency_at_most) { PG_RETURN_BOOL(compare_frequency(fcinfo) <= 0); }

// ---- the support function --------------------------------------------------------

namespace {

// The metric columns of the customer_metrics row, as Vars of its scan.
struct Column {
    Var* var;
    bool not_null;  // declared NOT NULL: comparisons on it are never NULL
};

// In the order of kMetricColumnNames (glue/boundary/metric_values.hpp),
// which names them once for every reader of customer_metrics.
struct Columns {
    Column lifetime_value, order_count, last_order_at, customer_since, loyalty_level;
};
static_assert(sizeof(Columns) == kMetricColumnCount * sizeof(Column), "one Column per metric column");

// PG-style: the column `name` of customer_metrics, beside the whole-row Var.
SEGMENTATION_PG_CONTEXT Column column_of(const Var* row, Oid relation, const char* name) {
    AttrNumber attnum = get_attnum(relation, name);
    HeapTuple tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relation), Int16GetDatum(attnum));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "segmentation: customer_metrics has no column %s", name);
    auto* attribute = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple));
    Column column{makeVar(row->varno, attnum, attribute->atttypid, attribute->atttypmod, attribute->attcollation, 0),
                  attribute->attnotnull};
    ReleaseSysCache(tuple);
    return column;
}

SEGMENTATION_PG_CONTEXT Oid operator_oid(const char* name, Oid left, Oid right) {
    return OpernameGetOprid(list_make2(makeString(pstrdup("pg_catalog")), makeString(pstrdup(name))), left, right);
}

SEGMENTATION_PG_CONTEXT Oid function_oid(const char* name, int nargs, const Oid* types) {
    List* qualified = list_make2(makeString(pstrdup("segmentation")), makeString(pstrdup(name)));
    return LookupFuncName(qualified, nargs, types, false);
}

SEGMENTATION_PG_CONTEXT Expr* comparison(const char* op, Expr* left, Expr* right, Oid type,
                                         Oid collation = InvalidOid) {
    Oid opno = operator_oid(op, type, type);
    auto* clause = reinterpret_cast<OpExpr*>(make_opclause(opno, BOOLOID, false, left, right, InvalidOid, collation));
    clause->opfuncid = get_opcode(opno);
    return reinterpret_cast<Expr*>(clause);
}

SEGMENTATION_PG_CONTEXT Expr* is_true(Expr* e) {
    BooleanTest* test = makeNode(BooleanTest);
    test->arg = e;
    test->booltesttype = IS_TRUE;
    test->location = -1;
    return reinterpret_cast<Expr*>(test);
}

SEGMENTATION_PG_CONTEXT Expr* constant_bool(bool value) { return reinterpret_cast<Expr*>(makeBoolConst(value, false)); }

SEGMENTATION_PG_CONTEXT Expr* numeric_constant(int128 units) {
    char text[64] = {};
    {  // no C++ object may be alive across the PostgreSQL call below
        std::string spelled = exact::format_units(units);
        spelled.copy(text, sizeof text - 1);
    }
    Datum value =
        DirectFunctionCall3(numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    return reinterpret_cast<Expr*>(makeConst(NUMERICOID, -1, InvalidOid, -1, value, false, false));
}

SEGMENTATION_PG_CONTEXT Expr* int8_constant(int64 value) {
    return reinterpret_cast<Expr*>(makeConst(INT8OID, -1, InvalidOid, 8, Int64GetDatum(value), false, FLOAT8PASSBYVAL));
}

SEGMENTATION_PG_CONTEXT Expr* helper_call(const char* name, List* args) {
    Oid types[FUNC_MAX_ARGS];
    int n = 0;
    ListCell* cell;
    foreach (cell, args) types[n++] = exprType(static_cast<Node*>(lfirst(cell)));
    Oid function = function_oid(name, n, types);
    return reinterpret_cast<Expr*>(makeFuncExpr(function, BOOLOID, args, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
}

const int128 kInt64Max = std::numeric_limits<int64>::max();

// A JSON string literal of `text` (criteria strings are the database's text).
std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (char ch : text) {
        auto byte = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (byte < 0x20) {
            static const char* const kHex = "0123456789abcdef";
            out += "\\u00";
            out += kHex[byte >> 4];
            out += kHex[byte & 15];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

// An attribute test's value as JSON text ("DE", 18.5, true).
std::string json_literal(const AttributeLiteral& literal) {
    switch (literal.kind) {
        case AttributeLiteral::Kind::String: return json_string(literal.text);
        case AttributeLiteral::Kind::Boolean: return literal.boolean ? "true" : "false";
        default: return exact::format_units(literal.units);
    }
}

struct Builder {
    Columns c;
    Var* attributes = nullptr;  // customer_metrics.attributes (none in a database at 1.0)
    Expr* as_of;
    bool representable = true;  // false: some bound has no SQL form here

    SEGMENTATION_PG_CONTEXT Expr* as_of_copy() { return static_cast<Expr*>(copyObjectImpl(as_of)); }
    SEGMENTATION_PG_CONTEXT Expr* copy(const Column& column) { return static_cast<Expr*>(copyObjectImpl(column.var)); }

    // A comparison on a column that may be NULL is NULL there; segment_match
    // says false, and must go on saying false under "not".
    SEGMENTATION_PG_CONTEXT static Expr* definite(Expr* e, const Column& column) {
        return column.not_null ? e : is_true(e);
    }

    // Each bound as an expression that is never NULL.
    SEGMENTATION_PG_CONTEXT Expr* bound(const Bound& b) {
        bool at_least = b.minimum;
        const char* op = at_least ? ">=" : "<=";
        int128 limit = comparable_limit(b);
        switch (b.metric) {
            case Metric::LifetimeValue:
                return definite(comparison(op, copy(c.lifetime_value), numeric_constant(limit), NUMERICOID),
                                c.lifetime_value);
            case Metric::Orders:
                if (limit > kInt64Max) return constant_bool(!at_least);
                return definite(comparison(op, copy(c.order_count), int8_constant(static_cast<int64>(limit)), INT8OID),
                                c.order_count);
            case Metric::AverageOrderValue: {
                // value / count against t  <=>  value against t * count (count > 0)
                Oid multiply = operator_oid("*", NUMERICOID, NUMERICOID);
                Expr* count =
                    reinterpret_cast<Expr*>(makeFuncExpr(F_NUMERIC_INT8, NUMERICOID, list_make1(copy(c.order_count)),
                                                         InvalidOid, InvalidOid, COERCE_EXPLICIT_CAST));
                auto* product = reinterpret_cast<OpExpr*>(
                    make_opclause(multiply, NUMERICOID, false, numeric_constant(limit), count, InvalidOid, InvalidOid));
                product->opfuncid = get_opcode(multiply);
                Expr* has_orders = comparison(">", copy(c.order_count), int8_constant(0), INT8OID);
                Expr* compared = comparison(op, copy(c.lifetime_value), reinterpret_cast<Expr*>(product), NUMERICOID);
                Expr* both = makeBoolExpr(AND_EXPR, list_make2(has_orders, compared), -1);
                return c.order_count.not_null && c.lifetime_value.not_null ? both : is_true(both);
            }
            case Metric::DaysSinceLastPurchase:
            case Metric::TenureDays: {
                const Column& since = b.metric == Metric::DaysSinceLastPurchase ? c.last_order_at : c.customer_since;
                if (limit > kInt64Max) {  // reached only between infinite instants: leave to the core
                    representable = false;
                    return constant_bool(false);
                }
                return is_true(
                    helper_call(at_least ? "elapsed_at_least" : "elapsed_at_most",
                                list_make3(copy(since), as_of_copy(), int8_constant(static_cast<int64>(limit)))));
            }
            case Metric::PurchaseFrequency:
                return is_true(helper_call(
                    at_least ? "frequency_at_least" : "frequency_at_most",
                    list_make4(copy(c.order_count), copy(c.customer_since), as_of_copy(), numeric_constant(limit))));
        }
        return constant_bool(false);
    }

    SEGMENTATION_PG_CONTEXT Expr* loyalty(const std::vector<std::string>& levels) {
        Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * levels.size()));
        for (std::size_t i = 0; i < levels.size(); ++i)
            items[i] = PointerGetDatum(cstring_to_text_with_len(levels[i].data(), static_cast<int>(levels[i].size())));
        ArrayType* array = construct_array(items, static_cast<int>(levels.size()), TEXTOID, -1, false, TYPALIGN_INT);
        Oid equal = operator_oid("=", TEXTOID, TEXTOID);
        ScalarArrayOpExpr* any = makeNode(ScalarArrayOpExpr);
        any->opno = equal;
        any->opfuncid = get_opcode(equal);
        any->useOr = true;
        any->inputcollid = c.loyalty_level.var->varcollid;
        any->args = list_make2(copy(c.loyalty_level),
                               makeConst(TEXTARRAYOID, -1, InvalidOid, -1, PointerGetDatum(array), false, false));
        any->location = -1;
        return definite(reinterpret_cast<Expr*>(any), c.loyalty_level);
    }

    // ---- customer attributes: jsonb expressions over m.attributes ----------------

    SEGMENTATION_PG_CONTEXT Expr* jsonb_constant(const char* text) {
        return reinterpret_cast<Expr*>(makeConst(JSONBOID, -1, InvalidOid, -1,
                                                 DirectFunctionCall1(jsonb_in, CStringGetDatum(text)), false, false));
    }

    SEGMENTATION_PG_CONTEXT Expr* text_constant(const char* text) {
        return reinterpret_cast<Expr*>(
            makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1, CStringGetTextDatum(text), false, false));
    }

    // m.attributes -> 'name'
    SEGMENTATION_PG_CONTEXT Expr* field(const char* name) {
        return reinterpret_cast<Expr*>(makeFuncExpr(F_JSONB_OBJECT_FIELD, JSONBOID,
                                                    list_make2(copyObjectImpl(attributes), text_constant(name)),
                                                    InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL));
    }

    // m.attributes @> 'json'
    SEGMENTATION_PG_CONTEXT Expr* contains(const char* json) {
        return comparison("@>", static_cast<Expr*>(copyObjectImpl(attributes)), jsonb_constant(json), JSONBOID);
    }

    // The attribute has a value: m.attributes ? 'name' AND NOT m.attributes @> '{"name": null}'.
    SEGMENTATION_PG_CONTEXT Expr* present(const char* name, const char* null_object) {
        Oid exists = operator_oid("?", JSONBOID, TEXTOID);
        auto* has_key = reinterpret_cast<OpExpr*>(
            make_opclause(exists, BOOLOID, false, static_cast<Expr*>(copyObjectImpl(attributes)), text_constant(name),
                          InvalidOid, DEFAULT_COLLATION_OID));
        has_key->opfuncid = get_opcode(exists);
        Expr* not_null = makeBoolExpr(NOT_EXPR, list_make1(contains(null_object)), -1);
        return is_true(makeBoolExpr(AND_EXPR, list_make2(has_key, not_null), -1));
    }

    // jsonb_typeof(m.attributes -> 'name') = 'number' AND m.attributes -> 'name' >= / <= 'limit'
    SEGMENTATION_PG_CONTEXT Expr* range(const char* name, const char* op, const char* limit) {
        Expr* type = reinterpret_cast<Expr*>(makeFuncExpr(F_JSONB_TYPEOF, TEXTOID, list_make1(field(name)),
                                                          DEFAULT_COLLATION_OID, InvalidOid, COERCE_EXPLICIT_CALL));
        Expr* number = comparison("=", type, text_constant("number"), TEXTOID, DEFAULT_COLLATION_OID);
        Expr* compared = comparison(op, field(name), jsonb_constant(limit), JSONBOID);
        return is_true(makeBoolExpr(AND_EXPR, list_make2(number, compared), -1));
    }

    // The JSON texts attribute() needs, made in C++ before the PostgreSQL
    // calls (prepare_attributes), in the order attribute() takes them.
    std::vector<std::string> texts;
    std::size_t next_text = 0;
    const char* take_text() { return texts[next_text++].c_str(); }

    void prepare_attributes(const Criteria& criteria) {
        for (const AttributeCondition& condition : criteria.attributes) {
            texts.push_back(json_string(condition.name));
            if (condition.equals) texts.push_back(json_literal(*condition.equals));
            for (const AttributeLiteral& literal : condition.in) texts.push_back(json_literal(literal));
            if (condition.min) texts.push_back(exact::format_units(condition.min->units));
            if (condition.max) texts.push_back(exact::format_units(condition.max->units));
        }
        for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
            for (const Criteria& child : *children) prepare_attributes(child);
    }

    // Every test of one attribute condition, as the core's matcher reads them
    // (core/matcher.cpp, attribute_holds); never NULL.
    SEGMENTATION_PG_CONTEXT Expr* attribute(const AttributeCondition& condition) {
        List* parts = NIL;
        const char* name = condition.name.c_str();
        const char* key = take_text();
        if (condition.is_null) {
            Expr* has_value = present(name, psprintf("{%s: null}", key));
            parts = lappend(parts, *condition.is_null ? makeBoolExpr(NOT_EXPR, list_make1(has_value), -1) : has_value);
        }
        if (condition.equals) parts = lappend(parts, is_true(contains(psprintf("{%s: %s}", key, take_text()))));
        if (condition.has_in) {
            Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * condition.in.size()));
            for (std::size_t i = 0; i < condition.in.size(); ++i)
                items[i] = DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("{%s: %s}", key, take_text())));
            ArrayType* array =
                construct_array(items, static_cast<int>(condition.in.size()), JSONBOID, -1, false, TYPALIGN_INT);
            Oid contained = operator_oid("@>", JSONBOID, JSONBOID);
            ScalarArrayOpExpr* any = makeNode(ScalarArrayOpExpr);
            any->opno = contained;
            any->opfuncid = get_opcode(contained);
            any->useOr = true;
            any->inputcollid = InvalidOid;
            any->args = list_make2(copyObjectImpl(attributes), makeConst(get_array_type(JSONBOID), -1, InvalidOid, -1,
                                                                         PointerGetDatum(array), false, false));
            any->location = -1;
            parts = lappend(parts, is_true(reinterpret_cast<Expr*>(any)));
        }
        if (condition.min) parts = lappend(parts, range(name, ">=", take_text()));
        if (condition.max) parts = lappend(parts, range(name, "<=", take_text()));
        if (parts == NIL) return constant_bool(true);
        return list_length(parts) == 1 ? static_cast<Expr*>(linitial(parts)) : makeBoolExpr(AND_EXPR, parts, -1);
    }

    // Everything at one level must hold; the result is never NULL.
    SEGMENTATION_PG_CONTEXT Expr* level(const Criteria& criteria) {
        List* parts = NIL;
        for (const Bound& b : criteria.bounds) parts = lappend(parts, bound(b));
        if (criteria.has_loyalty_levels) parts = lappend(parts, loyalty(criteria.loyalty_levels));
        if (!criteria.attributes.empty() && attributes == nullptr) representable = false;  // a database at 1.0
        if (attributes != nullptr)
            for (const AttributeCondition& condition : criteria.attributes)
                parts = lappend(parts, attribute(condition));
        for (const Criteria& child : criteria.all) parts = lappend(parts, level(child));
        if (!criteria.any.empty()) {
            List* options = NIL;
            for (const Criteria& child : criteria.any) options = lappend(options, level(child));
            parts = lappend(parts, list_length(options) == 1 ? linitial(options) : makeBoolExpr(OR_EXPR, options, -1));
        }
        for (const Criteria& child : criteria.negated)
            parts = lappend(parts, makeBoolExpr(NOT_EXPR, list_make1(level(child)), -1));
        if (parts == NIL) return constant_bool(true);
        return list_length(parts) == 1 ? static_cast<Expr*>(linitial(parts)) : makeBoolExpr(AND_EXPR, parts, -1);
    }
};

// Criteria with more conditions than this are not inlined: the expression
// would grow with them, and so would the JIT's compile time (an "any" of
// 20,000 arms took 25 s to compile); segment_match_values compiles any size
// once, in the extension's own matcher.
constexpr std::size_t kMaxInlinedConditions = 1000;

// The conditions (bounds, loyalty lists, combinations) criteria inline into.
std::size_t condition_count(const Criteria& criteria) {
    std::size_t count = 1 + criteria.bounds.size() + (criteria.has_loyalty_levels ? 1 : 0);
    for (const AttributeCondition& condition : criteria.attributes) count += 1 + condition.in.size();
    for (const auto* children : {&criteria.all, &criteria.any, &criteria.negated})
        for (const Criteria& child : *children) count += condition_count(child);
    return count;
}

// Whether a call's customer row can be replaced by its columns: a whole-row
// Var of segmentation.customer_metrics of the query level being planned (an
// outer level has already settled which of its columns inner levels use), in
// a level where nothing can turn the row into NULL (segment_match refuses a
// NULL row; its columns would pass as a customer without data): no outer
// joins, no grouping sets (ROLLUP, CUBE and GROUPING SETS null the columns
// a grouping set leaves out).
SEGMENTATION_PG_CONTEXT bool is_metrics_row(PlannerInfo* root, Node* row, Oid metrics) {
    if (!IsA(row, Var)) return false;
    Var* var = reinterpret_cast<Var*>(row);
    if (var->varattno != 0 || var->varlevelsup != 0) return false;
    if (root->parse == nullptr || var->varno < 1 || static_cast<int>(var->varno) > list_length(root->parse->rtable))
        return false;
    if (root->parse->groupingSets != NIL) return false;
    ListCell* cell;
    foreach (cell, root->parse->rtable) {
        auto* entry = static_cast<RangeTblEntry*>(lfirst(cell));
        if (entry->rtekind == RTE_JOIN && entry->jointype != JOIN_INNER) return false;
    }
    RangeTblEntry* rte = rt_fetch(var->varno, root->parse->rtable);
    return rte->rtekind == RTE_RELATION && rte->relid == metrics;
}

// An as_of that is never NULL and the same wherever the inlined expression
// repeats it: a constant, or the transaction's or statement's clock.
bool never_null_instant(Node* as_of) {
    if (IsA(as_of, Const)) return !reinterpret_cast<Const*>(as_of)->constisnull;
    if (!IsA(as_of, FuncExpr)) return false;
    Oid function = reinterpret_cast<FuncExpr*>(as_of)->funcid;
    return function == F_NOW || function == F_TRANSACTION_TIMESTAMP || function == F_STATEMENT_TIMESTAMP;
}

// PG-style: the Var of segmentation.segments.criteria that `criteria` is,
// in the query level being planned, or nullptr.
SEGMENTATION_PG_CONTEXT Var* stored_criteria(PlannerInfo* root, Node* criteria) {
    if (!IsA(criteria, Var)) return nullptr;
    Var* var = reinterpret_cast<Var*>(criteria);
    if (var->varlevelsup != 0 || var->varno < 1 || static_cast<int>(var->varno) > list_length(root->parse->rtable))
        return nullptr;
    RangeTblEntry* rte = rt_fetch(var->varno, root->parse->rtable);
    Oid segments = catalog().segments;
    if (rte->rtekind != RTE_RELATION || rte->relid != segments || var->varattno != get_attnum(segments, "criteria"))
        return nullptr;
    return var;
}

// PG-style: a system column (ctid or xmin) of range table entry `varno`.
SEGMENTATION_PG_CONTEXT Var* version_var(Index varno, AttrNumber column) {
    return column == SelfItemPointerAttributeNumber ? makeVar(varno, column, TIDOID, -1, InvalidOid, 0)
                                                    : makeVar(varno, column, XIDOID, -1, InvalidOid, 0);
}

}  // namespace

// The planner support function of segment_match(customer_metrics, jsonb, timestamptz).
SEGMENTATION_FUNCTION(segmentation_segment_match_support) {
    Node* request = reinterpret_cast<Node*>(PG_GETARG_POINTER(0));
    if (!IsA(request, SupportRequestSimplify)) PG_RETURN_POINTER(nullptr);
    auto* simplify = reinterpret_cast<SupportRequestSimplify*>(request);
    FuncExpr* fcall = simplify->fcall;
    if (list_length(fcall->args) != 3 || simplify->root == nullptr) PG_RETURN_POINTER(nullptr);
    Node* row = static_cast<Node*>(linitial(fcall->args));
    Node* criteria = static_cast<Node*>(lsecond(fcall->args));
    Node* as_of = static_cast<Node*>(lthird(fcall->args));

    Oid metrics = InvalidOid;
    bool applies = pg::call([&] {
        metrics = catalog().customer_metrics;
        return is_metrics_row(simplify->root, row, metrics);
    });
    if (!applies) PG_RETURN_POINTER(nullptr);

    Builder builder;
    pg::call([&] {
        Var* var = reinterpret_cast<Var*>(row);
        Column found[kMetricColumnCount];
        for (int i = 0; i < kMetricColumnCount; ++i) found[i] = column_of(var, metrics, kMetricColumnNames[i]);
        builder.c = Columns{found[0], found[1], found[2], found[3], found[4]};
        builder.as_of = reinterpret_cast<Expr*>(as_of);
        if (catalog().has_attributes) builder.attributes = column_of(var, metrics, "attributes").var;
    });

    if (IsA(criteria, Const) && !reinterpret_cast<Const*>(criteria)->constisnull && never_null_instant(as_of)) {
        const char* text = pg::call([&] {
            Jsonb* document = DatumGetJsonbP(reinterpret_cast<Const*>(criteria)->constvalue);
            return JsonbToCString(nullptr, &document->root, VARSIZE(document));
        });
        Criteria parsed;
        try {
            parsed = parse_criteria(text);
        } catch (const CriteriaError&) {
            PG_RETURN_POINTER(nullptr);  // left alone: the call reports the error when it runs
        }
        if (uses_attributes(parsed)) {
            // Only attributes the shop tracks, with tests their kinds take:
            // an inlined test would otherwise hide the call's error.
            AttributeSchema schema = tracked_attribute_schema();
            try {
                check_attributes(parsed, schema);
            } catch (const CriteriaError&) {
                PG_RETURN_POINTER(nullptr);
            }
        }
        // inSegment / notInSegment: not over a row; the call reports it when it runs.
        if (!referenced_segments(parsed).empty()) PG_RETURN_POINTER(nullptr);
        // "window": not over a row either (it reads orders); the call reports it.
        if (uses_windows(parsed)) PG_RETURN_POINTER(nullptr);
        if (condition_count(parsed) <= kMaxInlinedConditions) {
            builder.prepare_attributes(parsed);
            Expr* inlined = pg::call([&] { return builder.level(parsed); });
            if (builder.representable) return PointerGetDatum(inlined);
        }
    }
    return pg::call([&] {
        const Columns& c = builder.c;
        List* columns = list_make4(c.lifetime_value.var, c.order_count.var, c.last_order_at.var, c.customer_since.var);
        columns = lappend(columns, c.loyalty_level.var);
        // 1.1's helpers take the attributes after the metric columns; 1.0's have none.
        bool v11 = builder.attributes != nullptr;
        if (v11) columns = lappend(columns, builder.attributes);
        Var* segment = stored_criteria(simplify->root, criteria);
        if (segment != nullptr) {
            // Criteria read from segmentation.segments: both rows' versions
            // come along (see segment_match_rows).
            Var* row_var = reinterpret_cast<Var*>(row);
            List* args = list_concat(list_make2(version_var(row_var->varno, SelfItemPointerAttributeNumber),
                                                version_var(row_var->varno, MinTransactionIdAttributeNumber)),
                                     columns);
            args = lappend(args, criteria);
            args = lappend(args, version_var(segment->varno, SelfItemPointerAttributeNumber));
            args = lappend(args, version_var(segment->varno, MinTransactionIdAttributeNumber));
            args = lappend(args, as_of);
            Oid types[12] = {TIDOID,  XIDOID,   NUMERICOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
                             TEXTOID, JSONBOID, JSONBOID,   TIDOID,  XIDOID,         TIMESTAMPTZOID};
            if (!v11) memmove(&types[7], &types[8], 4 * sizeof(Oid));  // 1.0: no attributes
            Oid function = function_oid("segment_match_rows", v11 ? 12 : 11, types);
            return PointerGetDatum(makeFuncExpr(function, BOOLOID, args, InvalidOid, InvalidOid, kPlannerMadeCall));
        }
        List* args = lappend(lappend(columns, criteria), as_of);
        Oid types[8] = {NUMERICOID, INT8OID,  TIMESTAMPTZOID, TIMESTAMPTZOID,
                        TEXTOID,    JSONBOID, JSONBOID,       TIMESTAMPTZOID};
        if (!v11) memmove(&types[5], &types[6], 2 * sizeof(Oid));
        Oid function = function_oid("segment_match_values", v11 ? 8 : 7, types);
        return PointerGetDatum(makeFuncExpr(function, BOOLOID, args, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    });
}
