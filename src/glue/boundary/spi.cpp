#include "glue/boundary/spi.hpp"

#include <map>
#include <tuple>
#include <unordered_map>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"

namespace segmentation::glue::spi {
namespace {

struct Prepared {
    SPIPlanPtr plan = nullptr;
    uint64 generation = 0;
};

// Keyed by the statement's address (fixed statements) or its text (built ones).
// Per active relation set (placements.hpp): the same statement on another
// shard names other tables.
std::map<std::pair<const Statement*, uint64>, Prepared> fixed_plans;
std::unordered_map<std::string, Prepared> built_plans;

std::string with_key_type(const char* sql) {
    std::string text = sql;
    const char* key_name = pg::call([] { return format_type_be(catalog().key_type); });
    for (std::size_t at = text.find("{key}"); at != std::string::npos; at = text.find("{key}", at))
        text.replace(at, 5, key_name);
    bool v11 = pg::call([] { return catalog().has_attributes; });
    for (const auto& [placeholder, column, missing] :
         {std::tuple{std::string("{attributes}"), "attributes", "NULL::pg_catalog.jsonb"},
          std::tuple{std::string("{attribute_columns}"), "attribute_columns", "NULL::pg_catalog.name[]"}})
        for (std::size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at))
            text.replace(at, placeholder.size(), v11 ? column : missing);
    return localized_sql(text);
}

SPIPlanPtr prepare(const std::string& text, int nargs, const Oid* args, Planning planning = Planning::Auto) {
    return pg::call([&]() -> SPIPlanPtr {
        const Catalog& c = catalog();
        Oid resolved[FUNC_MAX_ARGS];
        for (int i = 0; i < nargs; ++i)
            resolved[i] = args[i] == kKeyType ? c.key_type : args[i] == kKeyArrayType ? c.key_array_type : args[i];
        int options = planning == Planning::Generic ? CURSOR_OPT_GENERIC_PLAN : 0;
        SPIPlanPtr plan = SPI_prepare_cursor(text.c_str(), nargs, resolved, options);
        if (plan == nullptr)
            elog(ERROR, "segmentation: could not prepare statement: %s", SPI_result_code_string(SPI_result));
        SPI_keepplan(plan);
        return plan;
    });
}

void release(Prepared& p) {
    if (p.plan != nullptr) {
        SPIPlanPtr plan = p.plan;
        p.plan = nullptr;
        pg::call([&] { SPI_freeplan(plan); });
    }
}

// True when `p` must be prepared (again): first use, or the catalog changed.
bool stale(const Prepared& p) {
    pg::call([] { (void)base_catalog(); });  // notices a changed catalog (new generation)
    return p.plan == nullptr || p.generation != catalog_generation();
}

void prepare_into(Prepared& p, const std::string& text, int nargs, const Oid* args,
                  Planning planning = Planning::Auto) {
    release(p);
    p.plan = prepare(text, nargs, args, planning);
    p.generation = catalog_generation();
}

uint64 execute(SPIPlanPtr plan, const Datum* values, const char* nulls, bool read_only) {
    return pg::call([&]() -> uint64 {
        int rc = SPI_execute_plan(plan, const_cast<Datum*>(values), nulls, read_only, 0);
        if (rc < 0) elog(ERROR, "segmentation: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
        return SPI_processed;
    });
}

// The innermost OwnerConnection alive (they nest only if an orders
// trigger fires inside another's SQL).
OwnerConnection* deferred = nullptr;

constexpr const char* kPinnedSearchPath = "pg_catalog, pg_temp";

}  // namespace

// Opens the innermost OwnerConnection, if it is not yet open.
void open_deferred() {
    OwnerConnection* c = deferred;
    if (c == nullptr || c->open_) return;
    pg::call([c] {
        GetUserIdAndSecContext(&c->saved_user_, &c->saved_context_);
        HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(c->function_));
        if (!HeapTupleIsValid(proc)) elog(ERROR, "segmentation: cache lookup failed for function %u", c->function_);
        Oid owner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->proowner;
        ReleaseSysCache(proc);
        SetUserIdAndSecContext(owner, c->saved_context_ | SECURITY_LOCAL_USERID_CHANGE);
        if (namespace_search_path == nullptr || strcmp(namespace_search_path, kPinnedSearchPath) != 0) {
            c->guc_level_ = NewGUCNestLevel();
            (void)set_config_option("search_path", kPinnedSearchPath, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                                    0, false);
        }
        // Connected from the trigger's own context, which outlives any a
        // callee may be in now, so that finish() returns to it; the caller
        // goes on in its own, as if connected from the start.
        MemoryContext caller = MemoryContextSwitchTo(c->entry_context_);
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "segmentation: SPI_connect failed");
        MemoryContextSwitchTo(caller);
        c->open_ = true;
    });
}

OwnerConnection::OwnerConnection(Oid function)
    : function_(function), entry_context_(pg::call([] { return CurrentMemoryContext; })), outer_(deferred) {
    deferred = this;
}

OwnerConnection::~OwnerConnection() { deferred = outer_; }

void OwnerConnection::finish() {
    if (!open_) return;
    pg::call([this] {
        SPI_finish();
        if (guc_level_ >= 0) AtEOXact_GUC(true, guc_level_);
        SetUserIdAndSecContext(saved_user_, saved_context_);
    });
    open_ = false;
    guc_level_ = -1;
}

void connect() {
    open_deferred();
    pg::call([] {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "segmentation: SPI_connect failed");
    });
}

void finish() {
    pg::call([] { SPI_finish(); });
}

uint64 run(const Statement& statement, std::initializer_list<Datum> values, const char* nulls, bool read_only) {
    open_deferred();
    const RelationSet* local = active_relations();
    Prepared& p = fixed_plans[{&statement, local != nullptr ? local->id : 0}];
    if (stale(p)) prepare_into(p, with_key_type(statement.sql), statement.nargs, statement.args.data());
    return execute(p.plan, values.begin(), nulls, read_only);
}

uint64 run_text(const std::string& sql, int nargs, const Oid* argtypes, const Datum* values, const char* nulls,
                bool read_only, Planning planning) {
    open_deferred();
    std::string text = localized_sql(sql);
    Prepared& p = built_plans[text];
    if (stale(p)) prepare_into(p, text, nargs, argtypes, planning);
    return execute(p.plan, values, nulls, read_only);
}

uint64 run_once(const std::string& sql, bool read_only) {
    open_deferred();
    std::string text = localized_sql(sql);
    return pg::call([&]() -> uint64 {
        int rc = SPI_execute(text.c_str(), read_only, 0);
        if (rc < 0) elog(ERROR, "segmentation: SPI_execute failed: %s", SPI_result_code_string(rc));
        return SPI_processed;
    });
}

Datum column(uint64 row, int column, bool* null) {
    bool ignored;
    return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, null != nullptr ? null : &ignored);
}

int64 int64_column(uint64 row, int column) { return DatumGetInt64(spi::column(row, column)); }

bool bool_column(uint64 row, int column) { return DatumGetBool(spi::column(row, column)); }

std::optional<TimestampTz> timestamp_column(uint64 row, int column) {
    bool null;
    Datum value = spi::column(row, column, &null);
    return null ? std::nullopt : std::optional<TimestampTz>(DatumGetTimestampTz(value));
}

char* text_column(uint64 row, int column) {
    return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

}  // namespace segmentation::glue::spi
