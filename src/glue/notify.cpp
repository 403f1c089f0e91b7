#include "glue/notify.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "glue/catalog.hpp"
#include "glue/keys.hpp"

namespace segmentation::glue {

bool notify_enabled = true;

namespace {

struct Event {
    std::string customer;  // the key as JSON: a number or a quoted string
    int64 segment;
    bool added;
    SubTransactionId subtransaction;
};

std::vector<Event> events;  // this transaction's, in order

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

std::string payload(const std::string& customer, std::vector<int64> added, std::vector<int64> removed) {
    bool truncated = false;
    for (;;) {
        std::string text = "{\"customer_id\": " + customer + ", \"added\": " + list(added) +
                           ", \"removed\": " + list(removed) + (truncated ? ", \"truncated\": true}" : "}");
        if (text.size() <= kPayloadLimit || (added.empty() && removed.empty())) return text;
        truncated = true;
        if (added.size() >= removed.size()) added.resize(added.size() / 2);
        else removed.resize(removed.size() / 2);
    }
}

// The net change per customer, in order of first change, as palloc'd text.
List* build_payloads() {
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
        if (undone != opposite.end()) opposite.erase(undone);
        else if (std::find(same.begin(), same.end(), e.segment) == same.end()) same.push_back(e.segment);
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

SEGMENTATION_BOUNDARY void at_transaction_event(XactEvent event, void*) {
    if (event != XACT_EVENT_PRE_COMMIT) {
        if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
            event == XACT_EVENT_PARALLEL_ABORT)
            events.clear();
        return;
    }
    if (events.empty()) return;
    // PostgreSQL calls this from C: the same guard discipline as guard().
    List* payloads = NIL;
    ErrorData* postgres_error = nullptr;
    bool failed = false;
    try {
        payloads = build_payloads();
    } catch (const PgError& e) {
        postgres_error = e.data();
    } catch (...) {
        failed = true;
    }
    events.clear();
    if (postgres_error != nullptr) ReThrowError(postgres_error);
    if (failed) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("segmentation: could not build notifications")));
    ListCell* cell;
    foreach (cell, payloads) Async_Notify(kNotifyChannel, static_cast<const char*>(lfirst(cell)));
}

void at_subtransaction_event(SubXactEvent event, SubTransactionId mine, SubTransactionId parent, void*) {
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        events.erase(std::remove_if(events.begin(), events.end(),
                                    [mine](const Event& e) { return e.subtransaction == mine; }),
                     events.end());
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (Event& e : events)
            if (e.subtransaction == mine) e.subtransaction = parent;
    }
}

}  // namespace

void remember_change(Datum customer_key, int64 segment, bool added) {
    if (!notify_enabled) return;
    bool numeric = false;
    const char* text = pg::call([&] {
        Oid type = catalog().key_type;
        numeric = type == INT2OID || type == INT4OID || type == INT8OID;
        return key_to_text(customer_key);
    });
    SubTransactionId subtransaction = pg::call([] { return GetCurrentSubTransactionId(); });
    events.push_back(Event{numeric ? std::string(text) : json_string(text), segment, added, subtransaction});
}

void register_notify_callbacks() {
    RegisterXactCallback(at_transaction_event, nullptr);
    RegisterSubXactCallback(at_subtransaction_event, nullptr);
}

}  // namespace segmentation::glue
