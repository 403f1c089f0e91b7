------------------------------------------------------------------------------
-- Privileges: the service's customers:view and customers:edit
--
-- segmentation_viewer reads segments, membership, metrics and history;
-- segmentation_editor also creates, edits and deletes segments, assigns and
-- removes manual segments and refreshes. PUBLIC gets nothing. The roles are
-- created (NOLOGIN) when missing and never dropped: grant them to the
-- application's login roles. Tracking tables stays with the extension's owner.
------------------------------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'segmentation_viewer') THEN
        CREATE ROLE segmentation_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'segmentation_editor') THEN
        CREATE ROLE segmentation_editor NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('segmentation_editor', 'segmentation_viewer', 'MEMBER') THEN
        GRANT segmentation_viewer TO segmentation_editor;
    END IF;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA segmentation FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA segmentation FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA segmentation FROM PUBLIC;

GRANT USAGE ON SCHEMA segmentation TO segmentation_viewer;
GRANT SELECT ON segmentation.segments, segmentation.assignments, segmentation.assignment_log,
                segmentation.customer_metrics, segmentation.tracked_tables TO segmentation_viewer;
GRANT SELECT ON segmentation.overrides TO segmentation_viewer;
-- Citus: a session announces its own changes at commit through its own
-- connections, so as its own role (docs/citus.md, "Notifications on Citus").
GRANT SELECT, DELETE ON segmentation.notification_outbox TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.check_criteria(jsonb),
    segmentation.get_all_segments(),
    segmentation.segment_match(segmentation.customer_metrics, jsonb, timestamptz),
    -- The private planner-only helpers (parts/06): segment_match_support
    -- rewrites a viewer's segment_match(m, criteria) into calls of them, and
    -- the executor checks EXECUTE on those calls with the caller's rights, so
    -- without this grant a viewer's query over customer_metrics fails with
    -- "permission denied for function frequency_at_least" (checked). Granted, not API.
    segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, timestamptz),
    segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, tid, xid,
                                    timestamptz),
    segmentation.elapsed_at_least(timestamptz, timestamptz, bigint),
    segmentation.elapsed_at_most(timestamptz, timestamptz, bigint),
    segmentation.frequency_at_least(bigint, timestamptz, timestamptz, numeric),
    segmentation.frequency_at_most(bigint, timestamptz, timestamptz, numeric),
    -- (The public API again.)
    segmentation.segment_match(text, jsonb, timestamptz),
    segmentation.segment_match(bigint, jsonb, timestamptz),
    segmentation.segment_match(uuid, jsonb, timestamptz),
    segmentation.calculate_automatic_segments(text, timestamptz),
    segmentation.calculate_automatic_segments(bigint, timestamptz),
    segmentation.calculate_automatic_segments(uuid, timestamptz),
    segmentation.customer_segments(text),
    segmentation.customer_segments(bigint),
    segmentation.customer_segments(uuid),
    segmentation.next_change_at(segmentation.customer_metrics, timestamptz),
    segmentation.segment_match(record, jsonb, timestamptz),
    segmentation.next_change_at(record, timestamptz),
    segmentation.metrics_distributed(),
    segmentation.member_counts(bigint, timestamptz, timestamptz, interval),
    segmentation.verify(timestamptz),
    segmentation.segment_sizes(bigint[]),
    segmentation.segment_members(bigint, text, integer),
    segmentation.segment_members(bigint, bigint, integer),
    segmentation.segment_members(bigint, uuid, integer),
    segmentation.preview(jsonb, timestamptz, integer),
    segmentation.preview_change(bigint, jsonb, timestamptz, integer),
    segmentation.explain_match(text, jsonb, timestamptz),
    segmentation.explain_match(bigint, jsonb, timestamptz),
    segmentation.explain_match(uuid, jsonb, timestamptz),
    segmentation.explain_match(text, bigint, timestamptz),
    segmentation.explain_match(bigint, bigint, timestamptz),
    segmentation.explain_match(uuid, bigint, timestamptz)
TO segmentation_viewer;

GRANT INSERT, UPDATE, DELETE ON segmentation.segments TO segmentation_editor;
GRANT EXECUTE ON FUNCTION
    segmentation.create_segment(text, jsonb, boolean, text),
    segmentation.update_segment(bigint, text, jsonb, text),
    segmentation.delete_segment(bigint),
    segmentation.assign_automatic_segments(text),
    segmentation.assign_automatic_segments(bigint),
    segmentation.assign_automatic_segments(uuid),
    segmentation.assign_manual_segment(text, bigint),
    segmentation.assign_manual_segment(bigint, bigint),
    segmentation.assign_manual_segment(uuid, bigint),
    segmentation.remove_manual_segment(text, bigint, text),
    segmentation.remove_manual_segment(bigint, bigint, text),
    segmentation.remove_manual_segment(uuid, bigint, text),
    segmentation.include_customer(text, bigint, text),
    segmentation.include_customer(bigint, bigint, text),
    segmentation.include_customer(uuid, bigint, text),
    segmentation.exclude_customer(text, bigint, text),
    segmentation.exclude_customer(bigint, bigint, text),
    segmentation.exclude_customer(uuid, bigint, text),
    segmentation.remove_override(text, bigint, text),
    segmentation.remove_override(bigint, bigint, text),
    segmentation.remove_override(uuid, bigint, text),
    segmentation.refresh_all(),
    segmentation.refresh_due(timestamptz),
    segmentation.deliver_notifications(),
    segmentation.schedule_refresh(text),
    segmentation.unschedule_refresh(),
    segmentation.segment_change_step(bigint, text),
    segmentation.start_segment_change(text, bigint, text, jsonb, text),
    segmentation.complete_segment_change(bigint)
TO segmentation_editor;
GRANT EXECUTE ON PROCEDURE
    segmentation.finish_segment_change(bigint),
    segmentation.create_segment_concurrently(text, jsonb, text, bigint),
    segmentation.update_segment_concurrently(bigint, jsonb),
    segmentation.delete_segment_concurrently(bigint)
TO segmentation_editor;
