------------------------------------------------------------------------------
-- Tracked tables cannot be changed from under the extension: dropping a
-- tracked table, column or trigger, or renaming, retyping or disabling one,
-- making the table unlogged or giving it an inheritance parent or child
-- (hence CREATE TABLE ... INHERITS), or renaming a value of the tracked
-- loyalty enum, is refused until the table is untracked.
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.guard_tracked_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'segmentation_guard_tracked_drop'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.guard_tracked_alter()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'segmentation_guard_tracked_alter'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE EVENT TRIGGER segmentation_guard_tracked_drop ON sql_drop
    EXECUTE FUNCTION segmentation.guard_tracked_drop();

CREATE EVENT TRIGGER segmentation_guard_tracked_alter ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER', 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE',
                 'ALTER TYPE')
    EXECUTE FUNCTION segmentation.guard_tracked_alter();

-- Citus is not supported yet: making a tracked table a Citus table copies
-- its tracking triggers to shards (CREATE TRIGGER there), which is refused.
CREATE FUNCTION segmentation.guard_tracking_trigger_copies()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'segmentation_guard_tracking_trigger_copies'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE EVENT TRIGGER segmentation_guard_tracking_trigger_copies ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION segmentation.guard_tracking_trigger_copies();
