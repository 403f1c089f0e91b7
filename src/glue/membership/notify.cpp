#include "glue/membership/notify.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/boundary/results.hpp"
#include "glue/boundary/spi.hpp"

extern "C" {
#include "executor/executor.h"
}

namespace segmentation::glue {

bool notify_enabled = true;
int notify_customer_limit = 1000;
bool citus_notify_at_commit = false;

namespace {

struct Event {
    std::string customer;  // the key as JSON: a number or a quoted string
    int64 segment;
    bool added;
    SubTransactionId subtransaction;
};

// Summary mode: entries and exits per segment, kept per subtransaction so
// that ROLLBACK TO drops exactly the rolled-back ones (memory: segments
// changed times savepoint depth, whatever the number of customers). Keyed by
// (subtransaction, segment) so that a subtransaction's counts are one range.
struct Counts {
    int64 added = 0, removed = 0;
};
using CountsKey = std::pair<SubTransactionId, int64>;

// Changes of this transaction waiting to be announced.
// Per-customer mode: the events, in order, and the customers they name. Both
// stay bounded: past the limit the changes switch to summary mode, which
// frees them.
struct Pending {
    std::vector<Event> events;
    std::unordered_set<std::string> changed_customers;
    bool summary_mode = false;
    std::map<CountsKey, Counts> summary_counts;
};

// What this node sends with NOTIFY at commit.
Pending sent;

// Citus (docs/citus.md, "Notifications on Citus"): changes made on a shard,
// per shard group, waiting to be written into that group's shard of
// segmentation.notification_outbox, from which the coordinator sends them.
struct ShardPending {
    RelationSetPtr set;
    Pending pending;
};
std::vector<ShardPending> shard_pending;

// A backstop for one customer changing over and over: more events than this
// switch to summary mode too, whatever the number of customers.
constexpr std::size_t kEventsPerCustomerLimit = 64;

void count(std::map<CountsKey, Counts>& into, SubTransactionId subtransaction, int64 segment, bool added) {
    Counts& counts = into[{subtransaction, segment}];
    ++(added ? counts.added : counts.removed);
}

// The events become counts, in their subtransactions; built aside first, so
// that running out of memory halfway leaves per-customer mode intact.
void switch_to_summary(Pending& p) {
    std::map<CountsKey, Counts> counts;
    for (const Event& e : p.events) count(counts, e.subtransaction, e.segment, e.added);
    p.summary_counts.swap(counts);
    p.summary_mode = true;
    std::vector<Event>().swap(p.events);  // frees the memory, not just the elements
    std::unordered_set<std::string>().swap(p.changed_customers);
}

void forget(Pending& p) {
    std::vector<Event>().swap(p.events);
    std::unordered_set<std::string>().swap(p.changed_customers);
    p.summary_counts.clear();
    p.summary_mode = false;
}

void forget_transaction() {
    forget(sent);
    std::vector<ShardPending>().swap(shard_pending);
}

bool anything_in(const Pending& p) { return !p.events.empty() || !p.summary_counts.empty(); }

bool anything_to_send() { return anything_in(sent); }

// Records one change of `customer` (as JSON) in `p`.
void record(Pending& p, std::string customer, int64 segment, bool added, SubTransactionId subtransaction) {
    if (p.summary_mode) return count(p.summary_counts, subtransaction, segment, added);
    p.changed_customers.insert(customer);
    const std::size_t limit = static_cast<std::size_t>(notify_customer_limit);
    p.events.push_back(Event{std::move(customer), segment, added, subtransaction});
    if (p.changed_customers.size() > limit || p.events.size() > limit * kEventsPerCustomerLimit) switch_to_summary(p);
}

std::string json_string(const char* text) {
    std::string out = "\"";
    for (const char* p = text; *p; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char escaped[8];
            snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string list(const std::vector<int64>& ids) {
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out + "]";
}

// NOTIFY payloads must stay under 8000 bytes; very long lists are cut and
// the payload says so, so that a listener knows to re-read the customer.
constexpr std::size_t kPayloadLimit = 7800;
// A customer id longer than this (as JSON) is cut too: it must never make the
// notification, and so the commit, fail.
constexpr std::size_t kCustomerLimit = 1000;

// The length of the JSON string token (an escape or a UTF-8 character) at `at`.
std::size_t token_length(const std::string& quoted, std::size_t at) {
    unsigned char c = static_cast<unsigned char>(quoted[at]);
    if (c == '\\') return quoted[at + 1] == 'u' ? 6 : 2;
    if (c >= 0xF0) return 4;
    if (c >= 0xE0) return 3;
    if (c >= 0xC0) return 2;
    return 1;
}

// A JSON string cut to at most `limit` bytes, between characters.
std::string cut_json_string(const std::string& quoted, std::size_t limit) {
    std::size_t end = 1;
    while (end + 1 < quoted.size()) {
        std::size_t next = end + token_length(quoted, end);
        if (next + 1 > limit) break;
        end = next;
    }
    return quoted.substr(0, end) + "\"";
}

std::string payload(const std::string& customer, std::vector<int64> added, std::vector<int64> removed) {
    bool truncated = customer.size() > kCustomerLimit;
    const std::string id = truncated ? cut_json_string(customer, kCustomerLimit) : customer;
    for (;;) {
        std::string text = "{\"customer_id\": " + id + ", \"added\": " + list(added) +
                           ", \"removed\": " + list(removed) + (truncated ? ", \"truncated\": true}" : "}");
        if (text.size() <= kPayloadLimit || (added.empty() && removed.empty())) return text;
        truncated = true;
        if (added.size() >= removed.size())
            added.resize(added.size() / 2);
        else
            removed.resize(removed.size() / 2);
    }
}

// Entries and exits per changed segment, by segment id.
std::map<int64, Counts> segment_totals(const Pending& p) {
    std::map<int64, Counts> total;
    for (const auto& [key, counts] : p.summary_counts) {
        total[key.second].added += counts.added;
        total[key.second].removed += counts.removed;
    }
    return total;
}

// One payload per changed segment, by segment id, as palloc'd text.
List* build_summary_payloads(const Pending& p) {
    List* payloads = NIL;
    for (const auto& [segment, counts] : segment_totals(p)) {
        if (counts.added == 0 && counts.removed == 0) continue;
        std::string text = "{\"segment_id\": " + std::to_string(segment) +
                           ", \"added\": " + std::to_string(counts.added) +
                           ", \"removed\": " + std::to_string(counts.removed) + ", \"summary\": true}";
        payloads = pg::call([&] { return lappend(payloads, pstrdup(text.c_str())); });
    }
    return payloads;
}

struct Net {
    std::vector<int64> added, removed;
};

// The net change per customer, in order of first change.
std::vector<std::pair<std::string, Net>> net_changes(const Pending& p) {
    std::vector<std::string> order;
    std::unordered_map<std::string, Net> nets;
    for (const Event& e : p.events) {
        auto [it, inserted] = nets.try_emplace(e.customer);
        if (inserted) order.push_back(e.customer);
        auto& same = e.added ? it->second.added : it->second.removed;
        auto& opposite = e.added ? it->second.removed : it->second.added;
        auto undone = std::find(opposite.begin(), opposite.end(), e.segment);
        if (undone != opposite.end())
            opposite.erase(undone);
        else if (std::find(same.begin(), same.end(), e.segment) == same.end())
            same.push_back(e.segment);
    }
    std::vector<std::pair<std::string, Net>> out;
    for (const std::string& customer : order) {
        Net& net = nets[customer];
        if (net.added.empty() && net.removed.empty()) continue;
        std::sort(net.added.begin(), net.added.end());
        std::sort(net.removed.begin(), net.removed.end());
        out.emplace_back(customer, std::move(net));
    }
    return out;
}

// The net change per customer, in order of first change, as palloc'd text;
// or the summaries.
List* build_payloads(const Pending& p) {
    if (p.summary_mode) return build_summary_payloads(p);
    List* payloads = NIL;
    for (auto& [customer, net] : net_changes(p)) {
        std::string text = payload(customer, net.added, net.removed);
        payloads = pg::call([&] { return lappend(payloads, pstrdup(text.c_str())); });
    }
    return payloads;
}

// Runs `body` from a callback PostgreSQL calls from C: the same discipline
// as guard(), reporting a C++ failure only once its frames are gone.
SEGMENTATION_BOUNDARY void run_guarded(void (*body)()) {
    ErrorData* postgres_error = nullptr;
    bool failed = false;
    try {
        body();
    } catch (const PgError& e) {
        postgres_error = e.data();
    } catch (...) {
        failed = true;
    }
    if (postgres_error != nullptr) ReThrowError(postgres_error);
    if (failed) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("segmentation: could not build notifications")));
}

void notify_now() {
    List* payloads = build_payloads(sent);
    forget_transaction();
    pg::call([&] {
        ListCell* cell;
        foreach (cell, payloads) Async_Notify(kNotifyChannel, static_cast<const char*>(lfirst(cell)));
    });
}

// ---- two-phase commit ----------------------------------------------------------
// PostgreSQL refuses PREPARE TRANSACTION after NOTIFY. So a transaction being
// prepared writes its notifications into segmentation.prepared_notifications
// instead: the rows commit with COMMIT PREPARED and vanish with ROLLBACK
// PREPARED, and the session that runs COMMIT PREPARED sends and deletes them.

const char* const kSaveNotifications =
    "INSERT INTO segmentation.prepared_notifications (gid, payload) "
    "SELECT $1, p FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS u(p, n) ORDER BY n";
// Every row visible is committed (only prepared transactions write them).
const char* const kTakeNotifications =
    "WITH sent AS (DELETE FROM segmentation.prepared_notifications RETURNING id, payload) "
    "SELECT payload FROM sent ORDER BY id";

std::string preparing_gid;  // of the PREPARE TRANSACTION being run
ProcessUtility_hook_type previous_utility_hook = nullptr;

// The outbox, or InvalidOid in a database without the extension.
Oid outbox() {
    return pg::call([] {
        Oid schema = get_namespace_oid("segmentation", true);
        return OidIsValid(schema) ? get_relname_relid("prepared_notifications", schema) : InvalidOid;
    });
}

// Runs SQL on the outbox as its owner: the session's role needs no right on
// it (like the triggers, which run as the extension's owner).
void run_on_outbox(Oid relation, const char* sql, int nargs, Oid* types, Datum* values) {
    Oid saved_user;
    int saved_context;
    pg::call([&] {
        Relation rel = table_open(relation, AccessShareLock);
        Oid owner = rel->rd_rel->relowner;
        table_close(rel, AccessShareLock);
        GetUserIdAndSecContext(&saved_user, &saved_context);
        SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
        // Outside any statement (at PREPARE, after COMMIT PREPARED): SPI needs a snapshot.
        PushActiveSnapshot(GetTransactionSnapshot());
    });
    try {
        spi::run_text(sql, nargs, types, values);
    } catch (...) {
        pg::call([&] { SetUserIdAndSecContext(saved_user, saved_context); });
        throw;  // the transaction's abort pops the snapshot
    }
    pg::call([&] {
        PopActiveSnapshot();
        SetUserIdAndSecContext(saved_user, saved_context);
    });
}

void save_for_commit_prepared() {
    Oid relation = outbox();
    if (!OidIsValid(relation)) return forget_transaction();
    List* payloads = build_payloads(sent);
    forget_transaction();
    if (payloads == NIL) return;
    spi::connect();
    Datum values[2];
    Oid types[2] = {TEXTOID, TEXTARRAYOID};
    pg::call([&] {
        values[0] = CStringGetTextDatum(preparing_gid.c_str());
        Datum* texts = static_cast<Datum*>(palloc(sizeof(Datum) * list_length(payloads)));
        int i = 0;
        ListCell* cell;
        foreach (cell, payloads) texts[i++] = CStringGetTextDatum(static_cast<const char*>(lfirst(cell)));
        values[1] = PointerGetDatum(construct_array(texts, i, TEXTOID, -1, false, TYPALIGN_INT));
    });
    run_on_outbox(relation, kSaveNotifications, 2, types, values);
    spi::finish();
}

void send_committed_prepared() {
    Oid relation = outbox();
    if (!OidIsValid(relation)) return;
    spi::connect();
    run_on_outbox(relation, kTakeNotifications, 0, nullptr, nullptr);
    pg::call([] {
        for (uint64 row = 0; row < SPI_processed; ++row)
            Async_Notify(kNotifyChannel, SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1));
    });
    spi::finish();
}

// Runs after COMMIT PREPARED has committed: a failure to send must not look
// like a failed commit, so it is a warning, and the rows wait for the next one.
SEGMENTATION_BOUNDARY void send_committed_prepared_or_warn() {
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    BeginInternalSubTransaction(nullptr);
    // PostgreSQL's PG_TRY blocks keep their own layout.
    // clang-format off
    PG_TRY();
    {
        run_guarded(send_committed_prepared);
        ReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(context);
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        ereport(WARNING, (errmsg("segmentation: notifications of committed prepared transactions not sent: %s", error->message),
                          errhint("The next COMMIT PREPARED in a session that has used the extension sends them.")));
        FreeErrorData(error);
    }
    PG_END_TRY();
    // clang-format on
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
}

// ---- Citus: the outbox -------------------------------------------------------
// (docs/citus.md, "Notifications on Citus".) A node's NOTIFY reaches only the
// listeners connected to that node. So the changes made on a shard (order
// writes, the nodes' part of refresh_all, segment population, delegated
// calls) are not announced there: each top-level statement that made some
// writes them into the shard group's shard of
// segmentation.notification_outbox, tagged with the Citus global process id
// of the session whose work it is (for the coordinator's statements, the
// coordinator session's). The coordinator's session reads and deletes its
// rows before it commits (at_transaction_event), through the connections of
// its distributed transaction, so it sees them uncommitted, and announces
// them with its own NOTIFY, at its commit, with the one-server rules. Rows
// nobody drained (writes made straight on a worker, sessions that ended
// without the library) are sent by deliver_notifications().

// Written by the statement that made the changes: never a distributed query
// (the outbox's name is the local shard's in the group's RelationScope).
const char* const kWriteOutbox =
    "INSERT INTO segmentation.notification_outbox (origin, written_at, ordinal, customer, segment_id, added, removed) "
    "SELECT pg_catalog.citus_backend_gpid(), pg_catalog.clock_timestamp(), u.n, u.c, u.s, u.a, u.r "
    "FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.int8[]), "
    "pg_catalog.unnest($3::pg_catalog.int8[]), pg_catalog.unnest($4::pg_catalog.int8[])) "
    "WITH ORDINALITY AS u(c, s, a, r, n)";

// Rows of a given origin ($1) or of origins not in $1, taken in one
// statement: per customer (in the order written) when there are at most $2
// and no summaries among them, else summed per segment (bounded memory).
std::string take_outbox_sql(const char* condition) {
    return std::string("WITH taken AS (DELETE FROM segmentation.notification_outbox WHERE ") + condition +
           " RETURNING written_at, ordinal, customer, segment_id, added, removed), "
           "shape AS (SELECT pg_catalog.count(*) FILTER (WHERE customer IS NULL) = 0 "
           "AND pg_catalog.count(*) <= $2 AS per_customer FROM taken) "
           "SELECT customer, segment_id, added, removed FROM ("
           "  SELECT t.written_at, t.ordinal, t.customer, t.segment_id, t.added, t.removed "
           "  FROM taken t, shape WHERE shape.per_customer "
           "  UNION ALL "
           "  SELECT NULL, NULL, NULL, t.segment_id, pg_catalog.sum(t.added)::pg_catalog.int8, "
           "  pg_catalog.sum(t.removed)::pg_catalog.int8 FROM taken t, shape WHERE NOT shape.per_customer "
           "  GROUP BY t.segment_id) AS r "
           "ORDER BY r.written_at, r.ordinal, r.segment_id";
}

// Whether this transaction ran a statement that may have made changes on
// shards (only such transactions look for outbox rows).
bool transaction_wrote = false;
// Whether our transaction callbacks run before Citus's: then the
// coordinator's distributed transaction is still open when ours run. True
// when the library is loaded after Citus (always, unless it is listed before
// citus in shared_preload_libraries).
bool before_citus_callbacks = false;
std::optional<bool> on_coordinator;  // per backend
// A session that sends its own outbox rows at commit says so to
// deliver_notifications() by holding this session-level advisory lock
// (key: this number and the session's pid), from its first such commit on.
constexpr int32 kDrainingLockKey = 0x5345474E;  // "SEGN"
bool draining_lock_held = false;

// `function` (pg_advisory_lock or pg_advisory_unlock) of that lock.
std::string draining_lock_sql(const char* function) {
    return std::string("SELECT pg_catalog.") + function + "(" + std::to_string(kDrainingLockKey) +
           ", pg_catalog.pg_backend_pid())";
}
bool in_transaction_statement = false;  // COMMIT, ROLLBACK, PREPARE TRANSACTION, ... running
ExecutorStart_hook_type previous_executor_start = nullptr;
ExecutorFinish_hook_type previous_executor_finish = nullptr;

Pending& shard_buffer(const RelationSetPtr& set) {
    for (ShardPending& s : shard_pending)
        if (s.set->id == set->id) return s.pending;
    shard_pending.push_back(ShardPending{set, Pending{}});
    return shard_pending.back().pending;
}

// The pending changes of one shard group as outbox rows.
void write_outbox_rows(const Pending& p) {
    std::vector<std::optional<std::string>> customers;
    std::vector<int64> segments, added, removed;
    if (p.summary_mode) {
        for (const auto& [segment, counts] : segment_totals(p)) {
            if (counts.added == 0 && counts.removed == 0) continue;
            customers.emplace_back();
            segments.push_back(segment);
            added.push_back(counts.added);
            removed.push_back(counts.removed);
        }
    } else {
        for (const auto& [customer, net] : net_changes(p)) {
            for (int64 segment : net.added) {
                customers.emplace_back(customer);
                segments.push_back(segment);
                added.push_back(1);
                removed.push_back(0);
            }
            for (int64 segment : net.removed) {
                customers.emplace_back(customer);
                segments.push_back(segment);
                added.push_back(0);
                removed.push_back(1);
            }
        }
    }
    if (segments.empty()) return;
    Datum args[4];
    Oid types[4] = {TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
    pg::call([&] {
        int n = static_cast<int>(segments.size());
        Datum* texts = static_cast<Datum*>(palloc(sizeof(Datum) * n));
        bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * n));
        for (int i = 0; i < n; ++i) {
            nulls[i] = !customers[i].has_value();
            texts[i] = nulls[i] ? (Datum)0 : CStringGetTextDatum(customers[i]->c_str());
        }
        int dims[1] = {n}, lbs[1] = {1};
        args[0] = PointerGetDatum(construct_md_array(texts, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
    });
    args[1] = int64_array(segments);
    args[2] = int64_array(added);
    args[3] = int64_array(removed);
    spi::run_text(kWriteOutbox, 4, types, args);
}

// Writes every shard group's pending changes into its outbox shard. Runs
// where no RelationScope is active (the end of a top-level statement, or the
// transaction's end).
void flush_shard_pending() {
    if (shard_pending.empty()) return;
    std::vector<ShardPending> taken;
    taken.swap(shard_pending);
    spi::connect();
    for (const ShardPending& s : taken) {
        if (!anything_in(s.pending)) continue;
        RelationScope scope(s.set);
        write_outbox_rows(s.pending);
    }
    spi::finish();
}

// The same, outside any statement (at PRE_COMMIT or PRE_PREPARE, for
// changes no statement end has written yet): SPI needs a snapshot.
void flush_shard_pending_at_end() {
    pg::call([] { PushActiveSnapshot(GetTransactionSnapshot()); });
    flush_shard_pending();
    pg::call([] { PopActiveSnapshot(); });
}

// Feeds one outbox row into what this node sends at commit.
void take_outbox_row(const char* customer, int64 segment, int64 added, int64 removed) {
    if (!notify_enabled) return;
    SubTransactionId subtransaction = pg::call([] { return GetCurrentSubTransactionId(); });
    if (customer == nullptr) {
        if (!sent.summary_mode) switch_to_summary(sent);
        Counts& counts = sent.summary_counts[{subtransaction, segment}];
        counts.added += added;
        counts.removed += removed;
        return;
    }
    for (int64 i = 0; i < added; ++i) record(sent, customer, segment, true, subtransaction);
    for (int64 i = 0; i < removed; ++i) record(sent, customer, segment, false, subtransaction);
}

// Runs a take_outbox_sql statement and feeds its rows; returns the number of
// membership changes taken. Needs SPI.
int64 take_outbox(const char* condition, Datum origins, Oid origins_type) {
    Datum args[2] = {origins, Int64GetDatum(static_cast<int64>(notify_customer_limit) *
                                            static_cast<int64>(kEventsPerCustomerLimit))};
    Oid types[2] = {origins_type, INT8OID};
    // One connection per node: the one whose transaction wrote the rows.
    int level = pg::call([] { return NewGUCNestLevel(); });
    pg::call([] {
        (void)set_config_option("citus.multi_shard_modify_mode", "sequential", PGC_USERSET, PGC_S_SESSION,
                                GUC_ACTION_SAVE, true, 0, false);
    });
    uint64 rows = spi::run_text(take_outbox_sql(condition), 2, types, args);
    int64 changes = 0;
    for (uint64 row = 0; row < rows; ++row) {
        const char* customer = nullptr;
        int64 segment = 0, added = 0, removed = 0;
        pg::call([&] {
            customer = spi::text_column(row, 1);
            segment = spi::int64_column(row, 2);
            added = spi::int64_column(row, 3);
            removed = spi::int64_column(row, 4);
        });
        take_outbox_row(customer, segment, added, removed);
        changes += added + removed;
    }
    pg::call([&] { AtEOXact_GUC(true, level); });
    return changes;
}

bool citus_internal_backend() {
    const char* name = pg::call([] { return GetConfigOption("application_name", true, false); });
    return name != nullptr && strncmp(name, "citus_", 6) == 0 && strstr(name, " gpid=") != nullptr;
}

// The outbox, when this database's extension has it.
Oid outbox_relation() {
    return pg::call([] {
        Oid schema = get_namespace_oid("segmentation", true);
        return OidIsValid(schema) ? get_relname_relid("notification_outbox", schema) : InvalidOid;
    });
}

// Whether this session is the coordinator's session of a distributed
// transaction that may have left rows in the outbox, and may read them.
// Needs SPI.
bool drains_here(Oid relation) {
    // Through the session's own connections, so as the session's role; a
    // role that may not read the outbox leaves its rows to
    // deliver_notifications() (checked first: its lookups would fail).
    if (!OidIsValid(relation) || !pg::call([&] {
            return pg_class_aclcheck(relation, GetUserId(), ACL_SELECT | ACL_DELETE) == ACLCHECK_OK &&
                   compat::pg_namespace_aclcheck(get_rel_namespace(relation), GetUserId(), ACL_USAGE) == ACLCHECK_OK;
        }))
        return false;
    if (!extension_tables_distributed()) return false;
    if (!on_coordinator) {
        spi::run_once("SELECT groupid = 0 FROM pg_catalog.pg_dist_local_group", true);
        on_coordinator = pg::call([] { return SPI_processed > 0 && spi::bool_column(0, 1); });
    }
    return *on_coordinator && !citus_internal_backend();
}

// At PRE_COMMIT on the coordinator: this session's outbox rows, announced
// with this transaction.
void drain_own_outbox() {
    Oid relation = outbox_relation();
    if (!OidIsValid(relation) || !pg::call([] { return citus_present(); })) return;
    pg::call([] { PushActiveSnapshot(GetTransactionSnapshot()); });
    spi::connect();
    if (drains_here(relation)) {
        spi::run_once("SELECT pg_catalog.citus_backend_gpid()::pg_catalog.int8", true);
        Datum origin = pg::call([] { return Int64GetDatum(spi::int64_column(0, 1)); });
        if (!draining_lock_held) {
            spi::run_once(draining_lock_sql("pg_advisory_lock"));
            draining_lock_held = true;
        }
        Oid types[1] = {INT8OID};
        // Most transactions have none: a read first (one connection per
        // node, those of the transaction), the delete only then.
        int level = pg::call([] { return NewGUCNestLevel(); });
        pg::call([] {
            (void)set_config_option("citus.multi_shard_modify_mode", "sequential", PGC_USERSET, PGC_S_SESSION,
                                    GUC_ACTION_SAVE, true, 0, false);
        });
        if (spi::run_text("SELECT 1 FROM segmentation.notification_outbox WHERE origin = $1 LIMIT 1", 1, types, &origin,
                          nullptr, true) > 0)
            take_outbox("origin = $1", origin, INT8OID);
        pg::call([&] { AtEOXact_GUC(true, level); });
    }
    spi::finish();
    pg::call([] { PopActiveSnapshot(); });
}

// The session no longer sends its own outbox rows at commit (the setting
// was turned off): deliver_notifications() must not skip them any more.
void stop_draining() {
    pg::call([] { PushActiveSnapshot(GetTransactionSnapshot()); });  // (at PRE_COMMIT: none is active)
    spi::connect();
    spi::run_once(draining_lock_sql("pg_advisory_unlock"));
    draining_lock_held = false;
    spi::finish();
    pg::call([] { PopActiveSnapshot(); });
}

// Whether writing `relation` may change membership on the nodes: one of the
// extension's tables (segments, the cluster tasks and calls, ...) or a
// tracked table (it has the tracking triggers, named segmentation_*).
// PG-style.
SEGMENTATION_PG_CONTEXT bool may_change_membership(Oid relation) {
    Oid schema = get_rel_namespace(relation);
    if (!OidIsValid(schema)) return false;
    if (schema == get_namespace_oid("segmentation", true)) return true;
    Relation rel = RelationIdGetRelation(relation);
    if (rel == nullptr) return false;
    bool tracked = false;
    if (rel->trigdesc != nullptr)
        for (int i = 0; i < rel->trigdesc->numtriggers && !tracked; ++i)
            tracked = strncmp(rel->trigdesc->triggers[i].tgname, "segmentation_", 13) == 0;
    RelationClose(rel);
    return tracked;
}

// Notes that the transaction writes a table whose writes may leave outbox
// rows (on a Citus database only: elsewhere nothing reads the flag). Citus
// keeps the distributed tables' entries in its plans' permission entries, for
// the permission checks. PG-style.
SEGMENTATION_PG_CONTEXT void note_written(PlannedStmt* plan) {
    if (transaction_wrote || !citus_present()) return;
    ListCell* cell;
    foreach (cell, compat::written_relations(plan)) {
        if (may_change_membership(lfirst_oid(cell))) {
            transaction_wrote = true;
            return;
        }
    }
}

SEGMENTATION_PG_CONTEXT void note_written(RangeVar* relation) {
    if (transaction_wrote || relation == nullptr || !citus_present()) return;
    Oid relid = RangeVarGetRelid(relation, NoLock, true);
    if (OidIsValid(relid) && may_change_membership(relid)) transaction_wrote = true;
}

SEGMENTATION_BOUNDARY void at_executor_start(QueryDesc* query, int flags) {
    if (query->operation != CMD_SELECT || query->plannedstmt->hasModifyingCTE) note_written(query->plannedstmt);
    (previous_executor_start ? previous_executor_start : standard_ExecutorStart)(query, flags);
}

// Whether a statement that changes this node's changes can be written now:
// inside no RelationScope (not in the middle of the extension's own work),
// and not while a transaction statement (ROLLBACK, ...) runs.
bool can_flush_now() {
    return !shard_pending.empty() && active_relations() == nullptr && !in_transaction_statement &&
           pg::call([] { return IsTransactionState(); });
}

SEGMENTATION_BOUNDARY void at_executor_finish(QueryDesc* query) {
    (previous_executor_finish ? previous_executor_finish : standard_ExecutorFinish)(query);
    if (can_flush_now()) run_guarded(flush_shard_pending);
}

SEGMENTATION_BOUNDARY void at_utility(PlannedStmt* statement, const char* query, bool read_only,
                                      ProcessUtilityContext context, ParamListInfo params,
                                      QueryEnvironment* environment, DestReceiver* dest, QueryCompletion* completion) {
    Node* tree = statement->utilityStmt;
    TransactionStmt* transaction = IsA(tree, TransactionStmt) ? reinterpret_cast<TransactionStmt*>(tree) : nullptr;
    // The transaction is prepared after this statement, at XACT_EVENT_PRE_PREPARE.
    if (transaction != nullptr && transaction->kind == TRANS_STMT_PREPARE) {
        try {
            preparing_gid = transaction->gid;
        } catch (...) {
            preparing_gid.clear();  // the GID is only informative
        }
    }
    if (IsA(tree, CopyStmt) && reinterpret_cast<CopyStmt*>(tree)->is_from)
        note_written(reinterpret_cast<CopyStmt*>(tree)->relation);
    if (IsA(tree, TruncateStmt)) {
        ListCell* cell;
        foreach (cell, reinterpret_cast<TruncateStmt*>(tree)->relations)
            note_written(static_cast<RangeVar*>(lfirst(cell)));
    }
    // (Citus runs queries of its own during a ROLLBACK: no outbox write then.
    // After an error, the transaction's end resets the flag.)
    bool was_in_transaction_statement = in_transaction_statement;
    if (transaction != nullptr) in_transaction_statement = true;
    (previous_utility_hook ? previous_utility_hook : standard_ProcessUtility)(statement, query, read_only, context,
                                                                              params, environment, dest, completion);
    in_transaction_statement = was_in_transaction_statement;
    if (transaction != nullptr && transaction->kind == TRANS_STMT_COMMIT_PREPARED) send_committed_prepared_or_warn();
    // (COPY into a shard fires its triggers outside the executor.)
    if (transaction == nullptr && can_flush_now()) run_guarded(flush_shard_pending);
}

SEGMENTATION_BOUNDARY void at_transaction_event(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_PRE_COMMIT:
            if (!shard_pending.empty()) run_guarded(flush_shard_pending_at_end);
            // (Before Citus prepares or commits the nodes' transactions.)
            if (transaction_wrote && before_citus_callbacks) {
                if (citus_notify_at_commit)
                    run_guarded(drain_own_outbox);
                else if (draining_lock_held)
                    run_guarded(stop_draining);  // deliver_notifications() takes this session's rows again
            }
            if (anything_to_send()) run_guarded(notify_now);
            break;
        case XACT_EVENT_PRE_PREPARE:
            if (!shard_pending.empty()) run_guarded(flush_shard_pending_at_end);
            if (anything_to_send()) run_guarded(save_for_commit_prepared);
            break;
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PREPARE:
        case XACT_EVENT_PARALLEL_ABORT:
            forget_transaction();
            preparing_gid.clear();
            transaction_wrote = false;
            in_transaction_statement = false;
            break;
        default: break;
    }
}

// The summary counts of a subtransaction, as a range of summary_counts.
auto counts_of(Pending& p, SubTransactionId subtransaction) {
    return std::make_pair(p.summary_counts.lower_bound({subtransaction, PG_INT64_MIN}),
                          p.summary_counts.upper_bound({subtransaction, PG_INT64_MAX}));
}

// A committed subtransaction's counts join its parent's. Moving map nodes
// allocates nothing, so this cannot fail.
void merge_counts_into_parent(Pending& p, SubTransactionId mine, SubTransactionId parent) {
    auto [first, last] = counts_of(p, mine);
    while (first != last) {
        auto node = p.summary_counts.extract(first++);
        node.key().first = parent;
        auto inserted = p.summary_counts.insert(std::move(node));
        if (!inserted.inserted) {  // the parent had counts for that segment: add, and free the node
            inserted.position->second.added += inserted.node.mapped().added;
            inserted.position->second.removed += inserted.node.mapped().removed;
        }
    }
}

// The customers of the remaining events, after a rollback to a savepoint. If
// memory runs out, the old set stays: it counts too many customers, so the
// transaction at worst switches to summary mode early.
void recount_changed_customers(Pending& p) {
    try {
        std::unordered_set<std::string> customers;
        for (const Event& e : p.events) customers.insert(e.customer);
        p.changed_customers.swap(customers);
    } catch (...) {
    }
}

void at_subtransaction_end(Pending& p, SubXactEvent event, SubTransactionId mine, SubTransactionId parent) {
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        p.events.erase(std::remove_if(p.events.begin(), p.events.end(),
                                      [mine](const Event& e) { return e.subtransaction == mine; }),
                       p.events.end());
        auto [first, last] = counts_of(p, mine);
        p.summary_counts.erase(first, last);
        if (!p.summary_mode) recount_changed_customers(p);
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (Event& e : p.events)
            if (e.subtransaction == mine) e.subtransaction = parent;
        merge_counts_into_parent(p, mine, parent);
    }
}

// Nothing here allocates without catching: PostgreSQL runs it while a
// subtransaction commits or aborts, where an error must not be raised.
void at_subtransaction_event(SubXactEvent event, SubTransactionId mine, SubTransactionId parent, void*) {
    at_subtransaction_end(sent, event, mine, parent);
    for (ShardPending& s : shard_pending) at_subtransaction_end(s.pending, event, mine, parent);
}

}  // namespace

void remember_change(Datum customer_key, int64 segment, bool added) {
    if (!notify_enabled) return;
    SubTransactionId subtransaction = pg::call([] { return GetCurrentSubTransactionId(); });
    // On a Citus shard, for the outbox; else for this node's NOTIFY.
    RelationSetPtr set = active_relation_set();
    Pending& p = set && set->sharded ? shard_buffer(set) : sent;
    if (p.summary_mode) return count(p.summary_counts, subtransaction, segment, added);
    bool numeric = false;
    const char* text = pg::call([&] {
        Oid type = catalog().key_type;
        numeric = type == INT2OID || type == INT4OID || type == INT8OID;
        return key_to_text(customer_key);
    });
    record(p, numeric ? std::string(text) : json_string(text), segment, added, subtransaction);
}

void summarize_changes() {
    if (!sent.summary_mode) switch_to_summary(sent);
}

void flush_shard_notifications() { flush_shard_pending(); }

void register_notify_callbacks() {
    // A Citus setting defined (not a placeholder from postgresql.conf): Citus
    // was loaded first, so our transaction callbacks run before its own.
    before_citus_callbacks =
        GetConfigOption("citus.max_adaptive_executor_pool_size", true, false) != nullptr &&
        (GetConfigOptionFlags("citus.max_adaptive_executor_pool_size", true) & GUC_CUSTOM_PLACEHOLDER) == 0;
    RegisterXactCallback(at_transaction_event, nullptr);
    previous_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = at_executor_start;
    previous_executor_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = at_executor_finish;
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = at_utility;
    RegisterSubXactCallback(at_subtransaction_event, nullptr);
}

}  // namespace segmentation::glue

using namespace segmentation;
using namespace segmentation::glue;

// segmentation.deliver_notifications(): on a Citus coordinator, sends the
// outbox rows no session will send at its commit (docs/citus.md).
SEGMENTATION_FUNCTION(segmentation_deliver_notifications) {
    spi::connect();
    int64 changes = 0;
    Oid relation = outbox_relation();
    if (OidIsValid(relation) && pg::call([] { return citus_present(); }) && extension_tables_distributed()) {
        spi::run_once("SELECT groupid = 0 FROM pg_catalog.pg_dist_local_group", true);
        if (!pg::call([] { return SPI_processed > 0 && spi::bool_column(0, 1); }))
            throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "segmentation.deliver_notifications() runs on the coordinator",
                        "Its notifications reach the listeners connected to the node that sends them.",
                        "Call it on the Citus coordinator (pg_cron there).");
        // One delivery at a time: two would wait on each other's rows.
        spi::run_once(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('segmentation.deliver_notifications'))");
        // The sessions that send their own rows at commit: those holding the
        // advisory lock of kDrainingLockKey (their rows may be uncommitted,
        // or committed by a single-shard statement and taken at their next
        // commit). This session's own are taken here.
        spi::run_once(
            "SELECT COALESCE(pg_catalog.array_agg(n.id::pg_catalog.int8 * 10000000000 + l.pid), "
            "'{}'::pg_catalog.int8[]) FROM pg_catalog.pg_locks l, "
            "(SELECT pg_catalog.citus_nodeid_for_gpid(pg_catalog.citus_backend_gpid()) AS id) n "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = " +
                std::to_string(kDrainingLockKey) +
                " AND l.objid::pg_catalog.int8 = l.pid AND l.pid <> pg_catalog.pg_backend_pid()",
            true);
        Datum live = pg::call([] { return spi::column(0, 1); });
        changes = take_outbox("origin <> ALL ($1)", live, INT8ARRAYOID);
    }
    spi::finish();
    return Int64GetDatum(changes);
}
