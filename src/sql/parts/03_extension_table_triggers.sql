------------------------------------------------------------------------------
-- Triggers of the extension's own tables
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.segments_before_update()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_segments_before_update'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.segments_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_segments_changed'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER segments_before_update BEFORE UPDATE ON segmentation.segments
    FOR EACH ROW EXECUTE FUNCTION segmentation.segments_before_update();
CREATE TRIGGER segments_inserted AFTER INSERT ON segmentation.segments
    REFERENCING NEW TABLE AS segmentation_new
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();
CREATE TRIGGER segments_updated AFTER UPDATE ON segmentation.segments
    REFERENCING OLD TABLE AS segmentation_old NEW TABLE AS segmentation_new
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();
CREATE TRIGGER segments_deleted AFTER DELETE ON segmentation.segments
    REFERENCING OLD TABLE AS segmentation_old
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();
CREATE TRIGGER segments_truncated AFTER TRUNCATE ON segmentation.segments
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();

-- Every change to segments, whatever session_replication_role says (ENABLE
-- ALWAYS: a replica-mode edit, logical replication's apply), drops the
-- definitions every backend compiled. While these two fire always, an order
-- needs no look at segments to know its compiled definitions are current
-- (segment_cache.cpp). Not SECURITY DEFINER: they only send an invalidation.
CREATE FUNCTION segmentation.segments_touched()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_segments_touched'
LANGUAGE C;

CREATE TRIGGER segments_touched AFTER INSERT OR UPDATE OR DELETE ON segmentation.segments
    FOR EACH ROW EXECUTE FUNCTION segmentation.segments_touched();
CREATE TRIGGER segments_touched_by_truncate AFTER TRUNCATE ON segmentation.segments
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_touched();
ALTER TABLE segmentation.segments ENABLE ALWAYS TRIGGER segments_touched;
ALTER TABLE segmentation.segments ENABLE ALWAYS TRIGGER segments_touched_by_truncate;

CREATE FUNCTION segmentation.sync_key_type()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_sync_key_type'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER tracked_tables_changed AFTER INSERT OR UPDATE OR DELETE ON segmentation.tracked_tables
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.sync_key_type();

-- Citus: the tasks and calls of segmentation.cluster_tasks and cluster_calls
-- (docs/citus.md), run on the node that holds the rows.
CREATE FUNCTION segmentation.cluster_task_run()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_cluster_task_run'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.cluster_call_run()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_cluster_call_run'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER cluster_task_inserted AFTER INSERT ON segmentation.cluster_tasks
    FOR EACH ROW EXECUTE FUNCTION segmentation.cluster_task_run();
CREATE TRIGGER cluster_call_inserted BEFORE INSERT ON segmentation.cluster_calls
    FOR EACH ROW EXECUTE FUNCTION segmentation.cluster_call_run();
