#include "glue/membership/notify.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "glue/boundary/catalog.hpp"
#include "glue/boundary/keys.hpp"
#include "glue/boundary/spi.hpp"

namespace segmentation::glue {

bool notify_enabled = true;
int notify_customer_limit = 1000;

namespace {

struct Event {
    std::string customer;  // the key as JSON: a number or a quoted string
    int64 segment;
    bool added;
    SubTransactionId subtransaction;
};

// Per-customer mode: this transaction's events, in order, and the customers
// they name. Both stay bounded: past the limit the transaction switches to
// summary mode, which frees them.
std::vector<Event> events;
std::unordered_set<std::string> changed_customers;

// Summary mode: entries and exits per segment, kept per subtransaction so
// that ROLLBACK TO drops exactly the rolled-back ones (memory: segments
// changed times savepoint depth, whatever the number of customers). Keyed by
// (subtransaction, segment) so that a subtransaction's counts are one range.
struct Counts {
    int64 added = 0, removed = 0;
};
using CountsKey = std::pair<SubTransactionId, int64>;
bool summary_mode = false;
std::map<CountsKey, Counts> summary_counts;

// A backstop for one customer changing over and over: more events than this
// switch to summary mode too, whatever the number of customers.
constexpr std::size_t kEventsPerCustomerLimit = 64;

void count(std::map<CountsKey, Counts>& into, SubTransactionId subtransaction, int64 segment, bool added) {
    Counts& counts = into[{subtransaction, segment}];
    ++(added ? counts.added : counts.removed);
}

// The events become counts, in their subtransactions; built aside first, so
// that running out of memory halfway leaves per-customer mode intact.
void switch_to_summary() {
    std::map<CountsKey, Counts> counts;
    for (const Event& e : events) count(counts, e.subtransaction, e.segment, e.added);
    summary_counts.swap(counts);
    summary_mode = true;
    std::vector<Event>().swap(events);  // frees the memory, not just the elements
    std::unordered_set<std::string>().swap(changed_customers);
}

void forget_transaction() {
    std::vector<Event>().swap(events);
    std::unordered_set<std::string>().swap(changed_customers);
    summary_counts.clear();
    summary_mode = false;
}

bool anything_to_send() { return !events.empty() || !summary_counts.empty(); }

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

// One payload per changed segment, by segment id, as palloc'd text.
List* build_summary_payloads() {
    std::map<int64, Counts> total;
    for (const auto& [key, counts] : summary_counts) {
        total[key.second].added += counts.added;
        total[key.second].removed += counts.removed;
    }
    List* payloads = NIL;
    for (const auto& [segment, counts] : total) {
        if (counts.added == 0 && counts.removed == 0) continue;
        std::string text = "{\"segment_id\": " + std::to_string(segment) +
                           ", \"added\": " + std::to_string(counts.added) +
                           ", \"removed\": " + std::to_string(counts.removed) + ", \"summary\": true}";
        payloads = pg::call([&] { return lappend(payloads, pstrdup(text.c_str())); });
    }
    return payloads;
}

// The net change per customer, in order of first change, as palloc'd text;
// or the summaries.
List* build_payloads() {
    if (summary_mode) return build_summary_payloads();
    struct Net {
        std::vector<int64> added, removed;
    };
    std::vector<std::string> order;
    std::unordered_map<std::string, Net> nets;
    for (const Event& e : events) {
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
    List* payloads = NIL;
    for (const std::string& customer : order) {
        Net& net = nets[customer];
        if (net.added.empty() && net.removed.empty()) continue;
        std::sort(net.added.begin(), net.added.end());
        std::sort(net.removed.begin(), net.removed.end());
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
    List* payloads = build_payloads();
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
    List* payloads = build_payloads();
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
    (previous_utility_hook ? previous_utility_hook : standard_ProcessUtility)(statement, query, read_only, context,
                                                                              params, environment, dest, completion);
    if (transaction != nullptr && transaction->kind == TRANS_STMT_COMMIT_PREPARED) send_committed_prepared_or_warn();
}

SEGMENTATION_BOUNDARY void at_transaction_event(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_PRE_COMMIT:
            if (anything_to_send()) run_guarded(notify_now);
            break;
        case XACT_EVENT_PRE_PREPARE:
            if (anything_to_send()) run_guarded(save_for_commit_prepared);
            break;
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PREPARE:
        case XACT_EVENT_PARALLEL_ABORT:
            forget_transaction();
            preparing_gid.clear();
            break;
        default: break;
    }
}

// The summary counts of a subtransaction, as a range of summary_counts.
auto counts_of(SubTransactionId subtransaction) {
    return std::make_pair(summary_counts.lower_bound({subtransaction, PG_INT64_MIN}),
                          summary_counts.upper_bound({subtransaction, PG_INT64_MAX}));
}

// A committed subtransaction's counts join its parent's. Moving map nodes
// allocates nothing, so this cannot fail.
void merge_counts_into_parent(SubTransactionId mine, SubTransactionId parent) {
    auto [first, last] = counts_of(mine);
    while (first != last) {
        auto node = summary_counts.extract(first++);
        node.key().first = parent;
        auto inserted = summary_counts.insert(std::move(node));
        if (!inserted.inserted) {  // the parent had counts for that segment: add, and free the node
            inserted.position->second.added += inserted.node.mapped().added;
            inserted.position->second.removed += inserted.node.mapped().removed;
        }
    }
}

// The customers of the remaining events, after a rollback to a savepoint. If
// memory runs out, the old set stays: it counts too many customers, so the
// transaction at worst switches to summary mode early.
void recount_changed_customers() {
    try {
        std::unordered_set<std::string> customers;
        for (const Event& e : events) customers.insert(e.customer);
        changed_customers.swap(customers);
    } catch (...) {
    }
}

// Nothing here allocates without catching: PostgreSQL runs it while a
// subtransaction commits or aborts, where an error must not be raised.
void at_subtransaction_event(SubXactEvent event, SubTransactionId mine, SubTransactionId parent, void*) {
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        events.erase(
            std::remove_if(events.begin(), events.end(), [mine](const Event& e) { return e.subtransaction == mine; }),
            events.end());
        auto [first, last] = counts_of(mine);
        summary_counts.erase(first, last);
        if (!summary_mode) recount_changed_customers();
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (Event& e : events)
            if (e.subtransaction == mine) e.subtransaction = parent;
        merge_counts_into_parent(mine, parent);
    }
}

}  // namespace

void remember_change(Datum customer_key, int64 segment, bool added) {
    if (!notify_enabled) return;
    SubTransactionId subtransaction = pg::call([] { return GetCurrentSubTransactionId(); });
    if (summary_mode) return count(summary_counts, subtransaction, segment, added);
    bool numeric = false;
    const char* text = pg::call([&] {
        Oid type = catalog().key_type;
        numeric = type == INT2OID || type == INT4OID || type == INT8OID;
        return key_to_text(customer_key);
    });
    std::string customer = numeric ? std::string(text) : json_string(text);
    changed_customers.insert(customer);
    const std::size_t limit = static_cast<std::size_t>(notify_customer_limit);
    events.push_back(Event{std::move(customer), segment, added, subtransaction});
    if (changed_customers.size() > limit || events.size() > limit * kEventsPerCustomerLimit) switch_to_summary();
}

void summarize_changes() {
    if (!summary_mode) switch_to_summary();
}

void register_notify_callbacks() {
    RegisterXactCallback(at_transaction_event, nullptr);
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = at_utility;
    RegisterSubXactCallback(at_subtransaction_event, nullptr);
}

}  // namespace segmentation::glue
