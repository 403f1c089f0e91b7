// Loading the extension's library: settings and cache callbacks.
#include "glue/boundary/catalog.hpp"
#include "glue/boundary/placements.hpp"
#include "glue/tracking/order_changes.hpp"
#include "glue/membership/notify.hpp"
#include "glue/membership/segment_cache.hpp"
#include "glue/tracking/configuration.hpp"
#include "glue/segments/actor.hpp"

extern "C" {
PG_MODULE_MAGIC;

SEGMENTATION_PG_CONTEXT void _PG_init(void);

void _PG_init(void) {
    using namespace segmentation::glue;
    DefineCustomStringVariable("segmentation.actor",
                               "Who manual assignments, manual removals and segment deletions are logged as.",
                               "Applications set it per transaction (SET LOCAL segmentation.actor = 'alice'); "
                               "when empty, the current role's name is logged.",
                               &segmentation_actor_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("segmentation.notify", "Sends NOTIFY segmentation_changed when membership changes.",
                             "Turn off for bulk loads whose listeners will re-read everything anyway.", &notify_enabled,
                             true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("segmentation.notify_customer_limit",
                            "Changed customers a transaction announces one by one before it sends summaries.",
                            "Above it, one notification per changed segment with counts is sent at commit.",
                            &notify_customer_limit, 1000, 1, 1000000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("segmentation.citus_notify_at_commit",
                             "On a Citus coordinator, announces the changes a transaction made on the workers at its "
                             "commit.",
                             "Costs a query over every shard of the outbox at each commit that wrote a tracked table; "
                             "off, segmentation.deliver_notifications() (scheduled with pg_cron) announces them.",
                             &citus_notify_at_commit, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("segmentation");
    register_catalog_callbacks();
    register_placement_callbacks();
    register_segment_cache_callbacks();
    register_notify_callbacks();
    register_tracking_callbacks();
    register_order_changes_callbacks();
}
}
