// NOTIFY segmentation_changed: once per customer per committed transaction,
// with the net change, e.g. {"customer_id": 42, "added": [3], "removed": []}.
// Changes made in a rolled-back subtransaction are forgotten with it.
// Past segmentation.notify_customer_limit changed customers, a transaction
// sends one summary per changed segment instead, e.g.
// {"segment_id": 7, "added": 120, "removed": 3, "summary": true}.
#pragma once

#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

constexpr const char* kNotifyChannel = "segmentation_changed";

// Records one membership change of the current (sub)transaction.
void remember_change(Datum customer_key, int64 segment, bool added);

// Switches the current transaction to summaries now, whatever the number of
// customers: each step of an online segment change sends one summary per
// segment it moved anyone in, never per-customer events.
void summarize_changes();

// Citus (docs/citus.md, "Notifications on Citus"): writes the changes made
// on this node's shards so far into the outbox, where the coordinator's
// session finds them before it commits. The triggers that work on shards
// call it before they return (the end of each statement does too, once the
// library is loaded). Needs SPI.
void flush_shard_notifications();

SEGMENTATION_PG_CONTEXT void register_notify_callbacks();

// The segmentation.notify setting: off skips notifications (bulk loads).
extern bool notify_enabled;
// The segmentation.notify_customer_limit setting.
extern int notify_customer_limit;
// The segmentation.citus_notify_at_commit setting: on a Citus coordinator, a
// transaction that wrote tracked tables takes its changes from the nodes'
// outbox at commit and announces them itself (a query over every shard of the
// outbox at each such commit); off, deliver_notifications() announces them.
extern bool citus_notify_at_commit;

}  // namespace segmentation::glue
