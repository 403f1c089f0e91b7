------------------------------------------------------------------------------
-- Refreshing
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.refresh_all(OUT customers bigint, OUT added bigint, OUT removed bigint)
AS 'MODULE_PATHNAME', 'segmentation_refresh_all'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.refresh_due(as_of timestamptz DEFAULT pg_catalog.now(),
                                         OUT customers bigint, OUT added bigint, OUT removed bigint)
AS 'MODULE_PATHNAME', 'segmentation_refresh_due'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Citus: sends the notifications of changes no session announced at its
-- commit (writes made straight on a worker, sessions without the library).
CREATE FUNCTION segmentation.deliver_notifications()
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_deliver_notifications'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
