// segmentation.customers_changed(): the trigger on the tracked customers table.
#include <vector>

#include "glue/boundary/arguments.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/membership/notify.hpp"
#include "glue/boundary/spi.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/tracking/citus.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/tracking/metrics_sql.hpp"
#include "glue/tracking/order_changes.hpp"

using namespace segmentation;
using namespace segmentation::glue;

// Trigger on the tracked customers table (statement level, transition tables).
SEGMENTATION_FUNCTION(segmentation_customers_changed) {
    TriggerData* trigger = trigger_data(fcinfo, "customers_changed");
    spi::connect();
    RelationScope shard(shard_relations(RelationGetRelid(trigger->tg_relation)));
    // A tracked Citus table itself (the coordinator's shell): only its
    // TRUNCATE fires here, and Citus truncates the shards without their
    // triggers (citus.hpp).
    if (active_relations() == nullptr && extension_tables_distributed()) {
        if (TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event)) refuse_truncating_citus_table(trigger->tg_relation);
        spi::finish();
        return PointerGetDatum(nullptr);
    }
    pg::call([&] { SPI_register_trigger_data(trigger); });
    // cached_tracking() refuses a tracking broken behind the event triggers'
    // back (a column dropped in replica mode) before any SQL names its columns.
    std::shared_ptr<const Tracking> tracking = shared_cached_tracking();  // alive while the cache may be replaced
    const Tracking& t = *tracking;
    if (t.customers && t.customers->relation == RelationGetRelid(trigger->tg_relation)) {
        TriggerEvent event = trigger->tg_event;
        // The tracked tables (the orders table is read for a new customer's
        // totals), the definitions lock, then the customers in key order,
        // then the work: the work's statements see everything committed to them.
        if (!TRIGGER_FIRED_BY_TRUNCATE(event)) lock_tracked_tables(t);
        lock_definitions_shared();
        if (TRIGGER_FIRED_BY_TRUNCATE(event)) {
            forget_everyone(Cause::Customer);
        } else {
            lock_customers(transition_keys(t.customers->key_column, !TRIGGER_FIRED_BY_INSERT(event),
                                           !TRIGGER_FIRED_BY_DELETE(event)),
                           true);
            if (TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_INSERT(event)) {
                // New customers take their order totals from the orders table,
                // once every order written for them is committed or ours.
                lock_customers_to_backfill(transition_keys(t.customers->key_column, false, true));
                std::vector<Datum> changed =
                    keys_from_results(spi::run_text(customers_upsert_sql(t, "segmentation_new"), 0, nullptr, nullptr));
                note_backfilled_customers(changed);
                // Before the evaluation: criteria may refer to manual segments (inSegment).
                if (TRIGGER_FIRED_BY_UPDATE(event)) carry_manual_assignments(*t.customers);
                if (t.customers->live && !changed.empty())
                    evaluate_customers(changed, transaction_start(), Cause::Customer);
            }
            // Last: a key that changed has its new metrics row by now.
            if (TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_DELETE(event))
                forget_matching(customers_gone_sql(*t.customers, "segmentation_old"), Cause::Customer);
        }
    }
    flush_shard_notifications();  // Citus: for the coordinator (notify.hpp)
    spi::finish();
    return PointerGetDatum(nullptr);
}
